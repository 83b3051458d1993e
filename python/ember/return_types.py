"""Named tuple types of multi-output ops (ember.return_types.max, ...)."""
from ._return_types import max, min, sort, topk  # noqa: F401,A004
