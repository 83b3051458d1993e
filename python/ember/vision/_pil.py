"""Pillow is optional: one place that says whether it is there."""

import functools


@functools.lru_cache(maxsize=None)
def pil_image_module():
    """``PIL.Image``, or None when Pillow is not installed."""
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def is_pil_image(obj):
    image = pil_image_module()
    return image is not None and isinstance(obj, image.Image)
