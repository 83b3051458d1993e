"""ember.utils: data loading helpers and DLPack interchange."""

from . import data, dlpack

__all__ = ["data", "dlpack"]
