"""Every public function and Tensor method called with wrong arguments
(None, strings, huge ints, NaN, ragged lists, empty and bool tensors, foreign
objects): each call may raise, none may crash the process. Runs in a
subprocess so that a crash fails the test instead of killing pytest."""
import os
import subprocess
import sys
import textwrap

import ember

SWEEP = textwrap.dedent('''
    import itertools
    import numpy as np
    import ember

    bad = [None, "a", -1, 2**70, 1.5, float("nan"), [], [[1], [2, 3]], (1, -2), ember.tensor([1, 2, 3]),
           ember.tensor(2.0), ember.zeros(0), ember.ones(2, 3), ember.tensor([True, False]), np.zeros((2, 0)),
           {}, object()]
    stateful = {"manual_seed", "seed", "set_printoptions", "save", "load", "set_grad_enabled", "enable_grad",
                "no_grad", "inference_mode", "set_default_device", "set_default_dtype"}
    calls = 0
    for name in sorted(n for n in dir(ember) if not n.startswith("_") and callable(getattr(ember, n))):
        if name in stateful:
            continue
        for args in itertools.chain(((a,) for a in bad), itertools.product(bad[:12], repeat=2)):
            calls += 1
            try:
                getattr(ember, name)(*args)
            except Exception:
                pass
    for name in sorted(m for m in dir(ember.Tensor) if not m.startswith("__")):
        if name in ("backward", "requires_grad_") or not callable(getattr(ember.Tensor, name)):
            continue
        for args in itertools.chain([()], ((a,) for a in bad), itertools.product(bad[:10], repeat=2)):
            calls += 1
            try:
                getattr(ember.randn(3, 4), name)(*args)
            except Exception:
                pass
    for index in bad + [(None, Ellipsis, None), (slice(None, None, -1),), (ember.tensor([5]),),
                        (ember.tensor([[True]]),)]:
        x = ember.randn(3, 4)
        for op in (lambda: x[index], lambda: x.__setitem__(index, 1)):
            calls += 1
            try:
                op()
            except Exception:
                pass
    print("survived", calls)
''')


# Valid tensors of every awkward kind (0-d, empty, non-contiguous, expanded,
# 16-bit, int8, uint8, bool) passed to every function, method and operator.
ODD_TENSORS = textwrap.dedent('''
import ember, itertools
ts = [ember.randn(3, 4), ember.randn(4, 3).t(), ember.tensor(1.5), ember.zeros(0), ember.zeros(2, 0, 3),
      ember.arange(6).reshape(2, 3), ember.tensor([True, False]), ember.randn(2, 3).half(), ember.randn(2, 3).bfloat16(),
      ember.arange(4, dtype=ember.int8), ember.randn(2, 3, 4)[:, ::2], ember.randn(1, 3).expand(4, 3), ember.randn(5).double(),
      ember.arange(3, dtype=ember.uint8)]
extra = [0, 1, -1, 2, 0.5, True, (0, 1), [1, 0]]
stateful = {"manual_seed", "seed", "set_printoptions", "save", "load", "set_grad_enabled", "enable_grad", "no_grad", "inference_mode", "set_default_device", "set_default_dtype"}
calls = 0
for name in sorted(n for n in dir(ember) if not n.startswith("_") and callable(getattr(ember, n))):
    if name in stateful: continue
    f = getattr(ember, name)
    for a in ts:
        for args in [(a,)] + [(a, b) for b in ts] + [(a, e) for e in extra]:
            calls += 1
            try: f(*args)
            except Exception: pass
for m in sorted(m for m in dir(ember.Tensor) if not m.startswith("__")):
    if m in ("backward",) or not callable(getattr(ember.Tensor, m)): continue
    for a in ts:
        for args in [()] + [(b,) for b in ts] + [(e,) for e in extra] + [(e, f) for e in extra[:4] for f in extra[:4]]:
            calls += 1
            try: getattr(ember.Tensor, m)(a.clone() if m.endswith("_") else a, *args)
            except Exception: pass
for a in ts:
    for b in ts:
        for op in ("__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__", "__mod__", "__pow__", "__matmul__", "__and__", "__lt__", "__getitem__", "__setitem__", "__iadd__"):
            calls += 1
            try:
                if op == "__setitem__": a.clone().__setitem__(b, 1)
                else: getattr(a.clone(), op)(b)
            except Exception: pass
print("survived", calls)
''')


def run_sweep(program):
    env = dict(os.environ)
    # The subprocess imports the ember this test imported (the source tree's
    # or the installed one).
    parent = os.path.dirname(os.path.dirname(os.path.abspath(ember.__file__)))
    env["PYTHONPATH"] = parent + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert "survived" in proc.stdout


def test_no_bad_argument_crashes_the_process():
    run_sweep(SWEEP)


def test_no_awkward_tensor_crashes_the_process():
    run_sweep(ODD_TENSORS)
