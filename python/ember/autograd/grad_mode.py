"""Grad-mode switches, usable as context managers and decorators. The mode
itself is thread-local state in the C++ core."""
import functools

from .. import _C


class _GradMode:
    enabled = True

    def __new__(cls, orig_func=None):
        # `@no_grad` without parentheses decorates directly, as in PyTorch.
        self = super().__new__(cls)
        if orig_func is not None and callable(orig_func):
            self.__init__()
            return self(orig_func)
        return self

    def __init__(self, orig_func=None):
        pass

    def __enter__(self):
        self._prev = _C.is_grad_enabled()
        _C.set_grad_enabled(self.enabled)
        return self

    def __exit__(self, *exc):
        _C.set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        enabled = self.enabled

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = _C.is_grad_enabled()
            _C.set_grad_enabled(enabled)
            try:
                return fn(*args, **kwargs)
            finally:
                _C.set_grad_enabled(prev)
        return wrapper


class no_grad(_GradMode):  # noqa: N801 - PyTorch's name
    """Disables gradient recording inside a `with` block or a decorated function."""
    enabled = False


class enable_grad(_GradMode):  # noqa: N801
    """Re-enables gradient recording (inside a no_grad block, say)."""
    enabled = True


class inference_mode(no_grad):  # noqa: N801
    """Same as no_grad in ember."""

    def __init__(self, mode=True):
        self.enabled = not mode


class set_grad_enabled:  # noqa: N801
    """`set_grad_enabled(False)` switches immediately; as a context manager it restores on exit."""

    def __init__(self, mode):
        self._prev = _C.is_grad_enabled()
        _C.set_grad_enabled(bool(mode))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _C.set_grad_enabled(self._prev)
        return False


def is_grad_enabled():
    return _C.is_grad_enabled()
