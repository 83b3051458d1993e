"""What a rank learns from its launcher's environment: torchrun's variables
(set by `python -m ember.distributed.run`), or Open MPI's / PMI's own under
plain `mpirun`."""
import datetime
import os

TIMEOUT_ENV = "EMBER_DISTRIBUTED_TIMEOUT"
DEBUG_ENV = "EMBER_DISTRIBUTED_DEBUG"
# PyTorch's default for CPU process groups.
DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)

_RANK_VARS = ["RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"]
_SIZE_VARS = ["WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"]
_LOCAL_RANK_VARS = ["LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID"]
_LOCAL_SIZE_VARS = ["LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"]


def _first_int(names):
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            try:
                return int(value), name
            except ValueError:
                raise ValueError(f"environment variable {name}={value!r} is not an integer") from None
    return None, None


def launcher_world_size():
    """(size, variable) the launcher asked for, or (None, None)."""
    return _first_int(_SIZE_VARS)


def launcher_rank():
    return _first_int(_RANK_VARS)


def local_rank():
    value, _ = _first_int(_LOCAL_RANK_VARS)
    return value if value is not None else 0


def local_world_size():
    value, _ = _first_int(_LOCAL_SIZE_VARS)
    return value


def timeout_seconds(timeout):
    """The deadline of every collective: EMBER_DISTRIBUTED_TIMEOUT (seconds)
    overrides `timeout` (a timedelta or seconds) of init_process_group."""
    override = os.environ.get(TIMEOUT_ENV)
    if override not in (None, ""):
        try:
            seconds = float(override)
        except ValueError:
            raise ValueError(f"{TIMEOUT_ENV}={override!r} is not a number of seconds") from None
        source = TIMEOUT_ENV
    else:
        if timeout is None:
            timeout = DEFAULT_TIMEOUT
        seconds = seconds_of(timeout)
        source = "timeout"
    if not seconds > 0:
        raise ValueError(f"the collective deadline must be positive, got {seconds} s (from {source})")
    return seconds


def seconds_of(timeout):
    """A timedelta or a number of seconds, as seconds."""
    if isinstance(timeout, datetime.timedelta):
        return timeout.total_seconds()
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return float(timeout)
    raise TypeError(f"timeout must be a datetime.timedelta or a number of seconds, got {type(timeout).__name__}")


def debug_enabled():
    return os.environ.get(DEBUG_ENV, "0") not in ("", "0", "false", "False", "OFF", "off")
