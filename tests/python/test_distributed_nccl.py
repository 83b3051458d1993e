"""The NCCL engine: the library search and its errors run anywhere; the
one-rank group (no MPI needed) and its stream/allocator safety run where
ember sees a CUDA GPU and libnccl.so.2 loads, and skip elsewhere."""
import os
import subprocess
import sys

import pytest

import ember
import ember.distributed as dist
from ember.distributed.nccl import loader


def test_override_naming_a_missing_file_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv(loader.LIBRARY_ENV, str(tmp_path / "nope.so"))
    with pytest.raises(loader.NcclUnavailableError, match="EMBER_NCCL_LIBRARY=.*does not name a file"):
        loader.find_library()


def test_override_wins_and_a_bad_library_is_named(monkeypatch, tmp_path):
    fake = tmp_path / "libnccl.so.2"
    fake.write_bytes(b"not an ELF file")
    monkeypatch.setenv(loader.LIBRARY_ENV, str(fake))
    assert loader.find_library() == (str(fake), loader.LIBRARY_ENV)
    monkeypatch.setattr(loader, "_loaded", None)
    with pytest.raises(loader.NcclUnavailableError, match="could not load NCCL from EMBER_NCCL_LIBRARY"):
        loader.load()


def test_wheel_layouts_are_searched_in_path_order(tmp_path):
    for root, sub in (("a", ("nvidia", "cu13", "lib")), ("b", ("nvidia", "nccl", "lib"))):
        d = tmp_path.joinpath(root, *sub)
        d.mkdir(parents=True)
        (d / "libnccl.so.2").write_bytes(b"")
    found = loader.wheel_candidates([str(tmp_path / "b"), str(tmp_path / "a"), str(tmp_path / "missing")])
    assert found == [str(tmp_path / "b/nvidia/nccl/lib/libnccl.so.2"), str(tmp_path / "a/nvidia/cu13/lib/libnccl.so.2")]


@pytest.mark.skipif(ember.cuda.is_available(), reason="checks the message shown without a GPU")
def test_nccl_backend_without_gpu_raises_a_clear_error():
    code = ("import ember.distributed as dist\n"
            "try:\n    dist.init_process_group('nccl')\n"
            "except RuntimeError as e:\n    print('ERR', type(e).__name__, e)\n"
            "print('available', dist.is_nccl_available())\n")
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env).stdout
    assert "ERR NcclUnavailableError the nccl backend needs a CUDA GPU" in out
    assert "available False" in out


needs_nccl = pytest.mark.skipif(not dist.is_nccl_available(), reason="needs a CUDA GPU and libnccl.so.2")


@needs_nccl
def test_one_rank_nccl_group_collectives_and_stream_safety():
    # In a subprocess: one process initializes one default group.
    code = r'''
import ember, ember.distributed as dist
dist.init_process_group("nccl")
assert dist.get_backend() == "nccl" and dist.get_world_size() == 1
for dtype in (ember.float32, ember.float16, ember.bfloat16, ember.float64, ember.int64, ember.int16, ember.bool):
    t = ember.ones(1000, dtype=dtype, device="cuda") * 3 if dtype != ember.bool else ember.ones(10, dtype=dtype, device="cuda")
    dist.all_reduce(t)
    assert t.cpu().float().sum().item() == t.numel() * (3 if dtype != ember.bool else 1), dtype
    dist.broadcast(t, 0)
# Allocator safety: launch on the communication stream, drop our reference,
# allocate and overwrite same-sized blocks on the default stream, then check.
x = ember.arange(1 << 22, dtype=ember.float32, device="cuda")
want = x.cpu()
out = ember.zeros(1 << 22, dtype=ember.float32, device="cuda")
work = dist.all_gather_into_tensor(out, x, async_op=True)
del x
junk = [ember.full((1 << 22,), -1.0, device="cuda") for _ in range(4)]
work.wait()
ember.cuda.synchronize()
assert (out.cpu() == want).all().item()
nc = ember.arange(12., device="cuda").reshape(3, 4).t()
dist.all_reduce(nc, op=dist.ReduceOp.MAX)
assert nc.cpu().tolist() == ember.arange(12.).reshape(3, 4).t().tolist()
dist.destroy_process_group()
print("NCCL OK")
'''
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert "NCCL OK" in proc.stdout, proc.stdout + proc.stderr
