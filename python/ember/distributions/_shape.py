"""sample_shape handling shared by the distributions."""


def sample_shape(shape):
    if isinstance(shape, int):
        return [shape]
    return list(shape)
