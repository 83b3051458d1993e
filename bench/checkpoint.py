"""Checkpoint timings beside the disk's own limit, all in one run.

  python3 bench/checkpoint.py [--mb 100] [--dir FOLDER] [--repeats 3]

Rows (median of --repeats after one warm-up each, same folder, same bytes):
  floor            write the state dict's byte count to a temporary file,
                   fsync, rename over the target, fsync the folder: the
                   cheapest durable replacement of a file this disk allows
  torch.save       PyTorch's save (no fsync: it only reaches the page cache)
  torch.load       PyTorch's load of that file
  ember.save       ember's synchronous, durable save
  ember.load       ember's default load (whole file read, tensors own memory)
  ember.save(background=True)   the time the call blocks (the snapshot);
                   the write finishes on a background thread, awaited
                   before the next sample

The state dict is ten float32 tensors of a tenth of --mb each (random
values, so no filesystem can compress them away).
"""

import argparse
import inspect
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import ember  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


def median_time(fn, repeats, after=None):
    """Median wall time of fn() over `repeats` calls after one warm-up;
    `after` runs untimed after each call (waiting for background work)."""
    r = fn()
    if after:
        after(r)
    times = []
    for _ in range(repeats):
        del r  # each result is dropped before the next call, as in a loop that loads, uses and moves on
        t0 = time.perf_counter()
        r = fn()
        times.append(time.perf_counter() - t0)
        if after:
            after(r)
    return statistics.median(times)


def durable_floor(folder, nbytes):
    """write + fsync + rename + folder fsync of nbytes, as one function."""
    data = np.random.default_rng(1).integers(0, 255, nbytes, dtype=np.uint8).tobytes()
    target = os.path.join(folder, "floor.bin")

    def run():
        tmp = target + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, target)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--dir", default=None, help="folder to write into (default: the temporary folder)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    folder = tempfile.mkdtemp(prefix="ember-ckpt-bench-", dir=args.dir)
    n = args.mb * 1_000_000 // 4 // 10
    rng = np.random.default_rng(0)
    arrays = {f"layer{i}.weight": rng.standard_normal(n).astype(np.float32) for i in range(10)}
    nbytes = sum(a.nbytes for a in arrays.values())
    es = {k: ember.tensor(v) for k, v in arrays.items()}
    rows = []

    rows.append(("floor (write+fsync+rename+folder fsync)", median_time(durable_floor(folder, nbytes), args.repeats)))
    ember_path = os.path.join(folder, "ember.pt")
    rows.append(("ember.save", median_time(lambda: ember.save(es, ember_path), args.repeats)))
    rows.append(("ember.load", median_time(lambda: ember.load(ember_path), args.repeats)))
    bg_path = os.path.join(folder, "ember-bg.pt")
    has_background = "background" in inspect.signature(ember.save).parameters
    if has_background:
        rows.append(("ember.save(background=True) blocks",
                     median_time(lambda: ember.save(es, bg_path, background=True), args.repeats,
                                 after=lambda h: h.result())))
    if torch is not None:
        ts = {k: torch.from_numpy(v) for k, v in arrays.items()}
        torch_path = os.path.join(folder, "torch.pt")
        rows.append(("torch.save (no fsync)", median_time(lambda: torch.save(ts, torch_path), args.repeats)))
        rows.append(("torch.load", median_time(lambda: torch.load(torch_path), args.repeats)))

    figs = dict(rows)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} state dict {nbytes / 1e6:.0f} MB in {folder}; "
          f"median of {args.repeats} after a warm-up; load average {os.getloadavg()[0]:.2f}")
    for name, t in rows:
        print(f"{name:44s} {t * 1e3:9.1f} ms")
    floor = figs["floor (write+fsync+rename+folder fsync)"]
    print(f"ember.save / floor                           {figs['ember.save'] / floor:9.2f}   (target <= 1.2)")
    if torch is not None:
        print(f"torch.load / ember.load                      {figs['torch.load'] / figs['ember.load']:9.2f}   "
              "(target >= 2)")
    if torch is not None and has_background:
        print(f"background block / torch.save                "
              f"{figs['ember.save(background=True) blocks'] / figs['torch.save (no fsync)']:9.2f}   (target <= 0.3)")
    for name in os.listdir(folder):
        os.unlink(os.path.join(folder, name))
    os.rmdir(folder)


if __name__ == "__main__":
    main()
