"""The DataLoader iterator that loads in worker processes.

Batch k goes to worker k mod N (or, with ``in_order=False``, to the worker
that just delivered), at most ``prefetch_factor`` batches ahead per worker.
Each worker answers its tasks in the order it received them over its own
socket, so batch k is always the next message of its worker: keeping the
order needs no reordering buffer. While waiting, the loader also watches
the worker's process sentinel, so a worker that died (killed, crashed)
raises at once instead of leaving the loop waiting forever; ``timeout``
bounds the wait for a batch. Workers end when the iterator is exhausted
(unless ``persistent_workers``), garbage-collected, or at interpreter exit.
"""

from collections import deque
from functools import partial
import multiprocessing
from multiprocessing.connection import wait
from multiprocessing.reduction import ForkingPickler
import os
import signal
import time
import weakref

import ember

from ._fetch import fetch_batch
from ._shared_transport import receive_message, send_message, socket_pair
from ._worker import WorkerError, worker_loop

__all__ = ["MultiProcessingIter"]

# How long a stopped worker may take to finish the sample it is working on
# before it is terminated (a worker drops its queued tasks when told to stop).
_JOIN_TIMEOUT = 2.0


def draw_base_seed():
    """The seed of an iterator's workers (worker i uses it plus i), drawn
    from ember's generator: ember.manual_seed() in the main process makes
    every worker's random numbers repeat."""
    return int(ember.randint(0, 2**62, ()).item())


def _reduce_tensor(tensor):
    """How multiprocessing pickles an ember tensor (a dataset holding
    tensors, sent to a worker started by 'spawn' or 'forkserver'): as a
    numpy array of its values."""
    cpu = tensor.detach().to("cpu")
    as_float = cpu.dtype == ember.bfloat16  # numpy has no bfloat16
    array = (cpu.to(ember.float32) if as_float else cpu).numpy()
    return _rebuild_tensor, (array, as_float, str(tensor.device), tensor.requires_grad)


def _rebuild_tensor(array, as_float, device, requires_grad):
    tensor = ember.from_numpy(array)
    if as_float:
        tensor = tensor.to(ember.bfloat16)
    if device != "cpu":
        tensor = tensor.to(device)
    return tensor.requires_grad_(requires_grad) if requires_grad else tensor


ForkingPickler.register(ember.Tensor, _reduce_tensor)


class _Worker:
    def __init__(self, worker_id, process, sock):
        self.id = worker_id
        self.process = process
        self.sock = sock
        self.pending = deque()  # task ids sent and not yet received, in order
        # The worker's shared-memory blocks this process no longer maps; sent
        # with the next task so the worker can reuse them.
        self.released = []


def _shutdown(workers, owner_pid):
    """Stop and join ``workers`` (terminating any that do not stop). Runs
    once, from the iterator's finalizer."""
    if os.getpid() != owner_pid:  # a copy of the iterator inside a forked process
        return
    for w in workers:
        try:
            send_message(w.sock, ("stop",))
        except OSError:
            pass  # already gone
    deadline = time.monotonic() + _JOIN_TIMEOUT
    for w in workers:
        w.process.join(max(0.0, deadline - time.monotonic()))
        if w.process.is_alive():
            w.process.terminate()
            w.process.join(1.0)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
        w.sock.close()
    workers.clear()


def _exit_description(exitcode):
    if exitcode is None:
        return "closed its connection"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"was killed by {name}"
    return f"exited with code {exitcode}"


class MultiProcessingIter:
    def __init__(self, loader):
        self._num_workers = loader.num_workers
        self._prefetch_factor = loader.prefetch_factor
        self._timeout = loader.timeout
        self._in_order = loader.in_order
        self._persistent = loader.persistent_workers
        self._owner_pid = os.getpid()
        base_seed = draw_base_seed()
        fetch = partial(fetch_batch, collate_fn=loader.collate_fn, auto_collation=loader._auto_collation)
        context = loader._multiprocessing_context()
        self._workers = []
        self._finalizer = weakref.finalize(self, _shutdown, self._workers, self._owner_pid)
        for worker_id in range(self._num_workers):
            main_end, worker_end = socket_pair()
            process = context.Process(
                target=worker_loop,
                args=(worker_end, fetch, loader.dataset, worker_id, self._num_workers, base_seed,
                      loader.worker_init_fn, self._owner_pid),
                daemon=True)
            try:
                process.start()
            finally:
                worker_end.close()  # only the worker holds it: its death is an EOF here
            self._workers.append(_Worker(worker_id, process, main_end))
        self._start_epoch(loader)

    def _start_epoch(self, loader):
        try:
            self._length = len(loader)
        except TypeError:  # a sampler without a length
            self._length = None
        self._tasks = iter(loader._tasks())
        self._sent = 0
        self._received = 0
        self._task_worker = {}
        for _ in range(self._prefetch_factor * self._num_workers):
            if not self._send_next_task():
                break

    def _reset(self, loader):
        """A new pass over the data with the same (persistent) workers: the
        batches still in flight from the last pass are received and dropped."""
        for w in self._workers:
            while w.pending:
                self._receive(w)
                w.pending.popleft()
        self._start_epoch(loader)

    def _send_next_task(self, worker=None):
        try:
            indices = next(self._tasks)
        except StopIteration:
            return False
        task_id = self._sent
        self._sent += 1
        if worker is None:
            worker = self._workers[task_id % self._num_workers]
        worker.pending.append(task_id)
        self._task_worker[task_id] = worker
        released = []
        while worker.released:  # pop: a mapping's finalizer may append meanwhile
            released.append(worker.released.pop())
        try:
            send_message(worker.sock, ("fetch", task_id, indices, released))
        except OSError:
            pass  # the worker died: receiving its result says so
        return True

    def __iter__(self):
        return self

    @property
    def _workers_alive(self):
        return self._finalizer.alive

    def __next__(self):
        if self._received == self._sent:
            if not self._persistent:
                self._finalizer()
            raise StopIteration
        if not self._workers_alive:
            raise RuntimeError("this DataLoader iterator's workers have ended (see the error raised before); "
                               "iterate over the DataLoader again for a new pass")
        if self._in_order:
            worker = self._task_worker.pop(self._received)
        else:
            worker = self._first_ready()
        task_id, data = self._receive(worker)
        self._task_worker.pop(task_id, None)
        worker.pending.popleft()
        self._received += 1
        self._send_next_task(None if self._in_order else worker)
        if isinstance(data, WorkerError):
            data.reraise()
        return data

    def __len__(self):
        if self._length is None:
            raise TypeError("this DataLoader's sampler has no length")
        return self._length  # as PyTorch's iterators: the loader's number of batches

    @property
    def _tasks_in_flight(self):
        return self._sent - self._received

    def _first_ready(self):
        """A worker with a batch ready (or that died), waiting up to the timeout."""
        busy = [w for w in self._workers if w.pending]
        waitables = {}
        for w in busy:
            waitables[w.sock] = w
            waitables[w.process.sentinel] = w
        ready = wait(list(waitables), self._timeout if self._timeout > 0 else None)
        if not ready:
            raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
        for obj in ready:  # prefer a delivered batch over a dead worker's sentinel
            if obj in {w.sock for w in busy}:
                return waitables[obj]
        return waitables[ready[0]]

    def _receive(self, worker):
        """The next message of ``worker``; raises if it died or the timeout passed."""
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = wait([worker.sock, worker.process.sentinel], remaining)
            if worker.sock in ready:
                try:
                    return receive_message(worker.sock, on_release=worker.released.append)
                except (EOFError, ConnectionError):
                    pass  # its end closed: the worker is gone
            elif worker.process.sentinel in ready:
                if wait([worker.sock], 0):
                    continue  # it sent a last message before ending
            else:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
            worker.process.join(1.0)
            pid, how = worker.process.pid, _exit_description(worker.process.exitcode)
            self._finalizer()
            raise RuntimeError(f"DataLoader worker {worker.id} (pid {pid}) exited unexpectedly: it {how}")

    def _shutdown_workers(self):
        self._finalizer()


def validate_context(multiprocessing_context):
    """``multiprocessing_context`` as a context object (None: the default)."""
    if multiprocessing_context is None:
        return multiprocessing.get_context()
    if isinstance(multiprocessing_context, str):
        methods = multiprocessing.get_all_start_methods()
        if multiprocessing_context not in methods:
            raise ValueError("multiprocessing_context option should specify a valid start method in "
                             f"{methods!r}, but got multiprocessing_context={multiprocessing_context!r}")
        return multiprocessing.get_context(multiprocessing_context)
    if not isinstance(multiprocessing_context, multiprocessing.context.BaseContext):
        raise TypeError("multiprocessing_context option should be a valid context object or a string "
                        f"specifying the start method, but got multiprocessing_context={multiprocessing_context}")
    return multiprocessing_context
