"""Turning a task (the indices of one batch) into a batch: shared by the
single-process loader and the worker processes."""

import ember

from .collate import default_collate, default_convert
from .dataset import TensorDataset

__all__ = ["fetch_batch"]


def fetch_batch(dataset, indices, collate_fn, auto_collation):
    """The collated samples at ``indices`` (a list), or with
    ``auto_collation`` off (``batch_size=None``) the one sample at
    ``indices`` (an index) passed through ``collate_fn`` (default:
    default_convert, as PyTorch)."""
    if not auto_collation:
        return (collate_fn or default_convert)(dataset[indices])
    if collate_fn is None and type(dataset) is TensorDataset:
        # One gather per tensor instead of stacking single rows; equal to
        # default_collate of the individual samples.
        index = ember.tensor(list(indices), dtype=ember.int64)
        return [t[index] for t in dataset.tensors]
    return (collate_fn or default_collate)([dataset[i] for i in indices])
