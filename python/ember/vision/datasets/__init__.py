"""Datasets with torchvision's signatures and on-disk layout."""

from .fashion_mnist import FashionMNIST
from .mnist import MNIST
from .vision import VisionDataset

__all__ = ["MNIST", "FashionMNIST", "VisionDataset"]
