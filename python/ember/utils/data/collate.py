"""default_collate: merges a list of samples into a batch, as PyTorch's does.

Besides ember tensors it stacks numpy arrays and, for readers who keep
torchvision's datasets, torch tensors (converted through numpy, so the
batch is an ember tensor that ember's models can train on).
"""

from collections.abc import Mapping, Sequence
import re
import sys

import ember

from ._shared_transport import shared_empty
from ._worker import shared_memory_pool

__all__ = ["default_collate", "default_convert"]

_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
# numpy dtypes that hold strings or Python objects: PyTorch refuses them too.
_STRING_OR_OBJECT_DTYPE = re.compile(r"[SaUO]")


def _is_torch_tensor(obj):
    torch = sys.modules.get("torch")  # a torch tensor means torch is already imported
    return torch is not None and isinstance(obj, torch.Tensor)


def _ember_from_torch(tensor):
    """An ember tensor with the values of a CPU or CUDA torch tensor (no
    gradient history), sharing memory where numpy can."""
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
        return ember.from_numpy(tensor.float().numpy()).to(ember.bfloat16)
    return ember.from_numpy(tensor.numpy())


def default_convert(data):
    """Turn numpy arrays (and torch tensors) into ember tensors, inside
    dicts, lists, tuples and namedtuples too; anything else is left as it
    is. What a DataLoader applies to single samples (``batch_size=None``)
    when no ``collate_fn`` is given, as PyTorch's default_convert."""
    if isinstance(data, ember.Tensor):
        return data
    if _is_torch_tensor(data):
        return _ember_from_torch(data)
    if type(data).__module__ == "numpy":
        import numpy as np

        if isinstance(data, np.ndarray):
            if _STRING_OR_OBJECT_DTYPE.search(data.dtype.str) is not None:
                return data
            return ember.from_numpy(np.ascontiguousarray(data))
        if isinstance(data, np.generic) and _STRING_OR_OBJECT_DTYPE.search(data.dtype.str) is None:
            return ember.from_numpy(np.asarray(data))
        return data
    if isinstance(data, Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # PyTorch returns a list here too
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return [default_convert(d) for d in data]
    return data


def _stack_in_shared_memory(arrays):
    """``np.stack(arrays)`` written straight into shared memory, as an ember
    tensor. In a worker this saves a copy: the batch is sent as its file's
    descriptor (PyTorch's collate does the same in workers)."""
    import numpy as np

    out = shared_empty(shared_memory_pool(), (len(arrays),) + arrays[0].shape, arrays[0].dtype)
    np.stack(arrays, out=out.numpy())
    return out


def _stack_tensors(tensors):
    if shared_memory_pool() is not None:
        first = tensors[0]
        if (first.device.type == "cpu" and first.dtype != ember.bfloat16 and not first.requires_grad
                and all(t.dtype == first.dtype and t.shape == first.shape and t.device == first.device
                        and not t.requires_grad for t in tensors)):
            return _stack_in_shared_memory([t.numpy() for t in tensors])
    return ember.stack(tensors, 0)  # also the error for mismatched samples


def _stack_arrays(arrays):
    import numpy as np

    arrays = [np.asarray(a) for a in arrays]
    if shared_memory_pool() is not None and all(a.shape == arrays[0].shape and a.dtype == arrays[0].dtype
                                             for a in arrays):
        return _stack_in_shared_memory(arrays)
    return ember.from_numpy(np.ascontiguousarray(np.stack(arrays)))


def default_collate(batch):
    """Merge a list of samples into a batch, as PyTorch's default_collate does.

    Tensors are stacked along a new dim 0 (torch tensors become ember
    tensors); numpy arrays are stacked into a tensor; Python ints become an
    int64 tensor, floats float64, bools bool; strings stay a list; tuples,
    lists and dicts are collated field by field (tuples come back as lists).
    ``batch`` is a list or tuple of samples.
    """
    elem = batch[0]
    if isinstance(elem, ember.Tensor):
        return _stack_tensors(list(batch))
    if _is_torch_tensor(elem):
        import torch

        return _ember_from_torch(torch.stack(list(batch), 0))
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

        if isinstance(elem, np.ndarray) or isinstance(elem, np.generic):
            if _STRING_OR_OBJECT_DTYPE.search(elem.dtype.str) is not None:
                raise TypeError(_ERROR.format(elem.dtype))
            return _stack_arrays(batch)
    if isinstance(elem, Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(samples) for samples in zip(*batch)]
    raise TypeError(_ERROR.format(type(elem)))
