"""A rank that raises must end the whole job, not leave its peers waiting.

Under plain `python`, an uncaught exception in one rank runs the
interpreter's exit, and mpi4py's MPI_Finalize then waits for peers that are
themselves waiting in a collective: the job hangs. An excepthook prints the
traceback as usual, records the failure for the launcher, and calls
MPI_Abort, which ends every rank of the job (about 1.5 s here).
"""
import atexit
import sys

from . import _job_status

_installed = False
_rank = None


def _describe(exc_type, exc):
    text = str(exc).strip().splitlines()
    return f"{exc_type.__name__}: {text[0]}" if text else exc_type.__name__


def _abort(code=1):
    try:
        from mpi4py import MPI
        if MPI.Is_initialized() and not MPI.Is_finalized() and MPI.COMM_WORLD.Get_size() > 1:
            MPI.COMM_WORLD.Abort(code)
    except Exception:  # no MPI: a one-rank job has no peers to free
        pass


def fail(kind, message, code=1):
    """Records the failure and ends the job (never returns with MPI)."""
    _job_status.report(_rank, kind, message)
    print(f"[rank {_rank}] ember.distributed: {message}; aborting the job", file=sys.stderr)
    _job_status.flush_stdio()
    _abort(code)


def install(rank):
    """Idempotent; called by the launcher's rank entry and by init_process_group."""
    global _installed, _rank
    _rank = rank
    if _installed:
        return
    _installed = True
    previous = sys.excepthook

    def excepthook(exc_type, exc, tb):
        previous(exc_type, exc, tb)
        if issubclass(exc_type, KeyboardInterrupt):
            fail("interrupted", "interrupted (KeyboardInterrupt)", 130)
        else:
            kind = "timeout" if exc_type.__name__ == "DistributedTimeoutError" else "raised"
            fail(kind, f"raised {_describe(exc_type, exc)}")

    sys.excepthook = excepthook
    atexit.register(lambda: _job_status.report(_rank, "exited"))
