"""DistributedDataParallel: the same module on every rank, each on its own
share of the batch, with gradients averaged across ranks during backward.

At construction rank 0's parameters and buffers are broadcast to every
rank. Gradients are averaged in buckets (see _reducer.py) whose
all-reduces start during backward, so communication overlaps computation.
After backward every rank holds the same averaged .grad, so the same
optimizer step keeps the replicas identical.

state_dict() keys carry the "module." prefix, exactly as PyTorch's DDP
(the wrapped module is the child named `module`); save
`ddp.module.state_dict()` for a checkpoint that loads into the bare model.
"""
import contextlib

import ember

from ... import distributed as dist
from ..module import Module
from ._reducer import Reducer


def _devices_of(module):
    return {p.device for p in module.parameters()} | {b.device for b in module.buffers()}


class DistributedDataParallel(Module):
    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, **kwargs):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel expects an ember.nn.Module, got {type(module).__name__}")
        if not dist.is_initialized():
            raise ValueError("Default process group has not been initialized, please make sure to call "
                             "init_process_group.")
        if kwargs:
            raise TypeError(f"DistributedDataParallel got unexpected arguments: {sorted(kwargs)}")
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any parameter "
                               "that requires a gradient.")
        devices = _devices_of(module)
        self._check_devices(devices, device_ids, output_device)
        if bucket_cap_mb is None:
            bucket_cap_mb = 25
        if not isinstance(bucket_cap_mb, (int, float)) or isinstance(bucket_cap_mb, bool) or bucket_cap_mb <= 0:
            raise ValueError(f"bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
        self.module = module
        self.device_ids = device_ids
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.process_group = process_group
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.bucket_bytes_cap = int(bucket_cap_mb * 1024 * 1024)
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self._sync_module_states()
        seen, named = set(), []
        for name, p in module.named_parameters():
            if p.requires_grad and id(p) not in seen:  # a tied parameter is one parameter, reduced once
                seen.add(id(p))
                named.append((name, p))
        object.__setattr__(self, "reducer", Reducer(named, process_group, self.bucket_bytes_cap,
                                                    find_unused_parameters, gradient_as_bucket_view))

    @staticmethod
    def _check_devices(devices, device_ids, output_device):
        types = {d.type for d in devices}
        if len(devices) > 1:
            raise ValueError(f"DistributedDataParallel's input module must be on one device, found parameters and "
                             f"buffers on {sorted(str(d) for d in devices)}")
        if types == {"cpu"} and (device_ids or output_device is not None):
            raise ValueError(f"DistributedDataParallel device_ids and output_device arguments only work with "
                             f"single-device/multiple-device GPU modules or CPU modules, but got device_ids "
                             f"{device_ids}, output_device {output_device}, and module parameters "
                             f"{sorted(str(d) for d in devices)}.")
        if types == {"cuda"} and device_ids is not None:
            if len(device_ids) != 1:
                raise ValueError(f"device_ids can only be None or contain a single element, got {device_ids}")
            want = ember.device(device_ids[0] if not isinstance(device_ids[0], int) else f"cuda:{device_ids[0]}")
            (have,) = devices
            if want != have:
                raise ValueError(f"device_ids {device_ids} names {want} but the module is on {have}")

    def _sync_module_states(self):
        """Rank 0's parameters and buffers, on every rank."""
        with ember.no_grad():
            for t in list(self.module.parameters()) + list(self.module.buffers()):
                dist.broadcast(t.detach(), 0, group=self.process_group)

    def forward(self, *inputs, **kwargs):
        reducer = self.__dict__["reducer"]
        grad_sync = ember.is_grad_enabled() and self.require_backward_grad_sync
        if ember.is_grad_enabled():
            reducer.check_prior_finished()
        if self.broadcast_buffers and self.require_forward_param_sync:
            buffers = list(self.module.buffers())
            if buffers:
                with ember.no_grad():
                    for b in buffers:
                        dist.broadcast(b.detach(), 0, group=self.process_group)
        output = self.module(*inputs, **kwargs)
        if grad_sync:
            reducer.prepare_for_backward(output)
        return output

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside accumulate gradients locally, without
        communication; the first synchronized backward after it averages the
        accumulated gradients."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def extra_repr(self):
        return ""
