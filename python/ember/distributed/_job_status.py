"""What a rank tells the launcher about how it ended, and what the other
ranks can learn about each other when a collective times out.

The launcher (`run.py`) creates a folder and names it in
EMBER_DISTRIBUTED_STATUS_DIR. Each rank writes `rank-<r>.json` when it
raises, times out or exits, so the launcher's last line can name the rank
that failed and why; and each rank records, in one shared memory-mapped
table (`progress.bin`, two int64 per rank), the sequence number and kind of
the last collective it entered, so a rank whose collective timed out can
say which peers never reached it. Under plain `mpirun` the folder is
absent and only the messages themselves remain.
"""
import json
import mmap
import os
import sys

import numpy as np

STATUS_DIR_ENV = "EMBER_DISTRIBUTED_STATUS_DIR"
_PROGRESS_FILE = "progress.bin"

COLLECTIVES = ["barrier", "all_reduce", "broadcast", "reduce", "all_gather", "all_gather_into_tensor",
               "reduce_scatter_tensor", "gather", "scatter", "send", "recv", "new_group"]

_rank = None
_progress = None
_reported = False


def status_dir():
    return os.environ.get(STATUS_DIR_ENV) or None


def create_progress_table(folder, world_size):
    """Called by the launcher before the ranks start."""
    np.full((world_size, 2), -1, dtype=np.int64).tofile(os.path.join(folder, _PROGRESS_FILE))


def attach(rank, world_size):
    """Called by init_process_group on each rank."""
    global _rank, _progress
    _rank = rank
    folder = status_dir()
    path = os.path.join(folder, _PROGRESS_FILE) if folder else None
    if path and os.path.exists(path) and os.path.getsize(path) == world_size * 16:
        with open(path, "r+b") as f:
            # A flat int64 view of the shared mapping: one store per collective
            # (numpy's memmap indexing cost microseconds on every call).
            _progress = memoryview(mmap.mmap(f.fileno(), world_size * 16)).cast("q")


_CODES = {name: i for i, name in enumerate(COLLECTIVES)}


def mark_entered(seq, name):
    if _progress is not None:
        _progress[2 * _rank + 1] = _CODES[name]
        _progress[2 * _rank] = seq


def peers_behind(seq):
    """[(rank, last_seq, last_name or None)] of the ranks that have not
    entered collective `seq` of the world group (empty when unknown)."""
    if _progress is None:
        return []
    table = np.frombuffer(_progress, dtype=np.int64).reshape(-1, 2).copy()
    return [(r, int(s), COLLECTIVES[int(c)] if c >= 0 else None)
            for r, (s, c) in enumerate(table) if r != _rank and s < seq]


def exited_ranks():
    """Ranks that have already written an exit record."""
    folder = status_dir()
    if not folder:
        return []
    out = []
    for name in os.listdir(folder):
        if name.startswith("rank-") and name.endswith(".json"):
            try:
                with open(os.path.join(folder, name)) as f:
                    if json.load(f).get("how") == "exited":
                        out.append(int(name[5:-5]))
            except (OSError, ValueError):
                continue
    return sorted(out)


def report(rank, how, message=""):
    """Writes this rank's record (first report wins: a failure is not
    overwritten by the exit that follows it)."""
    global _reported
    if _reported:
        return
    _reported = True
    folder = status_dir()
    if not folder or rank is None:
        return
    tmp = os.path.join(folder, f".rank-{rank}.json.tmp")
    try:
        with open(tmp, "w") as f:
            json.dump({"rank": rank, "how": how, "message": message, "pid": os.getpid()}, f)
        os.replace(tmp, os.path.join(folder, f"rank-{rank}.json"))
    except OSError:
        pass


def read_all(folder):
    """{rank: record} for the launcher."""
    records = {}
    for name in os.listdir(folder):
        if name.startswith("rank-") and name.endswith(".json"):
            try:
                with open(os.path.join(folder, name)) as f:
                    rec = json.load(f)
                records[int(rec["rank"])] = rec
            except (OSError, ValueError, KeyError):
                continue
    return records


def flush_stdio():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed stream must not stop the abort
            pass
