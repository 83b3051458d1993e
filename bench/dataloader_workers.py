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

The CPU time each item cost, in the main process and in the workers, is
printed too, with the rate it implies on 2 free cores: on a machine whose
cores other processes keep busy (and with the kernel's autogroup, which
gives one session's processes one share), workers cannot gain, and the
CPU cost is what still says whether they would.
"""
import argparse
import gc
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


def measure(dataset, workers, repeats, batch_size=64, loader_class=data.DataLoader):
    """(items/s, CPU seconds per item in this process, in the workers), best pass."""
    best = None
    for _ in range(repeats):
        loader = loader_class(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
        before, cpu_before = time.perf_counter(), os.times()
        count = sum(len(y) for _, y in loader)
        elapsed = time.perf_counter() - before
        cpu_after = os.times()
        del loader
        gc.collect()  # the workers are joined (and their CPU time counted) once the iterator is gone
        children = os.times()
        assert count == len(dataset)
        main_cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
        worker_cpu = ((children.children_user - cpu_before.children_user)
                      + (children.children_system - cpu_before.children_system))
        result = (len(dataset) / elapsed, main_cpu / len(dataset), worker_cpu / len(dataset))
        if best is None or result[0] > best[0]:
            best = result
    return best


def projected_rate(workers, main_cpu, worker_cpu, cores=2):
    """Items/s on `cores` free cores from the CPU each item cost: the main
    process, each worker and all of them together may not exceed a core,
    one core and all cores respectively."""
    if workers == 0:
        return 1 / main_cpu
    return min(1 / main_cpu, workers / worker_cpu, cores / (main_cpu + worker_cpu))


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
            results = {w: measure(ds, w, args.repeats, loader_class=loader_class) for w in (0, 1, 2)}
            rates = {w: r[0] for w, r in results.items()}
            print(f"{name:11s} {library:7s} per item {1000 / rates[0]:.2f} ms | " +
                  " | ".join(f"{w} workers {r:6.0f} items/s" for w, r in rates.items()) +
                  f" | 2 workers / 0: {rates[2] / rates[0]:.2f}x", flush=True)
            cpu = " | ".join(f"{w} workers: main {1e3 * m:.3f}, workers {1e3 * c:.3f}"
                             for w, (_, m, c) in results.items())
            projected = projected_rate(2, *results[2][1:]) / projected_rate(0, *results[0][1:])
            print(f"{'':19s} CPU ms per item: {cpu} | projected on 2 free cores, 2 workers / 0: "
                  f"{projected:.2f}x", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
