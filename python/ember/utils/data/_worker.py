"""The loop a DataLoader worker process runs, and ``get_worker_info()``.

A worker receives tasks (a batch's indices), fetches and collates the
samples, and sends the batch back through shared memory
(``_shared_transport``). It seeds Python's ``random``, numpy's global
generator and ember's from the loader's base seed plus its id, so random
transforms differ between workers and repeat when the main process seeds
ember. An exception while fetching goes back as text (type, message,
traceback) and is raised in the main process; the worker carries on.
"""

from collections import deque
from multiprocessing.connection import wait
import os
import pickle
import random
import signal
import sys
import traceback
from dataclasses import dataclass

import ember

from ._shared_transport import BlockPool, receive_message, send_message

__all__ = ["WorkerInfo", "get_worker_info", "shared_memory_pool"]

# How often an idle worker checks that the process that started it is alive.
_PARENT_CHECK_INTERVAL = 1.0


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker knows about itself (``get_worker_info()`` in a worker)."""

    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info = None
_pool = None


def get_worker_info():
    """A WorkerInfo in a DataLoader worker process, None in the main process."""
    return _worker_info


def shared_memory_pool():
    """In a worker, the pool its batches' shared memory comes from (collate
    builds batches there); None in the main process."""
    return _pool


@dataclass
class WorkerError:
    """An exception raised in a worker, as it travels to the main process."""

    worker_id: int
    exc_type: object  # the class, or None when it cannot be pickled
    type_name: str
    traceback_text: str

    def reraise(self):
        message = (f"Caught {self.type_name} in DataLoader worker process {self.worker_id}.\n"
                   f"Original {self.traceback_text}")
        exc_type = self.exc_type if isinstance(self.exc_type, type) else RuntimeError
        try:
            exception = exc_type(message)
        except Exception:  # an exception class whose constructor needs other arguments
            exception = RuntimeError(message)
        raise exception


def _capture(worker_id, exc):
    exc_type = type(exc)
    try:  # classes defined in a function or a __main__ that a spawned parent lacks do not pickle
        pickle.loads(pickle.dumps(exc_type))
    except Exception:
        exc_type = None
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return WorkerError(worker_id, exc_type, type(exc).__name__, text)


def _seed_worker(seed, base_seed, worker_id):
    random.seed(seed)
    ember.manual_seed(seed)
    np = sys.modules.get("numpy")
    if np is not None:  # as PyTorch: only when the program uses numpy
        np.random.seed(np.random.SeedSequence([worker_id, base_seed & 0xFFFFFFFFFFFFFFFF]).generate_state(4))


def worker_loop(sock, fetch, dataset, worker_id, num_workers, base_seed, worker_init_fn, parent_pid):
    """Serve tasks from ``sock`` until told to stop or the parent is gone.

    Messages in: ("fetch", task_id, indices, released block ids) and
    ("stop",). Messages out: (task_id, batch) or (task_id, WorkerError).
    """
    global _worker_info, _pool
    # Ctrl-C reaches the whole process group: the main process handles it
    # and ends the workers, which must not print tracebacks of their own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # As PyTorch: one intra-op thread per worker (a forked worker has one
    # anyway, see csrc/cpu/parallel.cpp); workers are the parallelism.
    ember.set_num_threads(1)
    seed = base_seed + worker_id
    _seed_worker(seed, base_seed, worker_id)
    _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
    _pool = pool = BlockPool()
    init_error = None
    if worker_init_fn is not None:
        try:
            worker_init_fn(worker_id)
        except Exception as exc:
            init_error = _capture(worker_id, exc)
    inbox = deque()
    try:
        while True:
            if not inbox and not wait([sock], timeout=_PARENT_CHECK_INTERVAL):
                if os.getppid() != parent_pid:
                    return  # orphaned: the main process died without ending us
                continue
            # Read every message already queued: a "stop" behind queued tasks
            # ends the worker now instead of after batches nobody will read.
            try:
                while wait([sock], timeout=0):
                    inbox.append(receive_message(sock))
            except (EOFError, OSError):
                return  # the main process closed its end
            if any(m[0] == "stop" for m in inbox):
                return
            _, task_id, indices, released = inbox.popleft()
            pool.released(released)
            if init_error is not None:
                result = init_error
            else:
                try:
                    result = fetch(dataset, indices)
                except Exception as exc:
                    result = _capture(worker_id, exc)
            try:
                send_message(sock, (task_id, result), pool)
            except (BrokenPipeError, ConnectionError):
                return  # the main process is gone
            except Exception as exc:  # e.g. a batch that cannot be pickled
                send_message(sock, (task_id, _capture(worker_id, exc)), pool)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
