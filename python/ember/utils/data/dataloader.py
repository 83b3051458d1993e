"""DataLoader: batches samples from a map-style dataset.

Loading happens in the calling process; ``num_workers`` and the other
multiprocessing options are accepted for compatibility and ignored (ember's
tensors are already in memory, and D2L's loaders only read in-memory data).
"""

from collections.abc import Mapping, Sequence
import math

import ember

from .dataset import TensorDataset

__all__ = ["DataLoader", "default_collate"]


def default_collate(batch):
    """Merge a list of samples into a batch, as PyTorch's default_collate does.

    Tensors are stacked along a new dim 0; Python ints become an int64
    tensor, floats float64, bools bool; strings stay a list; tuples, lists
    and dicts are collated field by field (tuples come back as lists).
    ``batch`` is a list or tuple of samples.
    """
    elem = batch[0]
    if isinstance(elem, ember.Tensor):
        return ember.stack(list(batch), 0)
    if isinstance(elem, bool):
        return ember.tensor(list(batch), dtype=ember.bool)
    if isinstance(elem, int):
        return ember.tensor(list(batch), dtype=ember.int64)
    if isinstance(elem, float):
        return ember.tensor(list(batch), dtype=ember.float64)
    if isinstance(elem, (str, bytes)):
        return batch  # left as the list (or, inside a tuple sample, tuple) it came in
    if type(elem).__module__ == "numpy":
        import numpy as np

        if isinstance(elem, np.ndarray) or np.isscalar(elem) or isinstance(elem, np.generic):
            return ember.tensor(np.stack([np.asarray(b) for b in batch]))
    if isinstance(elem, Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(samples) for samples in zip(*batch)]
    raise TypeError(
        "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
        f"lists; found {type(elem)}"
    )


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size``.

    ``shuffle=True`` draws a fresh permutation from ember's global generator
    (``ember.randperm``) at the start of every pass, so ``ember.manual_seed``
    makes the order reproducible. ``drop_last`` drops a final short batch.
    ``batch_size=None`` yields single samples without collating them into a
    batch.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False,
                 timeout=0, worker_init_fn=None, multiprocessing_context=None,
                 generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
            batch_size = None
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if generator is not None:
            raise NotImplementedError("DataLoader: generator= is not supported; "
                                      "seed with ember.manual_seed")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers  # ignored: loading runs in this process
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.pin_memory = pin_memory

    def _indices(self):
        if self.sampler is not None:
            return list(self.sampler)
        n = len(self.dataset)
        if self.shuffle:
            return ember.randperm(n).tolist()
        return range(n)

    def _batches_of_indices(self):
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        indices = self._indices()
        for start, end in self._batch_bounds(len(indices)):
            yield indices[start:end]

    def _batch_bounds(self, n):
        """[start, end) of each batch over n samples (a short last batch
        unless drop_last)."""
        bs = self.batch_size
        stop = n - n % bs if self.drop_last else n
        for start in range(0, stop, bs):
            yield start, min(start + bs, n)

    def __iter__(self):
        if self.batch_size is None and self.batch_sampler is None:
            collate = self.collate_fn
            for i in self._indices():
                sample = self.dataset[i]
                yield collate(sample) if collate is not None else sample
            return
        fast = type(self.dataset) is TensorDataset and self.collate_fn is None
        if fast:
            tensors = self.dataset.tensors
            if self.sampler is None and self.batch_sampler is None:
                yield from self._tensor_batches(tensors)
                return
        collate = self.collate_fn or default_collate
        for idx in self._batches_of_indices():
            if fast:
                # One gather per tensor instead of stacking single rows; the
                # result equals default_collate of the individual samples.
                index = ember.tensor(list(idx), dtype=ember.int64)
                yield [t[index] for t in tensors]
            else:
                yield collate([self.dataset[i] for i in idx])

    def _tensor_batches(self, tensors):
        """Batches of a TensorDataset without per-sample Python work: a copied
        slice per batch in order, or one row gather per tensor with a slice
        of the shuffled permutation as the index. Equal to default_collate
        of the individual samples."""
        n = len(self.dataset)
        order = ember.randperm(n) if self.shuffle else None
        for start, end in self._batch_bounds(n):
            if order is None:
                # A copy, as collating would make: an in-place change to the
                # batch must not reach the dataset.
                yield [t[start:end].clone() for t in tensors]
            else:
                index = order[start:end]
                yield [t[index] for t in tensors]

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        if self.drop_last:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)
