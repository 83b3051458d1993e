"""ember.utils.data: datasets, the DataLoader and DistributedSampler."""

from . import distributed

from .dataloader import DataLoader, default_collate
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .distributed import DistributedSampler

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
           "DataLoader", "default_collate", "DistributedSampler"]
