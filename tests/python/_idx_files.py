"""Tiny IDX files in torchvision's MNIST layout, so the dataset tests need
no real data: write_idx() writes one array, make_raw_folder() a whole
``root/<Name>/raw/`` with train and test splits."""

import gzip
import hashlib
import os

import numpy as np

_TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
               np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}

SPLIT_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array):
    array = np.asarray(array)
    header = bytes([0, 0, _TYPE_CODES[array.dtype], array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array, gz=None):
    """Write ``array`` as IDX to ``path`` (gzipped when the name ends in .gz)."""
    payload = idx_bytes(array)
    gz = str(path).endswith(".gz") if gz is None else gz
    with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
        f.write(payload)
    return path


def sample_split(n, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


def make_raw_folder(root, name="FashionMNIST", n_train=12, n_test=5, gz=True, seed=0):
    """Write both splits to ``root/name/raw``; returns {train: (images, labels)}."""
    raw = os.path.join(root, name, "raw")
    os.makedirs(raw, exist_ok=True)
    splits = {}
    for train, n in ((True, n_train), (False, n_test)):
        images, labels = sample_split(n, seed + train)
        image_file, label_file = SPLIT_FILES[train]
        suffix = ".gz" if gz else ""
        write_idx(os.path.join(raw, image_file + suffix), images)
        write_idx(os.path.join(raw, label_file + suffix), labels)
        splits[train] = (images, labels)
    return splits


def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()
