"""Finding and loading libnccl.so.2 at run time (never a build or install
dependency). Looked for, in order: the file named by EMBER_NCCL_LIBRARY;
the `nvidia-nccl-cu13` wheel (nvidia/nccl/lib or nvidia/cu13/lib under any
sys.path entry; PyTorch's CUDA wheels install it); the system's loader
path."""
import ctypes
import glob
import os
import sys

LIBRARY_ENV = "EMBER_NCCL_LIBRARY"
_SONAME = "libnccl.so.2"
_WHEEL_DIRS = [("nvidia", "nccl", "lib"), ("nvidia", "cu13", "lib"), ("nvidia", "cu12", "lib")]

_loaded = None


class NcclUnavailableError(RuntimeError):
    """NCCL (or a GPU for it) is missing."""


def wheel_candidates(paths=None):
    """libnccl.so.2 files of installed NVIDIA wheels, in sys.path order."""
    found = []
    for entry in (sys.path if paths is None else paths):
        if not entry or not os.path.isdir(entry):
            continue
        for parts in _WHEEL_DIRS:
            found += sorted(glob.glob(os.path.join(entry, *parts, _SONAME + "*")))
    return [f for f in found if os.path.isfile(f)]


def find_library():
    """(path or soname, how it was found); raises NcclUnavailableError when
    EMBER_NCCL_LIBRARY names a missing file."""
    override = os.environ.get(LIBRARY_ENV)
    if override:
        if not os.path.isfile(override):
            raise NcclUnavailableError(f"{LIBRARY_ENV}={override!r} does not name a file")
        return override, LIBRARY_ENV
    wheels = wheel_candidates()
    if wheels:
        return wheels[0], "the nvidia-nccl wheel"
    return _SONAME, "the system library path"


def load():
    """The loaded library (once per process)."""
    global _loaded
    if _loaded is not None:
        return _loaded
    path, how = find_library()
    try:
        _loaded = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError as e:
        raise NcclUnavailableError(
            f"could not load NCCL from {how} ({path}): {e}. Install it with pip install nvidia-nccl-cu13, or set "
            f"{LIBRARY_ENV} to the path of libnccl.so.2") from None
    return _loaded


def version():
    lib = load()
    v = ctypes.c_int()
    lib.ncclGetVersion(ctypes.byref(v))
    return v.value


def nccl_available():
    """A GPU is present and libnccl.so.2 loads."""
    from ... import cuda
    if not cuda.is_available():
        return False
    try:
        load()
    except NcclUnavailableError:
        return False
    return True
