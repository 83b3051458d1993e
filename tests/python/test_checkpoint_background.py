"""ember.save(..., background=True): a snapshot now, the durable write on a
thread, a concurrent.futures.Future for the outcome."""

import collections
import concurrent.futures
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import ember

try:
    import safetensors.numpy as st_numpy
except ImportError:  # pragma: no cover
    st_numpy = None


def arr(t):
    return t.detach().cpu().numpy()


def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(ember.__file__)),
                                         env.get("PYTHONPATH", "")])
    return env


def test_returns_a_future_that_completes_after_the_write(tmp_path):
    path = tmp_path / "bg.safetensors"
    sd = {"w": ember.arange(12, dtype=ember.float32).reshape(3, 4), "b": ember.ones(4, dtype=ember.float64)}
    fut = ember.save(sd, path, background=True)
    assert isinstance(fut, concurrent.futures.Future)
    assert fut.result(timeout=60) is None
    assert fut.done() and fut.exception() is None
    out = ember.load(path)
    assert sorted(out) == ["b", "w"]
    np.testing.assert_array_equal(arr(out["w"]), arr(sd["w"]))
    assert out["b"].dtype == ember.float64
    assert not [f for f in os.listdir(tmp_path) if ".ember-tmp-" in f]


@pytest.mark.parametrize("make", [
    lambda: {"w": ember.randn(64, 33), "t": ember.randn(40, 30).t(), "i": ember.arange(7)},  # flat, one strided
    lambda: [ember.randn(5), (ember.zeros(2, dtype=ember.int32), {"k": 1.5, "s": "x", "n": None})],  # a tree
    lambda: collections.OrderedDict(a=ember.randn(6, 6), b=None),
])
def test_file_is_byte_identical_to_a_synchronous_save(tmp_path, make):
    obj = make()
    ember.save(obj, tmp_path / "sync")
    ember.save(obj, tmp_path / "bg", background=True).result(timeout=60)
    assert (tmp_path / "sync").read_bytes() == (tmp_path / "bg").read_bytes()


def test_views_sharing_a_storage_come_back_shared(tmp_path):
    base = ember.randn(8, 8)
    obj = {"base": base, "row": base[2], "col": base[:, 3]}
    ember.save(obj, tmp_path / "v", background=True).result(timeout=60)
    out = ember.load(tmp_path / "v")
    out["base"][2, 3] = 100.0
    assert float(out["row"][3]) == 100.0 and float(out["col"][2]) == 100.0


def test_in_place_changes_after_the_call_never_reach_the_file(tmp_path):
    n = 4 * 1024 * 1024  # 16 MB per tensor: the write is still running when the tensors change
    sd = {f"t{i}": ember.full((n,), 1.0) for i in range(4)}
    fut = ember.save(sd, tmp_path / "snap", background=True)
    for t in sd.values():
        t.add_(1.0)
    fut.result(timeout=120)
    for t in ember.load(tmp_path / "snap").values():
        a = arr(t)
        assert a[0] == 1.0 and a[-1] == 1.0 and np.all(a == 1.0)


def test_dropping_the_tensors_after_the_call_is_safe(tmp_path):
    sd = {"x": ember.randn(1000, 1000)}
    expected = arr(sd["x"]).copy()
    fut = ember.save(sd, tmp_path / "d", background=True)
    del sd
    fut.result(timeout=60)
    np.testing.assert_array_equal(arr(ember.load(tmp_path / "d")["x"]), expected)


def test_errors_are_raised_from_result(tmp_path):
    fut = ember.save({"x": ember.zeros(3)}, tmp_path / "missing" / "x", background=True)
    with pytest.raises(RuntimeError, match="cannot create a temporary file"):
        fut.result(timeout=60)
    assert isinstance(fut.exception(), RuntimeError)


def test_bad_objects_raise_at_the_call(tmp_path):
    with pytest.raises(TypeError, match="cannot save an object of type 'object'"):
        ember.save({"x": object()}, tmp_path / "x", background=True)
    # The failed call leaves nothing pending: a new save of the path works.
    ember.save({"x": ember.ones(1)}, tmp_path / "x", background=True).result(timeout=60)


def test_background_needs_a_path():
    import io
    with pytest.raises(TypeError, match="background=True needs a path"):
        ember.save({"x": ember.zeros(1)}, io.BytesIO(), background=True)


def test_saves_to_one_target_are_serialized(tmp_path):
    path = tmp_path / "seq"
    big = 4 * 1024 * 1024
    futs = [ember.save({"v": ember.full((big,), float(k))}, path, background=True) for k in range(4)]
    for k, f in enumerate(futs):
        f.result(timeout=120)
    assert float(arr(ember.load(path)["v"])[-1]) == 3.0  # the last call wins, never an older one


def test_sync_save_and_load_wait_for_the_pending_save(tmp_path):
    path = tmp_path / "mix"
    fut = ember.save({"v": ember.full((4 * 1024 * 1024,), 1.0)}, path, background=True)
    # A load right after the call sees the new file, not the old one (or none).
    assert float(arr(ember.load(path)["v"])[0]) == 1.0
    assert fut.done()
    fut = ember.save({"v": ember.full((4 * 1024 * 1024,), 2.0)}, path, background=True)
    ember.save({"v": ember.full((3,), 3.0)}, path)  # must land after the background one
    assert fut.done()
    assert arr(ember.load(path)["v"]).tolist() == [3.0, 3.0, 3.0]


def test_many_threads_saving_at_once_match_single_threaded_saves(tmp_path):
    objs = [{"w": ember.randn(50, 20), "k": [ember.arange(k + 1), k]} for k in range(8)]
    for k, o in enumerate(objs):
        ember.save(o, tmp_path / f"ref{k}")
    errors = []

    def worker(k):
        try:
            for rep in range(3):
                ember.save(objs[k], tmp_path / f"sync{k}")
                ember.save(objs[k], tmp_path / f"bg{k}", background=True).result(timeout=60)
                out = ember.load(tmp_path / f"sync{k}")
                np.testing.assert_array_equal(arr(out["w"]), arr(objs[k]["w"]))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    for k in range(8):
        ref = (tmp_path / f"ref{k}").read_bytes()
        assert (tmp_path / f"sync{k}").read_bytes() == ref
        assert (tmp_path / f"bg{k}").read_bytes() == ref


def test_threads_saving_to_one_path_leave_one_whole_file(tmp_path):
    path = tmp_path / "shared"
    n = 256 * 1024

    def worker(v):
        for _ in range(4):
            sd = {"v": ember.full((n,), float(v))}
            if v % 2:
                ember.save(sd, path)
            else:
                ember.save(sd, path, background=True).result(timeout=60)

    threads = [threading.Thread(target=worker, args=(v,)) for v in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    a = arr(ember.load(path)["v"])
    assert a[0] in (1.0, 2.0, 3.0, 4.0) and np.all(a == a[0])
    assert not [f for f in os.listdir(tmp_path) if ".ember-tmp-" in f]


@pytest.mark.skipif(st_numpy is None, reason="safetensors not installed")
def test_safetensors_reads_a_background_save(tmp_path):
    sd = {"a": ember.randn(3, 5), "b": ember.arange(4)}
    ember.save(sd, tmp_path / "s", background=True).result(timeout=60)
    got = st_numpy.load_file(str(tmp_path / "s"))
    np.testing.assert_array_equal(got["a"], arr(sd["a"]))
    np.testing.assert_array_equal(got["b"], arr(sd["b"]))


_EXIT_SAVER = r"""
import sys, ember
path, n = sys.argv[1], int(sys.argv[2])
ember.save({f"layer{i}.weight": ember.full((n,), 7.0) for i in range(4)}, path, background=True)
print("returned", flush=True)
# The interpreter exits here, with the write still running.
"""


def test_pending_saves_finish_before_the_interpreter_exits(tmp_path):
    path = tmp_path / "exit.safetensors"
    script = tmp_path / "exit_saver.py"
    script.write_text(_EXIT_SAVER)
    n = 50 * 1024 * 1024 // 16
    proc = subprocess.run([sys.executable, str(script), str(path), str(n)], capture_output=True, env=child_env(),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.strip() == b"returned"
    out = ember.load(path)
    assert sorted(out) == [f"layer{i}.weight" for i in range(4)]
    for t in out.values():
        assert arr(t)[0] == 7.0 and arr(t)[-1] == 7.0


_BG_SAVER = r"""
import sys, ember
path, n = sys.argv[1], int(sys.argv[2])
sds = [{f"layer{i}.weight": ember.full((n,), float(v)) for i in range(4)} for v in (1, 2)]
print("ready", flush=True)
k = 0
while True:
    fut = ember.save(sds[k % 2], path, background=True)
    sds[k % 2]["layer0.weight"].add_(0.0)  # touch the tensors while the write runs
    if k % 3 == 2:
        fut.result()
    k += 1
"""


def test_sigkill_during_background_saves_leaves_old_or_new(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    n = 50 * 1024 * 1024 // 16  # four float32 tensors: 50 MB
    ember.save({f"layer{i}.weight": ember.full((n,), 1.0) for i in range(4)}, path)
    script = tmp_path / "bg_saver.py"
    script.write_text(_BG_SAVER)
    rng = np.random.default_rng(1)
    for _ in range(10):
        proc = subprocess.Popen([sys.executable, str(script), str(path), str(n)], stdout=subprocess.PIPE,
                                env=child_env())
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.0, 0.8)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        out = ember.load(path)
        assert sorted(out) == [f"layer{i}.weight" for i in range(4)]
        values = {float(arr(t)[0]) for t in out.values()} | {float(arr(t)[-1]) for t in out.values()}
        assert len(values) == 1 and values <= {1.0, 2.0}, "a mix of old and new content"
    ember.save({"x": ember.zeros(1)}, path)
    assert not [f for f in os.listdir(tmp_path) if ".ember-tmp-" in f]
