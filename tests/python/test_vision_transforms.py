"""ember.vision.transforms against what torchvision computes: Pillow's own
resize for PIL images, PyTorch's interpolate (the kernel torchvision's
tensor Resize calls) for tensors, and torchvision itself where it imports."""

import numpy as np
import pytest

import ember
from ember.vision import transforms as T

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")
F = torch.nn.functional


def _torchvision_transforms():
    try:  # a torchvision built for another torch fails with other errors than ImportError
        import torchvision.transforms as tvt
    except Exception as exc:
        pytest.skip(f"torchvision is not usable here: {exc}")
    return tvt


def _gray(h, w, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8))


def _rgb(h, w, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _reference_to_tensor(array):
    """torchvision's ToTensor on an H x W x C uint8 array."""
    return torch.from_numpy(array).permute(2, 0, 1).contiguous().float().div(255)


@pytest.mark.parametrize("image", [_gray(5, 7), _rgb(4, 6)])
def test_to_tensor_pil(image):
    out = T.ToTensor()(image)
    array = np.array(image).reshape(image.size[1], image.size[0], -1)
    assert out.dtype == ember.float32
    np.testing.assert_array_equal(out.numpy(), _reference_to_tensor(array).numpy())


def test_to_tensor_pil_modes():
    bits = Image.fromarray(np.array([[0, 1], [1, 0]], dtype=bool))
    np.testing.assert_array_equal(T.ToTensor()(bits).numpy(), [[[0.0, 1.0], [1.0, 0.0]]])
    floats = Image.fromarray(np.array([[0.5, -2.0]], dtype=np.float32))
    out = T.ToTensor()(floats)
    assert out.dtype == ember.float32 and out.tolist() == [[[0.5, -2.0]]]
    ints = Image.fromarray(np.array([[70000, 3]], dtype=np.int32))
    out = T.ToTensor()(ints)
    assert out.dtype == ember.int32 and out.tolist() == [[[70000, 3]]]


def test_to_tensor_numpy_and_uint8_tensor():
    hwc = np.random.default_rng(1).integers(0, 256, (3, 4, 2), dtype=np.uint8)
    np.testing.assert_array_equal(T.ToTensor()(hwc).numpy(), _reference_to_tensor(hwc).numpy())
    hw = hwc[:, :, 0]
    np.testing.assert_array_equal(T.ToTensor()(hw).numpy(), _reference_to_tensor(hw[:, :, None]).numpy())
    floats = np.random.default_rng(2).random((3, 4, 2))
    out = T.ToTensor()(floats)
    assert out.dtype == ember.float64  # non-uint8 arrays keep dtype and values, as torchvision
    np.testing.assert_array_equal(out.numpy(), floats.transpose(2, 0, 1))
    # The sample form without Pillow: a uint8 H x W tensor.
    out = T.ToTensor()(ember.from_numpy(hw.copy()))
    np.testing.assert_array_equal(out.numpy(), _reference_to_tensor(hw[:, :, None]).numpy())


def test_to_tensor_against_torchvision():
    tvt = _torchvision_transforms()
    image = _rgb(5, 3)
    np.testing.assert_array_equal(T.ToTensor()(image).numpy(), tvt.ToTensor()(image).numpy())


def test_to_tensor_bad_inputs():
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()([[1, 2]])
    with pytest.raises(ValueError, match="2/3 dimensional. Got 4"):
        T.ToTensor()(np.zeros((1, 2, 3, 4), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        T.ToTensor()(ember.zeros(3, 4))


@pytest.mark.parametrize("size, expected", [(10, (15, 10)), ((10,), (15, 10)), ((8, 12), (8, 12)), (40, (60, 40))])
def test_resize_pil_matches_pillow(size, expected):
    image = _gray(30, 20)  # h=30, w=20: an int resizes the smaller edge (w)
    out = T.Resize(size)(image)
    assert isinstance(out, Image.Image) and (out.size[1], out.size[0]) == expected
    ref = image.resize((expected[1], expected[0]), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))


def test_resize_pil_nearest_and_same_size():
    image = _rgb(9, 13)
    out = T.Resize((4, 5), interpolation=T.InterpolationMode.NEAREST)(image)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(image.resize((5, 4), Image.Resampling.NEAREST)))
    assert T.Resize(9)(image) is image
    exact = T.Resize((4, 5), interpolation=T.InterpolationMode.NEAREST_EXACT)(image)
    np.testing.assert_array_equal(np.asarray(exact), np.asarray(out))
    with pytest.warns(UserWarning, match="Anti-alias option is always applied for PIL Image input"):
        T.Resize(4, antialias=False)(image)


@pytest.mark.parametrize("shape, size", [((1, 28, 28), 224), ((2, 3, 50, 37), (13, 11)), ((10, 10), (3, 7)),
                                         ((3, 7, 9), (7, 20)), ((1, 30, 20), 10)])
@pytest.mark.parametrize("antialias", [True, False])
def test_resize_tensor_matches_interpolate(shape, size, antialias):
    x = np.random.default_rng(3).random(shape, dtype=np.float32)
    out = T.Resize(size, antialias=antialias)(ember.from_numpy(x))
    h, w = shape[-2:]
    if isinstance(size, int):
        size = (size * h // w, size) if w <= h else (size, size * w // h)
    xt = torch.from_numpy(x).reshape(-1, 1, h, w)
    ref = F.interpolate(xt, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    ref = ref.reshape(shape[:-2] + tuple(size))
    assert out.dtype == ember.float32 and tuple(out.shape) == tuple(ref.shape)
    # PyTorch computes the source positions in float32 (ember in float64).
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=0, atol=2e-6 if antialias else 1e-5)


def test_resize_tensor_float64_and_nearest():
    x = np.random.default_rng(4).random((2, 11, 17))
    out = T.Resize((5, 23))(ember.from_numpy(x))
    ref = F.interpolate(torch.from_numpy(x)[None], size=(5, 23), mode="bilinear", antialias=True)[0]
    assert out.dtype == ember.float64
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=0, atol=1e-12)
    for mode, name in ((T.InterpolationMode.NEAREST, "nearest"), (T.InterpolationMode.NEAREST_EXACT, "nearest-exact")):
        out = T.Resize((5, 23), interpolation=mode)(ember.from_numpy(x))
        ref = F.interpolate(torch.from_numpy(x)[None], size=(5, 23), mode=name)[0]
        np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_resize_uint8_tensor_rounds_like_torchvision():
    x = np.random.default_rng(5).integers(0, 256, (1, 28, 28), dtype=np.uint8)
    out = T.Resize(64)(ember.from_numpy(x))
    assert out.dtype == ember.uint8 and tuple(out.shape) == (1, 64, 64)
    # torchvision's tensor Resize: interpolate in float32, round, cast back.
    ref = F.interpolate(torch.from_numpy(x).float()[None], size=(64, 64), mode="bilinear", antialias=True)
    ref = ref.round().to(torch.uint8)[0].numpy()
    diff = np.abs(out.numpy().astype(int) - ref.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99  # only float32 ties may round apart
    small = T.Resize((7, 7))(ember.from_numpy(x))
    ref = F.interpolate(torch.from_numpy(x).float()[None], size=(7, 7), mode="bilinear", antialias=True)
    assert np.abs(small.numpy().astype(int) - ref.round()[0].numpy().astype(int)).max() <= 1


def test_resize_against_torchvision():
    tvt = _torchvision_transforms()
    image = _gray(30, 20)
    np.testing.assert_array_equal(np.asarray(T.Resize(12)(image)), np.asarray(tvt.Resize(12)(image)))
    x = torch.rand(3, 30, 20)
    np.testing.assert_allclose(T.Resize(12)(ember.from_numpy(x.numpy())).numpy(), tvt.Resize(12)(x).numpy(),
                               atol=2e-6)


def test_resize_max_size():
    image = _gray(10, 40)
    out = T.Resize(8, max_size=20)(image)  # the long edge would be 32: capped at 20
    assert out.size == (20, 5)
    with pytest.raises(ValueError, match="max_size = 8 must be strictly greater"):
        T.Resize(8, max_size=8)(image)
    with pytest.raises(ValueError, match="max_size should only be passed"):
        T.Resize((8, 9), max_size=20)


def test_resize_bad_arguments():
    with pytest.raises(TypeError, match="Size should be int or sequence"):
        T.Resize("224")
    with pytest.raises(ValueError, match="1 or 2 values"):
        T.Resize((1, 2, 3))
    with pytest.raises(ValueError, match="positive"):
        T.Resize(0)
    with pytest.raises(TypeError, match="InterpolationMode"):
        T.Resize(4, interpolation="bilinear")
    with pytest.raises(TypeError, match="Tensor is not a torch image"):
        T.Resize(4)(ember.zeros(5))
    with pytest.raises(TypeError, match="img should be PIL Image or Tensor"):
        T.Resize(4)(np.zeros((5, 5)))
    with pytest.raises(NotImplementedError, match="bicubic"):
        T.Resize(4, interpolation=T.InterpolationMode.BICUBIC)(ember.zeros(5, 5))


def test_normalize_values_and_grad():
    x = np.random.default_rng(6).random((2, 3, 4, 5), dtype=np.float32)
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.25, 2.0]
    xe = ember.tensor(x, requires_grad=True)
    out = T.Normalize(mean, std)(xe)
    xt = torch.tensor(x, requires_grad=True)
    ref = (xt - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-6)
    weights = np.random.default_rng(7).random(x.shape, dtype=np.float32)
    (out * ember.from_numpy(weights)).sum().backward()
    (ref * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-6)
    single = T.Normalize((0.5,), (0.5,))(ember.ones(1, 2, 2))
    assert single.tolist() == [[[1.0, 1.0], [1.0, 1.0]]]
    y = ember.ones(1, 2, 2)
    assert T.Normalize(0.5, 0.25, inplace=True)(y) is y and y.tolist() == [[[2.0, 2.0], [2.0, 2.0]]]


def test_normalize_bad_inputs():
    with pytest.raises(TypeError, match="Input tensor should be a torch tensor"):
        T.Normalize(0.5, 0.5)(np.zeros((1, 2, 2)))
    with pytest.raises(TypeError, match="float tensor. Got ember.int64"):
        T.Normalize(0.5, 0.5)(ember.zeros(1, 2, 2, dtype=ember.int64))
    with pytest.raises(ValueError, match=r"\(\.\.\., C, H, W\)"):
        T.Normalize(0.5, 0.5)(ember.zeros(2, 2))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize([0.5, 0.5], [1.0, 0.0])(ember.zeros(2, 2, 2))


def test_compose_lambda_and_reprs():
    pipeline = T.Compose([T.Resize(224), T.ToTensor(), T.Normalize((0.5,), (0.25,)), T.Lambda(lambda x: x * 2)])
    assert repr(pipeline) == ("Compose(\n"
                              "    Resize(size=224, interpolation=bilinear, max_size=None, antialias=True)\n"
                              "    ToTensor()\n"
                              "    Normalize(mean=(0.5,), std=(0.25,))\n"
                              "    Lambda()\n"
                              ")")
    out = pipeline(_gray(28, 28))
    assert tuple(out.shape) == (1, 224, 224)
    assert repr(T.Resize((3, 4), interpolation=T.InterpolationMode.NEAREST, antialias=False)) == \
        "Resize(size=(3, 4), interpolation=nearest, max_size=None, antialias=False)"
    with pytest.raises(TypeError, match="Argument lambd should be callable, got 'int'"):
        T.Lambda(3)


def test_reprs_match_torchvision():
    tvt = _torchvision_transforms()
    pairs = [(T.Resize(224), tvt.Resize(224)), (T.ToTensor(), tvt.ToTensor()),
             (T.Normalize((0.5,), (0.25,)), tvt.Normalize((0.5,), (0.25,))),
             (T.Compose([T.Resize((3, 4)), T.ToTensor()]), tvt.Compose([tvt.Resize((3, 4)), tvt.ToTensor()]))]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
