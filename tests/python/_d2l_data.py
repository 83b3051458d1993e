"""Synthetic stand-ins for D2L's Fashion-MNIST, so the chapter tests need
no downloads."""
import numpy as np


def synthetic_images(n, seed):
    """Class c = a fixed random +-0.5 pattern plus Gaussian noise (std 0.5)."""
    rs = np.random.RandomState(seed)
    protos = (np.random.RandomState(123).rand(10, 1, 28, 28) > 0.5).astype(np.float32)
    y = rs.randint(0, 10, size=n).astype(np.int64)
    X = (protos[y] - 0.5) + rs.randn(n, 1, 28, 28).astype(np.float32) * 0.5
    return X.astype(np.float32), y
