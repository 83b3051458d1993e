"""Creating and tearing down process groups, and what a rank knows about
itself (torch.distributed's init_process_group, get_rank, new_group...)."""
from . import _collectives as C
from . import _env, _failure, _job_status

_BACKENDS = {"mpi": "mpi", "gloo": "mpi", "nccl": "nccl"}


def is_available():
    """True: ember.distributed is always importable (the engines load at
    init_process_group; see is_mpi_available / is_nccl_available)."""
    return True


def is_mpi_available():
    from .mpi import mpi_available
    return mpi_available()


def is_gloo_available():
    """'gloo' runs on MPI in ember."""
    return is_mpi_available()


def is_nccl_available():
    from .nccl import nccl_available
    return nccl_available()


def is_initialized():
    return C._default is not None


def _parse_backend(backend):
    if backend is None:
        return "mpi"
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, got {type(backend).__name__}")
    name = backend.lower()
    if "," in name or ":" in name:  # PyTorch's "cpu:gloo,cuda:nccl": the device map picks one engine here
        parts = dict(p.split(":", 1) for p in name.split(",") if ":" in p)
        name = parts.get("cuda", parts.get("cpu", ""))
    if name not in _BACKENDS:
        raise ValueError(f"Invalid backend: '{backend}'. ember.distributed runs 'mpi' (CPU tensors; 'gloo' is "
                         f"accepted and runs on MPI) and 'nccl' (CUDA tensors)")
    return name


def _check_init_method(init_method):
    if init_method is None:
        return
    if not isinstance(init_method, str) or not init_method.startswith(("env://", "tcp://", "file://", "mpi://")):
        raise ValueError(f"init_method must be 'env://', 'tcp://...', 'file://...' or None, got {init_method!r} "
                         f"(the MPI launcher does the rendezvous, so its address is not used)")


def _mpi_world():
    from .mpi import MpiGroup, mpi_available
    if not mpi_available():
        raise RuntimeError("the mpi backend needs mpi4py and an MPI library: pip install 'ember[distributed]' and "
                           "apt-get install openmpi-bin libopenmpi-dev")
    size, mpi_rank = MpiGroup.world_size_and_rank()
    return size, mpi_rank


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Joins the job's default process group. The rank and world size come
    from the launcher (`python -m ember.distributed.run`, or `mpirun`); a
    world_size or rank given here, or in WORLD_SIZE/RANK, must agree with
    what the launcher started: asking for N processes and getting one is an
    error, not a silent one-process run."""
    if C._default is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    name = _parse_backend(backend)
    kind = _BACKENDS[name]
    _check_init_method(init_method)
    seconds = _env.timeout_seconds(timeout)
    for value, what in ((world_size, "world_size"), (rank, "rank")):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    env_size, env_var = _env.launcher_world_size()
    expected = world_size if world_size != -1 else env_size
    source = "world_size" if world_size != -1 else env_var
    if expected is not None and expected < 1:
        raise ValueError(f"world_size must be positive, got {expected} (from {source})")

    mpi_needed = kind == "mpi" or (expected or 1) > 1
    if mpi_needed:
        size, my_rank = _mpi_world()
    else:
        size, my_rank = 1, 0  # a one-rank NCCL group needs no MPI (its unique id needs no exchange)
    if expected is not None and expected != size:
        how = ("python -m ember.distributed.run --nproc-per-node N script.py, or mpirun -np N python script.py"
               if size == 1 else "the launcher's process count")
        raise RuntimeError(f"{source} asks for {expected} processes but the job has {size}: start the ranks with "
                           f"{how}")
    if rank != -1 and rank != my_rank:
        raise RuntimeError(f"rank={rank} was passed but the launcher made this process rank {my_rank}")
    env_rank, rank_var = _env.launcher_rank()
    if env_rank is not None and env_rank != my_rank and size > 1:
        raise RuntimeError(f"{rank_var}={env_rank} disagrees with the MPI rank {my_rank} of this process")

    if kind == "mpi":
        from .mpi import MpiGroup
        engine = MpiGroup(seconds)
    else:
        from .nccl import NcclGroup
        engine = NcclGroup.create(size, my_rank, _env.local_rank(), seconds)
    _failure.install(my_rank)
    _job_status.attach(my_rank, size)
    C._default = C.ProcessGroup(engine, name, seconds, range(size))
    C.group.WORLD = C._default


def destroy_process_group(group=None):
    """Releases the default group (and with it every group), or one group."""
    if group is None or group is C._default:
        pg = C._require_init()
        pg.engine.shutdown()
        C._default = None
        C.group.WORLD = None
    else:
        group.engine.shutdown()


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False):
    """A group of `ranks` (all ranks if None). Every rank of the job must
    call it, as in PyTorch; ranks outside get GroupMember.NON_GROUP_MEMBER."""
    pg = C._require_init()
    world = list(range(pg.size()))
    if ranks is None:
        members = world
    else:
        members = sorted(set(int(r) for r in ranks))
        bad = [r for r in members if r not in world]
        if bad:
            raise ValueError(f"new_group: ranks {bad} are not in the world (0..{pg.size() - 1})")
    if backend is not None and _BACKENDS[_parse_backend(backend)] != _BACKENDS[pg.backend]:
        raise ValueError(f"new_group: backend {backend!r} differs from the default group's ({pg.backend})")
    seconds = _env.timeout_seconds(timeout) if timeout is not None else pg.timeout
    if not hasattr(pg.engine, "subgroup"):
        if members != world:
            raise NotImplementedError(f"the {pg.backend} backend only forms groups of the whole world")
        return C.ProcessGroup(pg.engine, pg.backend, seconds, world)
    C._enter(pg, "new_group")  # a collective over the world: numbered and stamped like the others
    sub = pg.engine.subgroup(members, seconds)
    if sub is None:
        return C.GroupMember.NON_GROUP_MEMBER
    return C.ProcessGroup(sub, pg.backend, seconds, members)


def get_rank(group=None):
    """This process's rank (in `group`: its global rank's position; -1 if not a member)."""
    if C._default is None:
        raise ValueError("Default process group has not been initialized, please make sure to call "
                         "init_process_group.")
    if group is C.GroupMember.NON_GROUP_MEMBER:
        return -1
    pg = C._default if group is None else group
    return pg.rank()


def get_world_size(group=None):
    if C._default is None:
        raise ValueError("Default process group has not been initialized, please make sure to call "
                         "init_process_group.")
    if group is C.GroupMember.NON_GROUP_MEMBER:
        return -1
    pg = C._default if group is None else group
    return pg.size()


def get_backend(group=None):
    pg = C._require_init() if group is None else group
    return pg.backend


def get_process_group_ranks(group):
    pg = C._require_init() if group is None else group
    return list(pg.ranks)


def get_global_rank(group, group_rank):
    return group.ranks[group_rank]
