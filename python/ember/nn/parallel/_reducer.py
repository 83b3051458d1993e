"""Gradient buckets of DistributedDataParallel.

Parameters are packed into buckets in reverse registration order (the
order backward usually produces their gradients), per dtype, a small first
bucket (1 MiB) so that communication starts early and the rest up to
bucket_cap_mb. Each parameter's post-accumulate-grad hook marks it ready; a
full bucket is averaged with an asynchronous all_reduce at once, while
backward goes on computing. Buckets are launched strictly in index order,
which keeps every rank's sequence of collectives identical even if their
gradients become ready in a different order. The hook of the last expected
gradient waits for all buckets and writes the averages back into .grad.

The reducer only speaks to ember.distributed's process-group API, never to
an engine, so it runs on MPI and NCCL alike.
"""
import ember

from ... import distributed as dist

_FIRST_BUCKET_BYTES = 1 << 20


class _Bucket:
    def __init__(self, index, params, dtype, device):
        self.index = index
        self.params = params
        self.offsets = []
        total = 0
        for p in params:
            self.offsets.append(total)
            total += p.numel()
        self.flat = ember.zeros(total, dtype=dtype, device=device)
        self.views = [self.flat[o:o + p.numel()].view(list(p.shape)) for o, p in zip(self.offsets, params)]
        self.pending = 0
        self.work = None


class Reducer:
    def __init__(self, named_params, process_group, bucket_cap_bytes, find_unused_parameters,
                 gradient_as_bucket_view):
        self.group = process_group
        self.world = dist.get_world_size(process_group)
        self.find_unused = find_unused_parameters
        self.as_view = gradient_as_bucket_view
        self.names = {id(p): name for name, p in named_params}
        self.params = [p for _, p in named_params]
        self.buckets = self._build(bucket_cap_bytes)
        self.where = {}
        for b in self.buckets:
            for i, p in enumerate(b.params):
                self.where[id(p)] = (b, i)
        self.handles = [p.register_post_accumulate_grad_hook(self._on_ready) for p in self.params]
        self.active = False       # an iteration expecting gradients is under way
        self.started = False      # ... and at least one gradient has arrived
        self.ready = set()
        self.locally_used = set()
        self.next_launch = 0

    def _build(self, cap):
        buckets, current, size, dtype, device = [], [], 0, None, None
        limit = min(_FIRST_BUCKET_BYTES, cap)
        for p in reversed(self.params):
            nbytes = p.numel() * p.element_size()
            if current and (p.dtype != dtype or p.device != device or size + nbytes > limit):
                buckets.append(_Bucket(len(buckets), current, dtype, device))
                current, size, limit = [], 0, cap
            current.append(p)
            size += nbytes
            dtype, device = p.dtype, p.device
        if current:
            buckets.append(_Bucket(len(buckets), current, dtype, device))
        return buckets

    # ------------------------------------------------------------ iteration

    def check_prior_finished(self):
        # As PyTorch: an iteration counts once a gradient arrived, so a
        # forward without backward (evaluation with grad mode on) is fine.
        if not self.active or not self.started:
            return
        missing = [self.names[id(p)] for p in self.params if id(p) not in self.ready]
        self.active = False
        raise RuntimeError(
            "Expected to have finished reduction in the prior iteration before starting a new one. This error "
            "indicates that your module has parameters that were not used in producing loss. Parameters that "
            f"did not receive a gradient on rank {dist.get_rank()}: {', '.join(missing)}. Pass "
            "find_unused_parameters=True to DistributedDataParallel, or make sure every forward output takes "
            "part in the loss (or call backward() once per forward).")

    def prepare_for_backward(self, outputs):
        self.active = True
        self.started = False
        self.ready = set()
        self.next_launch = 0
        for b in self.buckets:
            b.pending = len(b.params)
            b.work = None
        self.locally_used = set(id(p) for p in self.params)
        if self.find_unused:
            reached = _reachable_leaves(outputs)
            unused = [p for p in self.params if id(p) not in reached]
            self.locally_used -= set(id(p) for p in unused)
            for p in unused:
                self._mark(p)

    def _on_ready(self, p):
        if not self.active or id(p) in self.ready:
            return
        self.started = True
        self._mark(p)

    def _mark(self, p):
        bucket, _ = self.where[id(p)]
        self.ready.add(id(p))
        bucket.pending -= 1
        while self.next_launch < len(self.buckets) and self.buckets[self.next_launch].pending == 0:
            self._launch(self.buckets[self.next_launch])
            self.next_launch += 1
        if self.next_launch == len(self.buckets):
            self._finish()

    def _launch(self, bucket):
        with ember.no_grad():
            for p, view in zip(bucket.params, bucket.views):
                g = p.grad
                if g is None:
                    view.zero_()
                elif not (self.as_view and g.data_ptr() == view.data_ptr()):
                    view.copy_(g)
            bucket.flat.div_(self.world)
        # The last bucket is waited for at once: running it synchronously
        # saves the hand-off to the communication thread (it still queues
        # behind unfinished buckets, so the order of calls is kept).
        last = bucket.index == len(self.buckets) - 1
        bucket.work = dist.all_reduce(bucket.flat, group=self.group, async_op=not last)

    def _finish(self):
        self.active = False
        globally_used = None
        if self.find_unused:
            used = ember.tensor([1 if id(p) in self.locally_used else 0 for p in self.params], dtype=ember.int32)
            dist.all_reduce(used, group=self.group)
            globally_used = {id(p) for p, u in zip(self.params, used.tolist()) if u > 0}
        for bucket in self.buckets:
            if bucket.work is not None:
                bucket.work.wait()
        with ember.no_grad():
            for bucket in self.buckets:
                for p, view in zip(bucket.params, bucket.views):
                    if globally_used is not None and id(p) not in globally_used:
                        continue  # unused on every rank: .grad stays as it was, as in PyTorch
                    if self.as_view:
                        if p.grad is None or p.grad.data_ptr() != view.data_ptr():
                            p.grad = view
                    elif p.grad is None:
                        p.grad = view.clone()
                    else:
                        p.grad.copy_(view)


def _reachable_leaves(outputs):
    """ids of the leaf tensors whose AccumulateGrad nodes the outputs' graph reaches."""
    stack, seen, leaves = [], set(), set()
    visited = []  # keeps each node's wrapper alive, so no id() is reused during the walk
    for t in _tensors(outputs):
        if t.grad_fn is not None:
            stack.append(t.grad_fn)
        elif t.requires_grad:
            leaves.add(id(t))
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        visited.append(node)
        if type(node).__name__ == "AccumulateGrad":
            leaves.add(id(node.variable))
            continue
        for nxt, _ in node.next_functions:
            if nxt is not None:
                stack.append(nxt)
    return leaves


def _tensors(obj):
    if isinstance(obj, ember.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)
