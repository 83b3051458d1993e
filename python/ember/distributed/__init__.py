"""ember.distributed: data-parallel training across processes, with
PyTorch's torch.distributed API, on Open MPI (CPU tensors, through mpi4py)
and NCCL (CUDA tensors, loaded at run time).

Start the ranks with `python -m ember.distributed.run --nproc-per-node N
script.py` (torchrun's flags) or `mpirun -np N python script.py`. The
backend name 'gloo' of PyTorch CPU scripts is accepted and runs on MPI.
"""
from ._collectives import (Backend, GroupMember, ProcessGroup, Work, all_gather, all_gather_into_tensor,
                           all_reduce, barrier, broadcast, gather, group, irecv, isend, recv, reduce,
                           reduce_scatter_tensor, scatter, send)
from ._objects import all_gather_object, broadcast_object_list
from ._group import DistributedError, DistributedTimeoutError, ReduceOp
from ._init import (destroy_process_group, get_backend, get_global_rank, get_process_group_ranks, get_rank,
                    get_world_size, init_process_group, is_available, is_gloo_available, is_initialized,
                    is_mpi_available, is_nccl_available, new_group)

DistBackendError = DistributedError

__all__ = [
    "init_process_group", "destroy_process_group", "is_available", "is_initialized", "is_mpi_available",
    "is_gloo_available", "is_nccl_available", "get_rank", "get_world_size", "get_backend", "new_group",
    "get_process_group_ranks", "get_global_rank", "group", "GroupMember", "ProcessGroup", "Backend", "Work",
    "ReduceOp", "all_reduce", "broadcast", "reduce", "all_gather", "all_gather_into_tensor",
    "reduce_scatter_tensor", "gather", "scatter", "send", "recv", "isend", "irecv", "barrier",
    "all_gather_object", "broadcast_object_list",
    "DistributedError", "DistributedTimeoutError", "DistBackendError",
]
