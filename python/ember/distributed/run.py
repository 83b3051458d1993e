"""The launcher: `python -m ember.distributed.run --nproc-per-node N
script.py args...`, with torchrun's flag names, on Open MPI's `mpirun`.

It starts the ranks with the flags this kind of machine needs (root
permission, oversubscription, no core binding: otherwise ranks are pinned to
one core), gives each rank its share of the cores as its thread count,
forwards SIGINT/SIGTERM, and ends the whole job, non-zero, as soon as a rank
fails. Its last line then names the rank that failed and how: from the
record a rank writes when it raises, times out or exits with an error, or
from mpirun's report of a rank killed by a signal.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from . import _job_status

_PREFIX = "ember.distributed.run"
# After a rank reported a failure, how long mpirun gets to tear the job down
# (MPI_Abort takes about 1.5 s) before the launcher kills it.
_TEARDOWN_GRACE = 15.0
_KILLED = re.compile(r"process rank (\d+) with PID \d+ on node \S+ exited on signal (\d+)")
_EXIT_CODE = re.compile(r"Process name: \[\[\d+,\d+\],(\d+)\]\s*$")


def _parser():
    p = argparse.ArgumentParser(prog=f"python -m {_PREFIX}", description=__doc__.split("\n\n")[0],
                                allow_abbrev=False)
    p.add_argument("--nproc-per-node", "--nproc_per_node", dest="nproc", default="1",
                   help="ranks to start (an integer, or 'auto'/'cpu': one per core)")
    p.add_argument("--nnodes", default="1", help="only one node is supported")
    p.add_argument("--node-rank", "--node_rank", dest="node_rank", type=int, default=0)
    p.add_argument("--master-addr", "--master_addr", dest="master_addr", default="127.0.0.1",
                   help="accepted for torchrun scripts; MPI does the rendezvous")
    p.add_argument("--master-port", "--master_port", dest="master_port", type=int, default=29500)
    p.add_argument("--standalone", action="store_true", help="accepted (a single node is always standalone)")
    p.add_argument("--timeout", type=float, default=None,
                   help="deadline of every collective in seconds (sets EMBER_DISTRIBUTED_TIMEOUT)")
    p.add_argument("--mpirun", default=os.environ.get("EMBER_MPIRUN", "mpirun"), help="the mpirun to use")
    p.add_argument("-m", "--module", action="store_true", help="run the target as a module (python -m)")
    p.add_argument("--no-python", "--no_python", dest="no_python", action="store_true",
                   help="run the target as an executable, not a Python script")
    p.add_argument("script", help="the training script (or module, or executable)")
    p.add_argument("script_args", nargs=argparse.REMAINDER)
    return p


def _nproc(value):
    if value in ("auto", "cpu", "gpu"):
        return os.cpu_count() or 1
    try:
        n = int(value)
    except ValueError:
        raise SystemExit(f"{_PREFIX}: --nproc-per-node must be an integer or 'auto', got {value!r}") from None
    if n < 1:
        raise SystemExit(f"{_PREFIX}: --nproc-per-node must be at least 1, got {n}")
    return n


def _rank_env(n, args, status):
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // n))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(var, threads)
    env[_job_status.STATUS_DIR_ENV] = status
    env["MASTER_ADDR"] = args.master_addr
    env["MASTER_PORT"] = str(args.master_port)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if args.timeout is not None:
        env["EMBER_DISTRIBUTED_TIMEOUT"] = str(args.timeout)
    # Ranks waiting inside MPI yield the core (four ranks may share two).
    env.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def _command(n, args, env):
    mpirun = shutil.which(args.mpirun)
    if mpirun is None:
        raise SystemExit(f"{_PREFIX}: {args.mpirun!r} was not found: install Open MPI (apt-get install openmpi-bin "
                         f"libopenmpi-dev) and mpi4py (pip install 'ember[distributed]')")
    cmd = [mpirun, "-np", str(n), "--oversubscribe", "--bind-to", "none"]
    for var in sorted(k for k in env if k not in os.environ or env[k] != os.environ[k]):
        cmd += ["-x", var]
    for var in ("PYTHONPATH", "PATH", "LD_LIBRARY_PATH", "EMBER_DISTRIBUTED_TIMEOUT", "EMBER_DISTRIBUTED_DEBUG"):
        if var in os.environ and var not in cmd:
            cmd += ["-x", var]
    if args.no_python:
        target = [args.script]
    else:
        target = [sys.executable, "-m", "ember.distributed._rank_entry"] + (["--module"] if args.module else [])
        target.append(args.script)
    return cmd + target + list(args.script_args)


class _Pump(threading.Thread):
    """Copies one of mpirun's streams to ours, remembering what it says
    about ranks that died."""

    def __init__(self, src, dst, notes):
        super().__init__(daemon=True)
        self.src, self.dst, self.notes = src, dst, notes

    def run(self):
        for raw in iter(self.src.readline, b""):
            line = raw.decode(errors="replace")
            m = _KILLED.search(line)
            if m:
                self.notes.setdefault("killed", (int(m.group(1)), int(m.group(2))))
            m = _EXIT_CODE.search(line)
            if m:
                self.notes.setdefault("exit_rank", int(m.group(1)))
            try:
                self.dst.write(line)
                self.dst.flush()
            except (OSError, ValueError):
                pass


def _signal_name(num):
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _verdict(records, notes, rc):
    """The last line: which rank failed and why."""
    failures = {r: rec for r, rec in records.items() if rec.get("how") != "exited"}
    for kind in ("raised", "interrupted", "exit"):
        for r in sorted(failures):
            if failures[r]["how"] == kind:
                return f"rank {r} {failures[r]['message']}"
    if "killed" in notes:
        r, sig = notes["killed"]
        return f"rank {r} was killed by {_signal_name(sig)} (signal {sig})"
    for r in sorted(failures):
        if failures[r]["how"] == "timeout":
            return f"rank {r} {failures[r]['message']}"
    if "exit_rank" in notes:
        return f"rank {notes['exit_rank']} exited with an error"
    if rc < 0:
        return f"mpirun was ended by {_signal_name(-rc)}"
    return f"mpirun exited with code {rc}"


def launch(argv=None):
    args = _parser().parse_args(argv)
    if args.nnodes not in ("1", "1:1") or args.node_rank != 0:
        raise SystemExit(f"{_PREFIX}: only single-node jobs are supported (got --nnodes {args.nnodes}); for several "
                         f"nodes use mpirun with a host file")
    n = _nproc(args.nproc)
    status = tempfile.mkdtemp(prefix="ember-distributed-")
    try:
        _job_status.create_progress_table(status, n)
        env = _rank_env(n, args, status)
        cmd = _command(n, args, env)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        notes = {}
        pumps = [_Pump(proc.stdout, sys.stdout, notes), _Pump(proc.stderr, sys.stderr, notes)]
        for p in pumps:
            p.start()

        def forward(signum, frame):
            try:
                proc.send_signal(signum)
            except ProcessLookupError:
                pass

        previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            rc = _wait(proc, status)
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
        for p in pumps:
            p.join(timeout=5)
        records = _job_status.read_all(status)
        failed = rc != 0 or any(rec.get("how") != "exited" for rec in records.values())
        if not failed:
            return 0
        print(f"{_PREFIX}: the job failed: {_verdict(records, notes, rc)}", file=sys.stderr, flush=True)
        return rc if rc > 0 else 1
    finally:
        shutil.rmtree(status, ignore_errors=True)


def _wait(proc, status):
    """Waits for mpirun; kills it when a rank reported a failure and the job
    did not end within the grace period."""
    failed_at = None
    while True:
        try:
            return proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
        if failed_at is None:
            records = _job_status.read_all(status)
            if any(rec.get("how") != "exited" for rec in records.values()):
                failed_at = time.monotonic()
        elif time.monotonic() - failed_at > _TEARDOWN_GRACE:
            _kill(proc)
            return proc.wait()


def _kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main():
    sys.exit(launch())


if __name__ == "__main__":
    main()
