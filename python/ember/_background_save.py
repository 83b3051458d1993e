"""Background checkpoint saves: ``ember.save(obj, path, background=True)``.

The call takes a snapshot (every tensor's bytes copied to host memory, in
the file's order) and returns a ``concurrent.futures.Future``; a thread then
writes the snapshot to a temporary file, fsyncs it, renames it over the
target and fsyncs the folder, and only then completes the future, so a save
whose future is done survives a power cut exactly like a synchronous one.

Saves to one target are serialized: a save (or load) of a path waits for the
background save already pending on it, so files never land out of order.
The writer threads are ordinary (non-daemon) threads, which the interpreter
joins before it exits: no pending save is lost at exit.
"""

import concurrent.futures
import os
import threading

from ember import _C

_lock = threading.Lock()
_pending = {}  # target key -> Future of the last background save to it


def _key(path):
    return os.path.realpath(path)


def wait_for_pending(path):
    """Blocks until the background save pending on `path` (if any) is done.
    Its outcome is reported by its own future, not here."""
    with _lock:
        fut = _pending.get(_key(path))
    if fut is not None:
        concurrent.futures.wait([fut])


def _write(snapshot, path, fut, key):
    try:
        _C._io_write_snapshot(snapshot, path)
    except BaseException as e:  # noqa: BLE001 - handed to the future's owner
        fut.set_exception(e)
    else:
        fut.set_result(None)
    finally:
        del snapshot  # the copy's memory goes back now, not when the future dies
        with _lock:
            if _pending.get(key) is fut:
                del _pending[key]


def save(obj, path):
    key = _key(path)
    # One save per target at a time: wait for the previous one first. The
    # lock is only held to look up and register, never while waiting.
    while True:
        with _lock:
            previous = _pending.get(key)
            if previous is None:
                fut = concurrent.futures.Future()
                fut.set_running_or_notify_cancel()
                _pending[key] = fut
                break
        concurrent.futures.wait([previous])
    try:
        snapshot = _C._io_snapshot(obj)
    except BaseException:
        with _lock:
            del _pending[key]
        fut.set_exception(RuntimeError("ember.save: the snapshot failed"))  # never seen: the call raises
        raise
    thread = threading.Thread(target=_write, args=(snapshot, path, fut, key),
                              name=f"ember.save {os.path.basename(path)}", daemon=False)
    del snapshot
    thread.start()
    return fut
