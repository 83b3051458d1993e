"""Named results of ops that return several tensors, as in torch.return_types."""
from collections import namedtuple


def _make(name):
    base = namedtuple(name, ["values", "indices"])

    def __repr__(self):
        return f"ember.return_types.{name}(\nvalues={self.values!r},\nindices={self.indices!r})"

    return type(name, (base,), {"__slots__": (), "__repr__": __repr__})


max = _make("max")  # noqa: A001 - the public name mirrors PyTorch
min = _make("min")  # noqa: A001
sort = _make("sort")
topk = _make("topk")
