"""The IDX file format of the MNIST family (http://yann.lecun.com/exdb/mnist/).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the
number of dimensions), one big-endian uint32 per dimension, then the values
in row-major order, big-endian. Everything is checked against the file's
real length before any array is built, so a truncated or corrupt download
names its file instead of surfacing as a reshape error or garbage images.
"""

import gzip
import os
import zlib

import numpy as np

__all__ = ["read_idx", "IDX_DTYPES"]

# Type code -> big-endian numpy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _file_bytes(path):
    """The file's decompressed contents (a ``.gz`` name is gunzipped)."""
    if str(path).endswith(".gz"):
        try:
            with gzip.open(path, "rb") as f:
                return f.read()
        except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
            raise RuntimeError(f"{path}: corrupt gzip file ({err}); delete it and download it again") from None
    with open(path, "rb") as f:
        return f.read()


def read_idx(path, expected_ndim):
    """The array stored in the IDX file at ``path`` (native byte order,
    writable), which must have ``expected_ndim`` dimensions.

    Raises RuntimeError naming the file when the magic number, the type
    code, the number of dimensions or the file's length is wrong.
    """
    data = _file_bytes(path)
    name = os.fspath(path)
    if len(data) < 4:
        raise RuntimeError(f"{name}: not an IDX file: {len(data)} bytes, shorter than the 4-byte header")
    if data[0] != 0 or data[1] != 0:
        raise RuntimeError(f"{name}: not an IDX file: magic number starts with bytes "
                           f"{data[0]:#04x} {data[1]:#04x}, expected 0x00 0x00")
    type_code, ndim = data[2], data[3]
    if type_code not in IDX_DTYPES:
        raise RuntimeError(f"{name}: unknown IDX type code {type_code:#04x} "
                           f"(known: {', '.join(f'{c:#04x}' for c in IDX_DTYPES)})")
    if ndim != expected_ndim:
        raise RuntimeError(f"{name}: IDX file has {ndim} dimensions, expected {expected_ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise RuntimeError(f"{name}: truncated IDX header: {len(data)} bytes, the header alone needs {header}")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise RuntimeError(f"{name}: IDX header says shape {shape} of {dtype.itemsize}-byte values "
                           f"({expected} bytes with the header), but the file holds {len(data)} bytes")
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))  # a native, writable copy
