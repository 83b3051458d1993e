"""How MPI calls are waited on: the communication thread and the watchdog.

Measured here (bench/RESULTS.md): Open MPI's non-blocking collectives
(libnbc) are up to three times slower than its blocking ones for large
messages (16 MB all-reduce on 2 ranks: 16 ms against 5.5 ms), and Open MPI
makes no asynchronous progress, so a started request only advances while
some thread is inside MPI. ember therefore always runs MPI's *blocking*
calls, in the order they were made:

- a synchronous collective with nothing queued runs on the calling thread
  (no hand-off); a watchdog thread checks its deadline, and past it prints
  the collective's description, records it for the launcher and ends the
  job with MPI_Abort (a thread stuck in MPI cannot be made to raise);
- an asynchronous one (async_op=True, DDP's buckets during backward), or a
  synchronous one while asynchronous work is queued, runs on the group's
  communication thread; the caller's wait() blocks on an event with the
  deadline and raises DistributedTimeoutError past it.

Point-to-point messages are the exception: a blocking receive queued
before the matching send on one thread would deadlock, so send and recv
are MPI's non-blocking Isend/Irecv, started at once and tested with sleeps
that grow with the time already waited (`wait_request`).

ember's own waiting never spins. Inside a blocking call Open MPI polls; the
launcher sets mpi_yield_when_idle so that a waiting rank yields its core.
"""
import collections
import threading
import time

from .._group import DistributedError, DistributedTimeoutError


_MIN_PAUSE = 50e-6
_MAX_PAUSE = 2e-3


def wait_request(request, status, deadline):
    """Tests `request` until it completes, sleeping a twentieth of the time
    waited so far between tests (50 us to 2 ms); DistributedTimeoutError
    past `deadline`."""
    start = time.monotonic()
    while not request.Test(status):
        now = time.monotonic()
        if now >= deadline:
            raise DistributedTimeoutError("")
        time.sleep(max(0.0, min(_MAX_PAUSE, max(_MIN_PAUSE, (now - start) / 20), deadline - now)))


class ThreadWork:
    """A call queued on the communication thread."""

    def __init__(self, fn):
        self.fn = fn
        self.error = None
        self._done = threading.Event()

    def finish(self, error=None):
        self.error = error
        self._done.set()

    def is_completed(self):
        return self._done.is_set()

    def wait(self, deadline):
        if not self._done.wait(max(0.0, deadline - time.monotonic())):
            raise DistributedTimeoutError("")
        if self.error is not None:
            raise self.error


class CommThread:
    """Runs queued blocking MPI calls one after another (a daemon thread,
    started on first use, so a job ending with work queued is not held)."""

    def __init__(self, name):
        self._name = name
        self._queue = collections.deque()
        self._cv = threading.Condition()
        self._busy = 0  # queued + running
        self._thread = None

    def idle(self):
        return self._busy == 0

    def submit(self, fn):
        work = ThreadWork(fn)
        with self._cv:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._busy += 1
            self._queue.append(work)
            self._cv.notify()
        return work

    def _run(self):
        while True:
            with self._cv:
                while not self._queue:
                    self._cv.wait()
                work = self._queue.popleft()
            try:
                work.fn()
                work.finish()
            except Exception as e:  # an MPI error belongs to whoever waits for this work
                work.finish(DistributedError(str(e)))
            finally:
                with self._cv:
                    self._busy -= 1


class Watchdog:
    """Ends the job when a collective running on the calling thread passes
    its deadline. The call site only writes one attribute before and after
    the call; the watchdog wakes a few times per deadline to look."""

    def __init__(self, name, timeout, on_expiry):
        self._current = None  # (deadline, describe) of the inline call in flight
        self._period = max(0.05, min(1.0, timeout / 10))
        self._on_expiry = on_expiry
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def watch(self, deadline, describe):
        self._current = (deadline, describe)

    def clear(self):
        self._current = None

    def _run(self):
        while True:
            time.sleep(self._period)
            current = self._current
            if current is not None and time.monotonic() >= current[0] and current is self._current:
                self._on_expiry(current[1])
                return
