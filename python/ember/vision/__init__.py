"""ember.vision: the datasets and image transforms of D2L's vision chapters,
after torchvision's (same names, signatures, file layout and reprs).

``ember.vision.datasets`` reads MNIST and Fashion-MNIST from torchvision's
folder layout; ``ember.vision.transforms`` holds ToTensor, Resize,
Normalize, Compose and Lambda. Neither needs torch or torchvision; Pillow is
optional (without it a sample is a uint8 tensor instead of a PIL image).
"""

from . import datasets, transforms

__all__ = ["datasets", "transforms"]
