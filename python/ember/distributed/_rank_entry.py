"""What each rank runs under `python -m ember.distributed.run`: sets
torchrun's environment variables (RANK, WORLD_SIZE, LOCAL_RANK, ...) from
Open MPI's, installs the abort-on-error hooks, then runs the user's script
(or module) as __main__ with its arguments."""
import os
import runpy
import sys

from . import _env, _failure


def _export_torchrun_env():
    rank, _ = _env._first_int(["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"])
    size, _ = _env._first_int(["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"])
    rank = 0 if rank is None else rank
    size = 1 if size is None else size
    local = _env._first_int(["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID"])[0]
    local_size = _env._first_int(["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"])[0]
    values = {"RANK": rank, "WORLD_SIZE": size, "LOCAL_RANK": rank if local is None else local,
              "LOCAL_WORLD_SIZE": size if local_size is None else local_size, "GROUP_RANK": 0,
              "ROLE_RANK": rank, "ROLE_WORLD_SIZE": size}
    for key, value in values.items():
        os.environ[key] = str(value)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29500")
    return rank


def main(argv):
    module = False
    if argv and argv[0] == "--module":
        module = True
        argv = argv[1:]
    if not argv:
        print("ember.distributed._rank_entry: no script given", file=sys.stderr)
        return 2
    rank = _export_torchrun_env()
    _failure.install(rank)
    target, args = argv[0], argv[1:]
    sys.argv = [target] + args
    try:
        if module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
            runpy.run_path(target, run_name="__main__")
    except SystemExit as e:
        code = e.code
        if code not in (None, 0):
            if not isinstance(code, int):
                print(code, file=sys.stderr)
                code = 1
            # A rank leaving with an error must free the peers waiting for it.
            _failure.fail("exit", f"exited with code {code}", code)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
