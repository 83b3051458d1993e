"""DataLoader(num_workers=N): real worker processes, as PyTorch's.

Order, per-worker seeding, errors raised in the main process, dead and
slow workers, shared-memory batches, no leaked processes, torch tensors in
collate, and fork safety with ember's OpenMP threads."""

import gc
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import ember
from ember.utils import data
from ember.utils.data import get_worker_info

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="worker processes are tested on Linux")

# Subprocesses import the ember this test imported (the source tree's or the installed one).
PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(ember.__file__)))


class Mixed(data.Dataset):
    """Samples of every collatable kind."""

    def __init__(self, n=21):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": ember.full((2, 3), float(i)), "a": np.arange(4) + i, "i": i, "name": f"s{i}"}


class Reporting(data.Dataset):
    """Each sample says which process and worker made it, and draws random numbers."""

    def __init__(self, n=16):
        self.n = n
        self.tag = None

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        info = get_worker_info()
        return {"i": i, "pid": os.getpid(), "worker": -1 if info is None else info.id,
                "seed": -1 if info is None else info.seed, "tag": self.tag or "",
                "ember": float(ember.rand(1).item()), "random": random.random(), "numpy": float(np.random.rand())}


class Failing(data.Dataset):
    def __init__(self, bad, exc=ValueError):
        self.bad, self.exc = bad, exc

    def __len__(self):
        return 16

    def __getitem__(self, i):
        if i == self.bad:
            raise self.exc(f"boom at {i}")
        return i


class SelfKilling(data.Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, i):
        if i == 6 and get_worker_info() is not None:  # never the test process itself
            os.kill(os.getpid(), signal.SIGKILL)
        return i


class Slow(data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if get_worker_info() is not None:
            time.sleep(3)
        return i


def _gone(pid):
    return not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def _wait_gone(pids, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(_gone(p) for p in pids):
        time.sleep(0.05)
    return all(_gone(p) for p in pids)


def _assert_same(batch_a, batch_b):
    assert batch_a.keys() == batch_b.keys()
    for key in batch_a:
        a, b = batch_a[key], batch_b[key]
        if isinstance(a, ember.Tensor):
            assert a.dtype == b.dtype and a.tolist() == b.tolist()
        else:
            assert a == b


@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_equal_single_process(shuffle):
    ember.manual_seed(3)
    single = list(data.DataLoader(Mixed(), batch_size=4, shuffle=shuffle))
    ember.manual_seed(3)
    multi = list(data.DataLoader(Mixed(), batch_size=4, shuffle=shuffle, num_workers=2))
    assert len(multi) == len(single) == 6
    for a, b in zip(single, multi):
        _assert_same(a, b)
    assert multi[0]["a"].dtype == ember.int64 and tuple(multi[0]["x"].shape) == (4, 2, 3)
    assert multi[-1]["name"] == ["s20"] if not shuffle else True


def test_tensor_dataset_sampler_and_unbatched():
    X, y = ember.arange(40.0).reshape(20, 2), ember.arange(20)
    ds = data.TensorDataset(X, y)
    for kwargs in ({"batch_size": 6}, {"batch_size": 6, "drop_last": True}, {"sampler": list(range(19, -1, -2))},
                   {"batch_sampler": [[0, 5], [3], [19, 18, 17]]}):
        single = [[t.tolist() for t in b] for b in data.DataLoader(ds, **kwargs)]
        multi = [[t.tolist() for t in b] for b in data.DataLoader(ds, num_workers=2, **kwargs)]
        assert single == multi
    unbatched = list(data.DataLoader(Mixed(5), batch_size=None, num_workers=2))
    assert [s["i"] for s in unbatched] == list(range(5)) and unbatched[2]["x"].tolist() == [[2.0] * 3] * 2
    collated = list(data.DataLoader(Mixed(5), batch_size=2, num_workers=2, collate_fn=lambda b: [s["i"] for s in b]))
    assert collated == [[0, 1], [2, 3], [4]]


def test_in_order_false_delivers_everything():
    loader = data.DataLoader(Mixed(30), batch_size=3, num_workers=2, in_order=False)
    assert sorted(i for b in loader for i in b["i"].tolist()) == list(range(30))


def test_each_worker_seeded_and_reproducible():
    def run(seed):
        ember.manual_seed(seed)
        return [s for b in data.DataLoader(Reporting(), batch_size=2, num_workers=2) for s in
                [dict(zip(b, v)) for v in zip(*[b[k].tolist() if isinstance(b[k], ember.Tensor) else b[k] for k in b])]]

    first, again, other = run(0), run(0), run(1)
    assert {s["worker"] for s in first} == {0, 1}
    assert len({s["pid"] for s in first} - {os.getpid()}) == 2
    seeds = {s["worker"]: s["seed"] for s in first}
    assert seeds[1] == seeds[0] + 1
    for kind in ("ember", "random", "numpy"):
        values = [s[kind] for s in first]
        assert len(set(values)) == len(values), kind  # workers draw different numbers
        assert values == [s[kind] for s in again], kind  # and the same ones for the same seed
        assert values != [s[kind] for s in other], kind


def _tag_worker(worker_id):
    info = get_worker_info()
    assert info.id == worker_id and info.num_workers == 2
    info.dataset.tag = f"init{worker_id}"


def test_worker_init_fn_and_worker_info():
    assert get_worker_info() is None
    batches = list(data.DataLoader(Reporting(8), batch_size=2, num_workers=2, worker_init_fn=_tag_worker))
    assert [b["tag"] for b in batches] == [["init0"] * 2, ["init1"] * 2] * 2


def test_worker_exception_reraised_with_traceback():
    loader = data.DataLoader(Failing(5), batch_size=4, num_workers=2)
    it = iter(loader)
    assert next(it).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError) as info:
        next(it)
    message = str(info.value)
    assert "Caught ValueError in DataLoader worker process 1" in message
    assert "Traceback (most recent call last)" in message and "boom at 5" in message
    assert 'raise self.exc(f"boom at {i}")' in message  # the original traceback's source line
    assert next(it).tolist() == [8, 9, 10, 11]  # the loader carries on, as PyTorch's
    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process 0"):
        list(data.DataLoader(Failing(1, KeyError), batch_size=4, num_workers=2))


def test_unpicklable_exception_type_and_init_error():
    class Local(Exception):
        pass

    with pytest.raises(RuntimeError, match="Caught Local in DataLoader worker process 0"):
        list(data.DataLoader(Failing(0, Local), batch_size=4, num_workers=2))

    def bad_init(worker_id):
        raise OSError(f"no device for worker {worker_id}")

    with pytest.raises(OSError, match="no device for worker 0"):
        list(data.DataLoader(Mixed(4), batch_size=2, num_workers=2, worker_init_fn=bad_init))


def test_killed_worker_raises_instead_of_hanging():
    it = iter(data.DataLoader(SelfKilling(), batch_size=2, num_workers=2, timeout=60))
    processes = [w.process for w in it._workers]
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader worker 1 \(pid \d+\) exited unexpectedly: it was killed "
                                           r"by SIGKILL"):
        for _ in it:
            pass
    assert time.monotonic() - start < 30
    assert not any(p.is_alive() for p in processes)  # the surviving worker was ended too
    with pytest.raises(RuntimeError, match="workers have ended"):
        next(it)


def test_persistent_workers_replaced_after_a_death():
    loader = data.DataLoader(SelfKilling(), batch_size=2, num_workers=2, persistent_workers=True)
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        list(loader)
    with pytest.raises(RuntimeError, match="exited unexpectedly"):  # fresh workers, the same fate at index 6
        list(loader)


def test_timeout():
    it = iter(data.DataLoader(Slow(), batch_size=2, num_workers=2, timeout=0.3))
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.3 seconds"):
        next(it)
    assert time.monotonic() - start < 2.5


def test_workers_end_when_exhausted_or_collected():
    pids = {s for b in data.DataLoader(Reporting(8), batch_size=2, num_workers=2) for s in b["pid"].tolist()}
    assert len(pids) == 2 and _wait_gone(pids)
    it = iter(data.DataLoader(Reporting(40), batch_size=2, num_workers=2))
    pids = set(next(it)["pid"].tolist()) | set(next(it)["pid"].tolist())
    assert not any(_gone(p) for p in pids)
    del it
    gc.collect()
    assert _wait_gone(pids)


def test_workers_end_at_interpreter_exit():
    script = textwrap.dedent("""
        import os, sys
        import ember
        from ember.utils import data
        class DS(data.Dataset):
            def __len__(self): return 100
            def __getitem__(self, i): return os.getpid()
        it = iter(data.DataLoader(DS(), batch_size=2, num_workers=2))
        print(*sorted(set(next(it).tolist()) | set(next(it).tolist())), flush=True)
        # leaves without ending the iterator
    """)
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2 and _wait_gone(pids)


def test_workers_end_when_the_main_process_is_killed():
    script = textwrap.dedent("""
        import os, signal
        import ember
        from ember.utils import data
        class DS(data.Dataset):
            def __len__(self): return 100
            def __getitem__(self, i): return os.getpid()
        it = iter(data.DataLoader(DS(), batch_size=2, num_workers=2))
        print(*sorted(set(next(it).tolist()) | set(next(it).tolist())), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind
    """)
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == -signal.SIGKILL
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2 and _wait_gone(pids, seconds=15)  # orphans notice within a second or two


def _mapping_of(address, field="name"):
    """The name (or inode) of the mapping of this process that holds ``address``."""
    with open("/proc/self/maps") as f:
        for line in f:
            span, _, _, _, inode, *name = line.split()
            lo, hi = (int(v, 16) for v in span.split("-"))
            if lo <= address < hi:
                return " ".join(name) if field == "name" else int(inode)
    return None


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="memfd batches are Linux's")
def test_batches_arrive_in_shared_memory():
    batch = next(iter(data.DataLoader(Mixed(8), batch_size=4, num_workers=2)))
    for key in ("x", "a", "i"):
        assert "memfd:ember-dataloader-batch" in _mapping_of(batch[key].data_ptr())
    batch["x"].add_(1)  # writable, and private to this process
    assert batch["x"][0].tolist() == [[1.0] * 3] * 2


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="memfd batches are Linux's")
def test_shared_memory_is_recycled():
    files, kept = set(), []
    for i, batch in enumerate(data.DataLoader(Mixed(800), batch_size=4, num_workers=2)):
        files.add(_mapping_of(batch["x"].data_ptr(), field="inode"))
        assert batch["x"][:, 0, 0].tolist() == [float(4 * i + k) for k in range(4)]
        if i % 50 == 0:
            kept.append(batch)  # batches the program keeps are never overwritten
        del batch
    # 200 batches; without recycling each would have a file of its own. In
    # circulation: per worker a few batches (3 files each) in flight or not
    # yet reported free, and the kept ones.
    assert len(files) <= 40
    for j, batch in enumerate(kept):
        assert batch["x"][:, 0, 0].tolist() == [float(200 * j + k) for k in range(4)]


def test_persistent_workers_survive_epochs_and_early_breaks():
    loader = data.DataLoader(Reporting(12), batch_size=2, num_workers=2, persistent_workers=True)
    first = [b["i"].tolist() for b in loader]
    pids = {p for b in loader for p in b["pid"].tolist()}
    it = iter(loader)
    next(it)  # break early: the batches in flight are dropped at the next epoch
    again = [b["i"].tolist() for b in loader]
    assert first == again == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]
    assert {p for b in loader for p in b["pid"].tolist()} == pids
    del loader, it
    gc.collect()
    assert _wait_gone(pids)


def test_spawn_context_with_tensor_dataset():
    ds = data.TensorDataset(ember.arange(12.0).reshape(6, 2), ember.arange(6))
    batches = list(data.DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context="spawn"))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5]]
    assert batches[1][0].tolist() == [[8.0, 9.0], [10.0, 11.0]]


def test_torch_tensors_collate_to_ember():
    torch = pytest.importorskip("torch")

    class TorchData(data.Dataset):  # what a torchvision dataset with ToTensor() gives
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return torch.full((1, 2, 2), i / 10, requires_grad=False), i

    for workers in (0, 2):
        x, y = next(iter(data.DataLoader(TorchData(), batch_size=4, num_workers=workers)))
        assert isinstance(x, ember.Tensor) and x.dtype == ember.float32 and tuple(x.shape) == (4, 1, 2, 2)
        np.testing.assert_array_equal(x.numpy(), torch.stack([TorchData()[i][0] for i in range(4)]).numpy())
        assert y.dtype == ember.int64 and y.tolist() == [0, 1, 2, 3]
    bf16 = data.default_collate([torch.ones(2, dtype=torch.bfloat16), torch.zeros(2, dtype=torch.bfloat16)])
    assert bf16.dtype == ember.bfloat16 and bf16.tolist() == [[1.0, 1.0], [0.0, 0.0]]


def test_collate_numpy_and_pil_like_pytorch():
    torch = pytest.importorskip("torch")
    Image = pytest.importorskip("PIL.Image")
    arrays = [np.full((2, 2), i, np.float32) for i in range(3)]
    out = data.default_collate(arrays)
    assert out.dtype == ember.float32 and out.tolist() == torch.utils.data.default_collate(arrays).tolist()
    images = [Image.new("L", (2, 2)) for _ in range(2)]
    with pytest.raises(TypeError) as ours:
        data.default_collate(images)
    with pytest.raises(TypeError) as theirs:
        torch.utils.data.default_collate(images)
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(TypeError, match="found <U1"):
        data.default_collate([np.array(["a"]), np.array(["b"])])


def test_argument_errors_as_pytorch():
    ds = Mixed(4)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        data.DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="timeout option should be non-negative"):
        data.DataLoader(ds, num_workers=2, timeout=-1)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified in multiprocessing"):
        data.DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="prefetch_factor"):
        data.DataLoader(ds, num_workers=2, prefetch_factor=0)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        data.DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="multiprocessing_context option should specify a valid start method"):
        data.DataLoader(ds, num_workers=2, multiprocessing_context="thread")
    with pytest.raises(ValueError, match="multiprocessing_context can only be used with multi-process loading"):
        data.DataLoader(ds, multiprocessing_context="fork")
    with pytest.raises(TypeError, match="num_workers"):
        data.DataLoader(ds, num_workers=2.0)
    with pytest.warns(UserWarning, match="worker processes in total"):
        data.DataLoader(ds, num_workers=(os.cpu_count() or 1) + 1)


def test_prefetch_factor_bounds_tasks_in_flight():
    it = iter(data.DataLoader(Mixed(40), batch_size=1, num_workers=2, prefetch_factor=3))
    assert it._tasks_in_flight == 6 and len(it) == 40
    next(it)
    assert it._tasks_in_flight == 6


# --- fork safety with ember's OpenMP threads -------------------------------

_FORK_PRELUDE = """
import os
os.environ["EMBER_IGNORE_LOAD"] = "1"  # threads even on a busy machine, so the parent starts OpenMP's pool
import numpy as np
import ember
ember.set_num_threads(2)
a = ember.rand(512, 512)
(a @ a).sum()                       # the GEMM's team
(ember.rand(1 << 21) * 2 + 1).sum()  # an elementwise team
"""


def _run(script, timeout=90):
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_forked_child_runs_large_ops():
    out = _run(_FORK_PRELUDE + """
pid = os.fork()
if pid == 0:
    code = 0
    try:
        c = ember.rand(512, 512)
        (c @ c).sum()
        (ember.rand(1 << 21) * 3).exp().sum()
        assert ember.get_num_threads() == 1
        ember.set_num_threads(1)
        try:
            ember.set_num_threads(2)
            code = 3
        except RuntimeError as e:
            code = 0 if "forked process" in str(e) else 4
    except BaseException:
        code = 2
    os._exit(code)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status))
""", timeout=60)
    assert out.returncode == 0 and "child 0" in out.stdout, out.stdout + out.stderr


def test_dataloader_workers_with_resize_224_and_large_ops():
    out = _run(_FORK_PRELUDE + """
from ember.utils import data
from ember.vision import transforms as T
from PIL import Image

class Images(data.Dataset):
    def __len__(self): return 8
    def __getitem__(self, i):
        return Image.fromarray(np.full((28, 28), i * 20, np.uint8)), i

def heavy(x):
    m = ember.rand(256, 256)
    return x + (m @ m).sum() * 0 + (ember.rand(1 << 20) * 0).sum()

ds = Images()
ds.transform = T.Compose([T.Resize(224), T.ToTensor(), T.Lambda(heavy)])
class Wrapped(data.Dataset):
    def __len__(self): return len(ds)
    def __getitem__(self, i):
        img, y = ds[i]
        return ds.transform(img), y
shapes = [tuple(x.shape) for x, y in data.DataLoader(Wrapped(), batch_size=4, num_workers=2)]
tensors = ember.from_numpy(np.full((1, 28, 28), 7, np.uint8))
print(shapes, tuple(T.Resize(224)(tensors).shape))
""", timeout=90)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[(4, 1, 224, 224), (4, 1, 224, 224)] (1, 224, 224)" in out.stdout


def test_default_convert_like_pytorch_for_unbatched_samples():
    torch = pytest.importorskip("torch")
    import collections

    Point = collections.namedtuple("Point", "a b")
    samples = [np.arange(3), (np.arange(2), 3, "x"), {"k": np.float32(2.5), "l": [np.zeros(2)]},
               Point(np.ones(1), "q"), np.array(["a"]), 5, "text"]
    for sample in samples:
        ours, theirs = data.default_convert(sample), torch.utils.data.default_convert(sample)
        assert type(ours).__name__ == type(theirs).__name__
        assert repr(ours).replace("ember", "torch") == repr(theirs)

    class Arrays(data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return np.full(2, i), i

    for workers in (0, 2):
        out = list(data.DataLoader(Arrays(), batch_size=None, num_workers=workers))
        assert [(x.tolist(), y) for x, y in out] == [([0, 0], 0), ([1, 1], 1), ([2, 2], 2)]
        assert isinstance(out[0], list) and isinstance(out[0][0], ember.Tensor)
