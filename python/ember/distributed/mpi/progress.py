"""Waiting on MPI requests without spinning, and the communication thread.

Open MPI (as packaged by Debian, shared-memory transport) makes no
asynchronous progress: a started non-blocking collective only advances
while some thread is inside an MPI call. Collectives started during
backward (DistributedDataParallel's buckets) are therefore handed to one
background thread per process that tests them; a synchronous call tests
its own request. Both sleep between tests, with a pause that grows with the
time already waited (a twentieth of it, 50 us to 2 ms), so that four ranks
sharing two cores leave the cores to whoever computes, while a fast
collective is noticed within a few percent of its own duration.
"""
import threading
import time

from .._group import DistributedError, DistributedTimeoutError

_MIN_PAUSE = 50e-6
_MAX_PAUSE = 2e-3
_SPIN = 20e-6  # a few tests before the first sleep: small collectives finish in microseconds


def _pause(waited, left):
    return max(0.0, min(_MAX_PAUSE, max(_MIN_PAUSE, waited / 20), left))


def wait_request(request, status, deadline):
    """Tests `request` until it completes; DistributedTimeoutError past
    `deadline` (time.monotonic()). The request stays pending then: the
    caller must treat the communicator as broken."""
    start = time.monotonic()
    while not request.Test(status):
        now = time.monotonic()
        if now >= deadline:
            raise DistributedTimeoutError("")
        if now - start > _SPIN:
            time.sleep(_pause(now - start, deadline - now))


class BackgroundWork:
    """A started request owned by the progress thread; wait() blocks on an
    event, not on the request."""

    def __init__(self, request, status, deadline):
        self.request = request
        self.status = status
        self.deadline = deadline
        self.started = time.monotonic()
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


class ProgressThread:
    """Tests every background request in start order until each completes or
    passes its deadline. Started on first use; a daemon, so a job that ends
    with work pending is not held up by it."""

    def __init__(self, name):
        self._name = name
        self._works = []
        self._cv = threading.Condition()
        self._thread = None
        self._stopping = False

    def add(self, work):
        with self._cv:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._works.append(work)
            self._cv.notify()

    def pending(self):
        with self._cv:
            return len(self._works)

    def stop(self):
        with self._cv:
            self._stopping = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self):
        while True:
            with self._cv:
                while not self._works and not self._stopping:
                    self._cv.wait()
                if self._stopping:
                    for w in self._works:
                        w.finish(DistributedError("the process group was destroyed with this work pending"))
                    self._works.clear()
                    return
                works = list(self._works)
            done = []
            now = time.monotonic()
            for w in works:
                try:
                    if w.request.Test(w.status):
                        w.finish()
                        done.append(w)
                    elif now >= w.deadline:
                        w.finish(DistributedTimeoutError(""))
                        done.append(w)
                except Exception as e:  # an MPI error belongs to the waiter, not to this thread
                    w.finish(DistributedError(str(e)))
                    done.append(w)
            with self._cv:
                for w in done:
                    self._works.remove(w)
                remaining = list(self._works)
            if remaining:
                newest = max(w.started for w in remaining)
                left = min(w.deadline for w in remaining) - time.monotonic()
                time.sleep(_pause(time.monotonic() - newest, max(left, 0.0)))
