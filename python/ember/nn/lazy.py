"""What every lazy module shares (LazyLinear, the lazy convolutions, the lazy
batch norms): telling whether a parameter or buffer still waits for its shape."""

from .parameter import is_lazy

__all__ = ["LazyModuleMixin"]


class LazyModuleMixin:
    """Mixed in before the concrete module; the module infers its shapes in
    ``initialize_parameters`` from the first input (or a load_state_dict)."""

    def has_uninitialized_params(self):
        members = list(self._parameters.values()) + list(self._buffers.values())
        return any(is_lazy(t) for t in members if t is not None)
