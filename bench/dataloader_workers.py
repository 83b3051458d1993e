"""DataLoader throughput with worker processes: items/s for num_workers 0, 1, 2.

Run: PYTHONPATH=python python bench/dataloader_workers.py [--items 1500] [--repeats 3]

Two workloads, batch 64:
- "cpu 1 ms": a transform that spends 1 ms of CPU time per item (measured
  with the thread's CPU clock, so a worker without a core cannot fake it);
- "d2l resize": D2L's Fashion-MNIST pipeline on 28x28 PIL images,
  Resize(224) then ToTensor (needs Pillow).
Issue 12's target: with about 1 ms per item, 2 workers deliver at least
1.6x the items/s of num_workers=0. Best of `repeats` passes per setting;
worker start-up is included (a fresh iterator per pass, as one epoch).
With PyTorch installed, its DataLoader runs the same workloads (the
transform's output as a torch tensor) for comparison on the same machine.
"""
import argparse
import os
import platform
import time

import numpy as np

import ember
from ember.utils import data


def spin_cpu(seconds):
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        pass


class Synthetic(data.Dataset):
    def __init__(self, n, transform):
        self.images = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), i % 10


def cpu_1ms(image):
    spin_cpu(0.001)
    return ember.from_numpy(image.astype(np.float32) / 255)


def d2l_resize():
    from PIL import Image

    from ember.vision import transforms as T

    pipeline = T.Compose([T.Resize(224), T.ToTensor()])
    return lambda image: pipeline(Image.fromarray(image))


class AsTorch:
    """The same dataset, its images as torch tensors (for PyTorch's loader)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        import torch

        x, y = self.dataset[i]
        return torch.from_numpy(x.numpy()), y


def items_per_second(dataset, workers, repeats, batch_size=64, loader_class=data.DataLoader):
    best = float("inf")
    for _ in range(repeats):
        loader = loader_class(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
        start = time.perf_counter()
        count = sum(len(y) for _, y in loader)
        best = min(best, time.perf_counter() - start)
        assert count == len(dataset)
    return len(dataset) / best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    workloads = [("cpu 1 ms", cpu_1ms)]
    try:
        workloads.append(("d2l resize", d2l_resize()))
    except ImportError:
        print("Pillow is not installed: the d2l resize row is skipped")
    try:
        import torch
        import torch.utils.data
    except ImportError:
        torch = None
    for name, transform in workloads:
        dataset = Synthetic(args.items, transform)
        runs = [("ember", dataset, data.DataLoader)]
        if torch is not None:
            runs.append(("PyTorch", AsTorch(dataset), torch.utils.data.DataLoader))
        for library, ds, loader_class in runs:
            rates = {w: items_per_second(ds, w, args.repeats, loader_class=loader_class) for w in (0, 1, 2)}
            print(f"{name:11s} {library:7s} per item {1000 / rates[0]:.2f} ms | " +
                  " | ".join(f"{w} workers {r:6.0f} items/s" for w, r in rates.items()) +
                  f" | 2 workers / 0: {rates[2] / rates[0]:.2f}x", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
