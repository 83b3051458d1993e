"""DistributedSampler: each rank iterates over its own share of a dataset,
as PyTorch's torch.utils.data.distributed.DistributedSampler.

Every rank draws the same permutation (seeded by seed + epoch, so call
set_epoch(e) each epoch for a new one), pads it by repeating its start
until it divides evenly (or, with drop_last, cuts the tail) and takes every
num_replicas-th index from its rank on. The permutation comes from numpy's
PCG64 generator, so the order differs from PyTorch's (whose generator ember
does not reproduce); coverage, padding and sizes are the same.
"""
import math

import numpy as np


class DistributedSampler:
    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            from ... import distributed as dist
            if not dist.is_initialized():
                raise RuntimeError("Requires distributed package to be available")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        for value, what in ((num_replicas, "num_replicas"), (rank, "rank"), (seed, "seed")):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{what} must be an int, got {type(value).__name__}")
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be positive, got {num_replicas}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        assert len(indices) == self.total_size
        indices = indices[self.rank:self.total_size:self.num_replicas]
        assert len(indices) == self.num_samples
        return iter(indices)

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """A new shuffle for each epoch (the same on every rank)."""
        self.epoch = epoch
