"""DataLoader: batches samples from a map-style dataset.

With ``num_workers=0`` loading happens in the calling process (a
TensorDataset is batched by one gather per tensor, with no per-sample
Python work). With ``num_workers=N`` it happens in N worker processes, as in
PyTorch (``_multiprocessing_iter.py``): batches come back through shared
memory in order, each worker seeded from ember's generator.
"""

import math
import os
import warnings

import ember

from ._fetch import fetch_batch
from ._multiprocessing_iter import MultiProcessingIter, draw_base_seed, validate_context
from .collate import default_collate
from .dataset import TensorDataset

__all__ = ["DataLoader", "default_collate"]


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size``.

    ``shuffle=True`` draws a fresh permutation from ember's global generator
    (``ember.randperm``) at the start of every pass, so ``ember.manual_seed``
    makes the order reproducible. ``drop_last`` drops a final short batch.
    ``batch_size=None`` yields single samples, passed through
    ``default_convert`` (numpy arrays become tensors) unless a
    ``collate_fn`` is given.

    ``num_workers=N`` loads in N worker processes, as PyTorch: each batch
    is fetched and collated in a worker and arrives through shared memory,
    in order (``in_order=False``: as they come); at most ``prefetch_factor``
    batches per worker are in flight. Each worker is seeded with a base
    seed drawn from ember's generator plus its id (``random``, numpy and
    ember), ``worker_init_fn(worker_id)`` runs first and
    ``get_worker_info()`` describes the worker. An exception in a worker is
    raised here with the worker's traceback; a worker that dies raises a
    RuntimeError, as does waiting longer than ``timeout`` seconds (0: no
    limit). Workers end with the pass, unless ``persistent_workers``.
    ``multiprocessing_context`` picks the start method ('fork' by default
    on Linux; 'spawn' and 'forkserver' need a picklable dataset).
    ``generator`` is not supported (seed with ``ember.manual_seed``);
    ``pin_memory`` is accepted and has no effect on the CPU.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False,
                 timeout=0, worker_init_fn=None, multiprocessing_context=None,
                 generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if isinstance(num_workers, bool) or not isinstance(num_workers, int):
            raise TypeError(f"num_workers option should be an int, got {type(num_workers).__name__}")
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; "
                             "use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set "
                             "prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and (isinstance(prefetch_factor, bool) or not isinstance(prefetch_factor, int)
                                            or prefetch_factor < 1):
            raise ValueError(f"prefetch_factor option should be a positive int, got {prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None:
            if num_workers == 0:
                raise ValueError("multiprocessing_context can only be used with multi-process loading "
                                 f"(num_workers > 0), but got num_workers={num_workers}")
            validate_context(multiprocessing_context)
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
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self._iterator = None  # the persistent workers' iterator
        if num_workers > 0:
            _warn_if_too_many_workers(num_workers)

    @property
    def _auto_collation(self):
        return self.batch_size is not None or self.batch_sampler is not None

    def _multiprocessing_context(self):
        return validate_context(self.multiprocessing_context)

    def _tasks(self):
        """What each batch is made from: a list of indices per batch, or
        single indices when batches are not collated (batch_size=None)."""
        if self._auto_collation:
            return self._batches_of_indices()
        return self._indices()

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
        if self.num_workers == 0:
            return self._single_process_iter()
        if self.persistent_workers:
            if self._iterator is None or not self._iterator._workers_alive:
                self._iterator = MultiProcessingIter(self)
            else:
                self._iterator._reset(self)
            return self._iterator
        return MultiProcessingIter(self)

    def _single_process_iter(self):
        # The draw a multi-process iterator makes for its workers' seeds, made
        # here too (as PyTorch does), so that a seeded shuffle gives the same
        # order whatever num_workers is.
        draw_base_seed()
        if not self._auto_collation:
            for i in self._indices():
                yield fetch_batch(self.dataset, i, self.collate_fn, auto_collation=False)
            return
        if type(self.dataset) is TensorDataset and self.collate_fn is None \
                and self.sampler is None and self.batch_sampler is None:
            yield from self._tensor_batches(self.dataset.tensors)
            return
        for idx in self._batches_of_indices():
            yield fetch_batch(self.dataset, idx, self.collate_fn, auto_collation=True)

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


def _warn_if_too_many_workers(num_workers):
    """PyTorch's warning when there are more workers than usable cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count()
    if cores is not None and num_workers > cores:
        warnings.warn(
            f"This DataLoader will create {num_workers} worker processes in total. Our suggested max number "
            f"of worker in current system is {cores}, which is smaller than what this DataLoader is going "
            "to create. Please be aware that excessive worker creation might get DataLoader running slow "
            "or even freeze, lower the worker number to avoid potential slowness/freeze if necessary.",
            UserWarning, stacklevel=3)
