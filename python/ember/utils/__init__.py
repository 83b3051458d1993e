"""ember.utils: data loading helpers."""

from . import data

__all__ = ["data"]
