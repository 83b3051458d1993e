"""MNIST (handwritten digits), read from torchvision's layout:
``root/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``."""

import os

import numpy as np

import ember

from .._pil import pil_image_module
from ._download import download_resources
from ._idx import read_idx
from .vision import VisionDataset

__all__ = ["MNIST"]


class MNIST(VisionDataset):
    """The MNIST dataset, with torchvision's signature and behaviour.

    ``root`` holds ``<ClassName>/raw/`` with the four IDX files (the ``.gz``
    files or their decompressed forms, as torchvision leaves them).
    ``train`` picks the training (60,000) or test (10,000) images;
    ``download=True`` fetches missing files from ``mirrors`` (tried in
    order, md5 checked). ``dataset[i]`` is ``(image, label)``: a PIL image
    (mode "L") when Pillow is installed, otherwise a uint8 tensor H x W,
    and the label as an int, after ``transform`` / ``target_transform``.
    ``data`` (uint8, N x 28 x 28) and ``targets`` (int64, N) are tensors.
    """

    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        if not isinstance(self.root, (str, os.PathLike)):
            raise TypeError(f"{type(self).__name__}: root should be a path (str or os.PathLike), "
                            f"got {type(root).__name__}")
        self.train = train
        if download:
            self.download()
        images, labels = self._find_files()
        self.data, self.targets = self._load(images, labels)

    @property
    def raw_folder(self):
        return os.path.join(self.root, type(self).__name__, "raw")

    @property
    def class_to_idx(self):
        return {name: i for i, name in enumerate(self.classes)}

    def _split_files(self):
        prefix = "train" if self.train else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    def _existing(self, stem):
        """The path of ``stem`` in the raw folder, decompressed or ``.gz``, or None."""
        for name in (stem, stem + ".gz"):
            path = os.path.join(self.raw_folder, name)
            if os.path.isfile(path):
                return path
        return None

    def _check_exists(self):
        return all(self._existing(os.path.splitext(name)[0]) for name, _ in self.resources)

    def _find_files(self):
        stems = self._split_files()
        paths = [self._existing(stem) for stem in stems]
        if all(paths):
            return paths
        missing = [stem + ".gz" for stem, path in zip(stems, paths) if path is None]
        raise RuntimeError(
            f"Dataset not found: {type(self).__name__} needs {' and '.join(missing)} (or the decompressed "
            f"file) in {self.raw_folder}. Use download=True to download it, or fetch it from "
            f"{self.mirrors[0] if self.mirrors else 'the dataset website'} and place it there.")

    def _load(self, images_path, labels_path):
        images = read_idx(images_path, expected_ndim=3)
        labels = read_idx(labels_path, expected_ndim=1)
        if images.dtype != np.uint8 or labels.dtype != np.uint8:
            raise RuntimeError(f"{images_path}, {labels_path}: expected uint8 IDX files, found "
                               f"{images.dtype} images and {labels.dtype} labels")
        if images.shape[0] != labels.shape[0]:
            raise RuntimeError(f"{images_path} holds {images.shape[0]} images but {labels_path} "
                               f"holds {labels.shape[0]} labels")
        return ember.from_numpy(images), ember.from_numpy(labels.astype(np.int64))

    # `data` and `targets` are tensors as in torchvision; indexing reads
    # numpy views of them (sharing memory), which costs a fraction of a
    # tensor index per sample. Assigning a new tensor (a common way to take
    # a subset) refreshes the view.
    @property
    def data(self):
        return self._data

    @data.setter
    def data(self, value):
        self._data = value
        self._data_np = value.numpy() if isinstance(value, ember.Tensor) else np.asarray(value)

    @property
    def targets(self):
        return self._targets

    @targets.setter
    def targets(self, value):
        self._targets = value
        self._targets_np = value.numpy() if isinstance(value, ember.Tensor) else np.asarray(value)

    def __len__(self):
        return len(self._data_np)

    def __getitem__(self, index):
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            if isinstance(index, ember.Tensor) and index.dim() == 0 and not index.dtype.is_floating_point:
                index = int(index.item())
            else:
                raise TypeError(f"{type(self).__name__} indices must be integers, not {type(index).__name__}")
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of bounds for {type(self).__name__} of size {n}")
        pixels, target = self._data_np[index], int(self._targets_np[index])
        image_module = pil_image_module()
        if image_module is not None:
            img = image_module.fromarray(pixels)  # uint8 H x W: mode "L"
        else:
            img = ember.from_numpy(pixels.copy())  # a copy: transforms must not write into the dataset
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def download(self):
        """Fetch the raw files missing from ``raw_folder`` (all four, as torchvision does)."""
        if self._check_exists():
            return
        download_resources(self.raw_folder, self.resources, self.mirrors, type(self).__name__)

    def extra_repr(self):
        return f"Split: {'Train' if self.train is True else 'Test'}"
