"""Tensor pretty-printing for ember.

Produces the same text PyTorch prints for a tensor (with ``torch.`` spelled
``ember.``), working from a numpy array holding the tensor's data.

The public entry points are :func:`format_tensor`, :func:`set_printoptions`,
:func:`get_printoptions` and the :func:`printoptions` context manager.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

__all__ = ["format_tensor", "set_printoptions", "get_printoptions", "printoptions"]


# --------------------------------------------------------------------------
# Print options (module-level state)
# --------------------------------------------------------------------------

class _Options:
    __slots__ = ("precision", "threshold", "edgeitems", "linewidth", "sci_mode")

    def __init__(self):
        self.precision = 4
        self.threshold = 1000
        self.edgeitems = 3
        self.linewidth = 80
        self.sci_mode = None


_OPTS = _Options()

_PROFILES = {
    "default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
    "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
    "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80),
}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None):
    """Set options for printing tensors (same semantics as torch.set_printoptions).

    ``profile`` ("default", "short" or "full") first resets precision, threshold,
    edgeitems and linewidth; explicitly given values then override it.
    ``sci_mode`` is always assigned: ``None`` means "choose automatically".
    """
    if profile is not None:
        try:
            preset = _PROFILES[profile]
        except KeyError:
            raise ValueError(
                f"Invalid profile {profile!r}; expected one of {sorted(_PROFILES)}") from None
        for key, val in preset.items():
            setattr(_OPTS, key, val)
    if precision is not None:
        _OPTS.precision = precision
    if threshold is not None:
        _OPTS.threshold = threshold
    if edgeitems is not None:
        _OPTS.edgeitems = edgeitems
    if linewidth is not None:
        _OPTS.linewidth = linewidth
    _OPTS.sci_mode = sci_mode


def get_printoptions() -> dict:
    """Return the current print options as a dict."""
    return {key: getattr(_OPTS, key) for key in _Options.__slots__}


@contextlib.contextmanager
def printoptions(**kwargs):
    """Context manager that temporarily changes the print options."""
    saved = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**saved)


# --------------------------------------------------------------------------
# Element formatting
# --------------------------------------------------------------------------

_FLOAT_DTYPES = {"float32", "float64", "float16", "bfloat16", "half", "double", "float"}


class _ElementFormatter:
    """Decides a common layout (int / fixed / scientific, column width) for
    all the elements that will be shown, then formats single elements."""

    def __init__(self, shown: np.ndarray, is_float: bool):
        self.is_float = is_float
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        prec = _OPTS.precision
        flat = shown.reshape(-1)

        if not is_float:
            for v in flat.tolist():
                self.width = max(self.width, len(str(v)))
            return

        finite_nz = flat[np.isfinite(flat) & (flat != 0)]
        if finite_nz.size > 0:
            mags = np.abs(finite_nz.astype(np.float64))
            lo = float(mags.min())
            hi = float(mags.max())
            vals = finite_nz.tolist()
            self.int_mode = bool(np.all(finite_nz == np.ceil(finite_nz)))
            if _OPTS.sci_mode is None:
                self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
            else:
                self.sci_mode = bool(_OPTS.sci_mode)
            if self.sci_mode:
                widths = [len(f"{v:.{prec}e}") for v in vals]
            elif self.int_mode:
                # integer-valued floats get a trailing "." (hence the +1)
                widths = [len(f"{v:.0f}") + 1 for v in vals]
            else:
                widths = [len(f"{v:.{prec}f}") for v in vals]
            self.width = max([self.width] + widths)
        # With no finite nonzero value the layout stays "int mode", width 1,
        # even when sci_mode is forced (PyTorch behaves the same way).

    def __call__(self, value) -> str:
        if self.is_float:
            prec = _OPTS.precision
            if self.sci_mode:
                text = f"{value:{self.width}.{prec}e}"
            elif self.int_mode:
                text = f"{value:.0f}"
                if math.isfinite(value):
                    text += "."
            else:
                text = f"{value:.{prec}f}"
        else:
            text = str(value)
        return text.rjust(self.width)


# --------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------

def _summary_view(a: np.ndarray) -> np.ndarray:
    """The elements that will actually be printed when summarizing."""
    e = _OPTS.edgeitems
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        if a.shape[0] > 2 * e:
            # note: a[-0:] is the whole array, matching PyTorch for edgeitems=0
            return np.concatenate((a[:e], a[-e:]))
        return a
    if not e:
        return np.empty((0,) * a.ndim, dtype=a.dtype)
    rows = range(a.shape[0])
    if a.shape[0] > 2 * e:
        rows = list(range(e)) + list(range(a.shape[0] - e, a.shape[0]))
    return np.stack([_summary_view(a[i]) for i in rows])


def _row_str(a: np.ndarray, indent: int, summarize: bool, fmt: _ElementFormatter) -> str:
    e = _OPTS.edgeitems
    per_line = max(1, int(math.floor((_OPTS.linewidth - indent) / (fmt.width + 2))))
    if summarize and not e:
        items = ["..."]
    elif summarize and a.shape[0] > 2 * e:
        items = ([fmt(v) for v in a[:e].tolist()] + [" ..."]
                 + [fmt(v) for v in a[-e:].tolist()])
    else:
        items = [fmt(v) for v in a.tolist()]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested_str(a: np.ndarray, indent: int, summarize: bool, fmt: _ElementFormatter) -> str:
    if a.ndim == 0:
        return fmt(a.item())
    if a.ndim == 1:
        return _row_str(a, indent, summarize, fmt)
    e = _OPTS.edgeitems
    n = a.shape[0]
    if summarize and n > 2 * e:
        parts = ([_nested_str(a[i], indent + 1, summarize, fmt) for i in range(e)] + ["..."]
                 + [_nested_str(a[i], indent + 1, summarize, fmt) for i in range(n - e, n)])
    else:
        parts = [_nested_str(a[i], indent + 1, summarize, fmt) for i in range(n)]
    sep = "," + "\n" * (a.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(parts) + "]"


def _body_str(a: np.ndarray, indent: int, is_float: bool) -> str:
    if a.size == 0:
        return "[]"
    summarize = a.size > _OPTS.threshold
    fmt = _ElementFormatter(_summary_view(a) if summarize else a, is_float)
    return _nested_str(a, indent, summarize, fmt)


def _join_suffixes(text: str, suffixes, indent: int) -> str:
    out = [text]
    # PyTorch's bookkeeping of the current line length (kept verbatim so that
    # wrapping decisions agree, including its off-by-two when there is no newline).
    line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if line_len + len(suffix) + 2 > _OPTS.linewidth:
            out.append(",\n" + " " * indent + suffix)
            line_len = indent + len(suffix)
        else:
            out.append(", " + suffix)
            line_len += len(suffix) + 2
    out.append(")")
    return "".join(out)


def _prepare_values(values, dtype_name: str) -> np.ndarray:
    a = np.asarray(values)
    if dtype_name in ("float16", "bfloat16", "half"):
        a = a.astype(np.float32)
    elif dtype_name in ("float32", "float"):
        if a.dtype != np.float32:
            a = a.astype(np.float32)
    elif dtype_name in ("float64", "double"):
        if a.dtype != np.float64:
            a = a.astype(np.float64)
    elif dtype_name == "bool":
        if a.dtype != np.bool_:
            a = a.astype(np.bool_)
    return a


def format_tensor(values, *, dtype_name: str, default_dtype_name: str = "float32",
                  prefix: str = "tensor(", suffixes=(), device_str: str | None = None,
                  shape=None) -> str:
    """Format tensor data the way PyTorch's ``repr(tensor)`` does.

    values            numpy array with the tensor's data (float16/bfloat16 data may
                      be given as float32).
    dtype_name        ember dtype name, e.g. "float32", "int64", "bool".
    default_dtype_name the current default floating dtype.
    prefix            text before the data, normally "tensor("; continuation lines
                      are indented by len(prefix).
    suffixes          extra trailing items such as "requires_grad=True" or
                      "grad_fn=<MulBackward0>", appended after device/size/dtype.
    device_str        e.g. "cuda:0"; printed unless None or "cpu".
    shape             optional shape override (defaults to values.shape).
    """
    a = _prepare_values(values, dtype_name)
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if a.shape != shape:
            a = a.reshape(shape)
    indent = len(prefix)
    is_float = dtype_name in _FLOAT_DTYPES
    dtype_str = "ember." + dtype_name

    extra = []
    if device_str is not None and device_str != "cpu":
        extra.append(f"device='{device_str}'")

    if a.size == 0:
        if a.ndim != 1:
            extra.append("size=" + str(tuple(a.shape)))
        if dtype_name != default_dtype_name:
            extra.append("dtype=" + dtype_str)
        body = "[]"
    else:
        if not _OPTS.edgeitems:
            extra.append("size=" + str(tuple(a.shape)))
        if dtype_name not in (default_dtype_name, "int64", "bool"):
            extra.append("dtype=" + dtype_str)
        body = _body_str(a, indent, is_float)

    extra.extend(suffixes)
    return _join_suffixes(prefix + body, extra, indent)
