"""ember.distributed in one process: the sampler against PyTorch's, the
API's errors, and a one-rank MPI group (no launcher needed)."""
import datetime

import pytest

import ember
import ember.distributed as dist
from ember.utils.data import DistributedSampler

torch = pytest.importorskip("torch")
from torch.utils.data.distributed import DistributedSampler as TorchSampler  # noqa: E402


@pytest.mark.parametrize("n", [0, 1, 5, 10, 11, 23])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_matches_pytorch_without_shuffle(n, replicas, drop_last):
    data = list(range(n))
    if n == 0 and not drop_last:
        pytest.skip("PyTorch divides by zero padding an empty dataset")
    for rank in range(replicas):
        ours = DistributedSampler(data, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(data, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)


@pytest.mark.parametrize("n, replicas", [(10, 3), (7, 4), (2, 5)])
def test_sampler_shuffle_covers_pads_and_changes_with_epoch(n, replicas):
    def shares(epoch, seed=0):
        out = []
        for r in range(replicas):
            s = DistributedSampler(range(n), num_replicas=replicas, rank=r, seed=seed)
            s.set_epoch(epoch)
            out.append(list(s))
        return out

    first = shares(0)
    flat = [i for share in first for i in share]
    assert set(flat) == set(range(n))
    assert len({len(s) for s in first}) == 1  # equal shares (padded)
    assert len(flat) == len(TorchSampler(range(n), num_replicas=replicas, rank=0)) * replicas
    assert shares(0) == first  # deterministic
    assert shares(1) != first or n <= 2
    assert shares(0, seed=5) != first or n <= 2


def test_sampler_errors():
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        DistributedSampler(range(4), num_replicas=3, rank=3)
    with pytest.raises(ValueError, match="num_replicas must be positive"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(TypeError, match="rank must be an int"):
        DistributedSampler(range(4), num_replicas=2, rank="0")
    with pytest.raises(RuntimeError, match="Requires distributed package to be available"):
        DistributedSampler(range(4))


def test_api_before_init_raises():
    assert dist.is_available() and not dist.is_initialized()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_rank()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.all_reduce(ember.ones(2))
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        ember.nn.parallel.DistributedDataParallel(ember.nn.Linear(2, 2))


def test_init_argument_errors(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ValueError, match="Invalid backend: 'tcp'"):
        dist.init_process_group("tcp")
    with pytest.raises(TypeError, match="timeout must be a datetime.timedelta"):
        dist.init_process_group("gloo", timeout="soon")
    monkeypatch.setenv("EMBER_DISTRIBUTED_TIMEOUT", "-1")
    with pytest.raises(ValueError, match="deadline must be positive"):
        dist.init_process_group("gloo")
    monkeypatch.setenv("EMBER_DISTRIBUTED_TIMEOUT", "abc")
    with pytest.raises(ValueError, match="EMBER_DISTRIBUTED_TIMEOUT='abc' is not a number"):
        dist.init_process_group("gloo")
    assert not dist.is_initialized()


@pytest.fixture
def one_rank(monkeypatch):
    if not dist.is_mpi_available():
        pytest.skip("mpi4py or its MPI library is missing")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    yield
    dist.destroy_process_group()


def test_one_rank_group_and_argument_checks(one_rank):
    assert dist.get_rank() == 0 and dist.get_world_size() == 1 and dist.get_backend() == "gloo"
    with pytest.raises(RuntimeError, match="initialize the default process group twice"):
        dist.init_process_group("gloo")
    t = ember.arange(6.).reshape(2, 3).t()  # non-contiguous
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    assert t.tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    with pytest.raises(TypeError, match="tensor must be an ember.Tensor, got list"):
        dist.all_reduce([1, 2])
    with pytest.raises(TypeError, match="op must be an ember.distributed.ReduceOp"):
        dist.all_reduce(ember.ones(2), op="sum")
    with pytest.raises(TypeError, match="ReduceOp.AVG needs a floating-point tensor, got int64"):
        dist.all_reduce(ember.ones(2, dtype=ember.int64), op=dist.ReduceOp.AVG)
    with pytest.raises(ValueError, match=r"src=1 is not a rank of the group \(ranks \[0\]\)"):
        dist.broadcast(ember.ones(2), src=1)
    with pytest.raises(ValueError, match=r"tensor_list must hold one tensor per rank \(1\), got 2"):
        dist.all_gather([ember.ones(2), ember.ones(2)], ember.ones(2))
    with pytest.raises(ValueError, match=r"tensor_list\[0\] is a float32 tensor of shape \[3\]"):
        dist.all_gather([ember.ones(3)], ember.ones(2))
    with pytest.raises(ValueError, match="output_tensor must have world size"):
        dist.all_gather_into_tensor(ember.ones(3), ember.ones(2))
    with pytest.raises(ValueError, match="Invalid destination rank: should not be the same"):
        dist.send(ember.ones(2), 0)
    with pytest.raises(ValueError, match="gather_list is required on the destination rank"):
        dist.gather(ember.ones(2), None, dst=0)
    with pytest.raises(TypeError, match="group must be a ProcessGroup"):
        dist.barrier(group="world")
    work = dist.all_reduce(ember.ones(2), async_op=True)
    assert work.wait(timeout=30) is True and work.is_success()


def test_ddp_constructor_errors(one_rank):
    DDP = ember.nn.parallel.DistributedDataParallel
    with pytest.raises(ValueError, match="device_ids and output_device arguments only work with"):
        DDP(ember.nn.Linear(2, 2), device_ids=[0])
    with pytest.raises(TypeError, match="expects an ember.nn.Module"):
        DDP(lambda x: x)
    with pytest.raises(ValueError, match="bucket_cap_mb must be a positive number"):
        DDP(ember.nn.Linear(2, 2), bucket_cap_mb=0)
    frozen = ember.nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(RuntimeError, match="doesn't have any parameter that requires a gradient"):
        DDP(frozen)
    net = ember.nn.Linear(2, 1)
    ddp = DDP(net)
    ddp(ember.ones(4, 2)).sum().backward()
    assert net.weight.grad.tolist() == [[4.0, 4.0]]
