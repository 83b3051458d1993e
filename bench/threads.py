"""Two Python threads, each training its own D2L MLP (Flatten, Linear(784,
256), ReLU, Linear(256, 10), cross-entropy, SGD lr 0.1, batch 256, on
synthetic Fashion-MNIST-sized data) with ember limited to one kernel thread,
against the same two runs one after the other. Long kernels release the
GIL, so on two free cores the threads should finish in well under the
sequential time (target: sequential / threaded >= 1.5). Also checks that
each threaded run ends with exactly the parameters of its sequential twin.

  PYTHONPATH=python python3 bench/threads.py [--steps 60] [--repeats 3]
"""

import argparse
import os
import statistics
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import ember  # noqa: E402
from ember import nn  # noqa: E402


def make_data(seed, steps, batch=256):
    rs = np.random.RandomState(seed)
    X = rs.randn(steps * batch, 1, 28, 28).astype(np.float32)
    y = rs.randint(0, 10, size=steps * batch).astype(np.int64)
    return [(ember.tensor(X[i * batch:(i + 1) * batch]), ember.tensor(y[i * batch:(i + 1) * batch]))
            for i in range(steps)]


def make_net(seed):
    g = np.random.RandomState(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    with ember.no_grad():
        for p in net.parameters():
            p.copy_(ember.tensor(g.normal(0, 0.01, tuple(p.shape)).astype(np.float32)))
    return net


def train(net, batches):
    loss_fn = nn.CrossEntropyLoss()
    opt = ember.optim.SGD(net.parameters(), lr=0.1)
    for X, y in batches:
        opt.zero_grad()
        loss = loss_fn(net(X), y)
        loss.backward()
        opt.step()
    return [p.detach().numpy().copy() for p in net.parameters()]


def run(steps, threaded):
    nets = [make_net(1), make_net(2)]
    data = [make_data(10, steps), make_data(20, steps)]
    results = [None, None]

    def job(i):
        results[i] = train(nets[i], data[i])

    t0 = time.perf_counter()
    if threaded:
        threads = [threading.Thread(target=job, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        job(0)
        job(1)
    return time.perf_counter() - t0, results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ember.set_num_threads(1)
    run(5, False)  # warm-up
    seq, par = [], []
    ref = None
    for _ in range(args.repeats):
        t, r_seq = run(args.steps, False)
        seq.append(t)
        t, r_par = run(args.steps, True)
        par.append(t)
        for a, b in zip(r_seq, r_par):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x, y)
        ref = r_seq
    assert ref is not None
    s, p = statistics.median(seq), statistics.median(par)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} two D2L MLPs x {args.steps} steps, 1 kernel thread each; "
          f"median of {args.repeats}; load average {os.getloadavg()[0]:.2f}")
    print(f"one after the other  {s * 1e3:8.1f} ms")
    print(f"two threads          {p * 1e3:8.1f} ms")
    print(f"speed-up             {s / p:8.2f}   (target >= 1.5; parameters identical)")


if __name__ == "__main__":
    main()
