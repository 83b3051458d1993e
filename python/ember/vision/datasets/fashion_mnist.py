"""Fashion-MNIST (Zalando's clothing images, D2L's dataset from chapter
3.5 on), a drop-in replacement for MNIST with the same file names, read from
``root/FashionMNIST/raw/``."""

from .mnist import MNIST

__all__ = ["FashionMNIST"]


class FashionMNIST(MNIST):
    """The Fashion-MNIST dataset, with torchvision's signature and behaviour
    (see MNIST for the arguments and the sample format)."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
