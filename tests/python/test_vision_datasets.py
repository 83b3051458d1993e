"""ember.vision.datasets.MNIST / FashionMNIST on generated IDX files:
torchvision's layout and sample format, corrupt files, and downloads from
a loopback HTTP server (good files, bad checksums, dead mirrors)."""

import contextlib
import functools
import http.server
import os
import shutil
import socket
import threading

import numpy as np
import pytest

import ember
from ember.vision import datasets, transforms
from ember.vision.datasets import mnist as mnist_module

from _idx_files import SPLIT_FILES, idx_bytes, make_raw_folder, md5, write_idx

PIL = pytest.importorskip("PIL.Image")


@pytest.mark.parametrize("cls", [datasets.FashionMNIST, datasets.MNIST])
@pytest.mark.parametrize("train", [True, False])
def test_reads_torchvision_layout(tmp_path, cls, train):
    splits = make_raw_folder(tmp_path, cls.__name__, n_train=12, n_test=5)
    images, labels = splits[train]
    ds = cls(str(tmp_path), train=train)
    assert len(ds) == len(labels)
    assert ds.data.dtype == ember.uint8 and tuple(ds.data.shape) == (len(labels), 28, 28)
    assert ds.targets.dtype == ember.int64
    np.testing.assert_array_equal(ds.data.numpy(), images)
    np.testing.assert_array_equal(ds.targets.numpy(), labels)
    img, label = ds[3]
    assert isinstance(img, PIL.Image) and img.mode == "L" and img.size == (28, 28)
    np.testing.assert_array_equal(np.asarray(img), images[3])
    assert type(label) is int and label == labels[3]
    assert np.array_equal(np.asarray(ds[-1][0]), images[-1])
    assert len(ds.classes) == 10 and ds.class_to_idx[ds.classes[4]] == 4
    assert ds.raw_folder == os.path.join(str(tmp_path), cls.__name__, "raw")


def test_class_names_as_torchvision():
    assert datasets.FashionMNIST.classes == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert datasets.MNIST.classes[0] == "0 - zero" and datasets.MNIST.classes[9] == "9 - nine"


def test_uncompressed_files_and_pathlike_root(tmp_path):
    splits = make_raw_folder(tmp_path, gz=False)
    ds = datasets.FashionMNIST(tmp_path, train=False)  # a pathlib.Path root
    np.testing.assert_array_equal(ds.data.numpy(), splits[False][0])


def test_transforms_applied(tmp_path):
    splits = make_raw_folder(tmp_path)
    ds = datasets.FashionMNIST(str(tmp_path), transform=transforms.Compose(
        [transforms.Resize(32), transforms.ToTensor()]), target_transform=lambda y: y + 100)
    x, y = ds[0]
    assert x.dtype == ember.float32 and tuple(x.shape) == (1, 32, 32)
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert y == int(splits[True][1][0]) + 100


def test_repr_as_torchvision(tmp_path):
    make_raw_folder(tmp_path)
    ds = datasets.FashionMNIST(str(tmp_path), transform=transforms.Compose(
        [transforms.Resize(32), transforms.ToTensor()]))
    assert repr(ds) == (
        "Dataset FashionMNIST\n"
        "    Number of datapoints: 12\n"
        f"    Root location: {tmp_path}\n"
        "    Split: Train\n"
        "    StandardTransform\n"
        "Transform: Compose(\n"
        "               Resize(size=32, interpolation=bilinear, max_size=None, antialias=True)\n"
        "               ToTensor()\n"
        "           )")
    make_raw_folder(tmp_path, "MNIST")
    plain = datasets.MNIST(str(tmp_path), train=False)
    assert repr(plain) == f"Dataset MNIST\n    Number of datapoints: 5\n    Root location: {tmp_path}\n    Split: Test"


def test_without_pillow_samples_are_uint8_tensors(tmp_path, monkeypatch):
    splits = make_raw_folder(tmp_path)
    monkeypatch.setattr(mnist_module, "pil_image_module", lambda: None)
    ds = datasets.FashionMNIST(str(tmp_path))
    img, label = ds[2]
    assert isinstance(img, ember.Tensor) and img.dtype == ember.uint8 and tuple(img.shape) == (28, 28)
    np.testing.assert_array_equal(img.numpy(), splits[True][0][2])
    img.fill_(0)  # a copy: the dataset is unchanged
    np.testing.assert_array_equal(ds.data[2].numpy(), splits[True][0][2])
    # D2L's Resize-then-ToTensor works on that form too.
    x, _ = datasets.FashionMNIST(str(tmp_path), transform=transforms.Compose(
        [transforms.Resize(40), transforms.ToTensor()]))[2]
    assert tuple(x.shape) == (1, 40, 40) and x.dtype == ember.float32


def test_subset_by_assigning_data(tmp_path):
    splits = make_raw_folder(tmp_path)
    ds = datasets.FashionMNIST(str(tmp_path))
    ds.data, ds.targets = ds.data[:4], ds.targets[:4]
    assert len(ds) == 4
    np.testing.assert_array_equal(np.asarray(ds[3][0]), splits[True][0][3])


def test_bad_indices(tmp_path):
    make_raw_folder(tmp_path)
    ds = datasets.FashionMNIST(str(tmp_path))
    with pytest.raises(IndexError, match="12"):
        ds[12]
    with pytest.raises(IndexError):
        ds[-13]
    with pytest.raises(TypeError, match="str"):
        ds["0"]
    assert ds[np.int64(1)][1] == ds[1][1]


def test_missing_files_say_which_and_where(tmp_path):
    with pytest.raises(RuntimeError) as info:
        datasets.FashionMNIST(str(tmp_path))
    message = str(info.value)
    raw = os.path.join(str(tmp_path), "FashionMNIST", "raw")
    assert "train-images-idx3-ubyte.gz" in message and "train-labels-idx1-ubyte.gz" in message
    assert raw in message and "download=True" in message
    make_raw_folder(tmp_path)
    os.remove(os.path.join(raw, "t10k-labels-idx1-ubyte.gz"))
    with pytest.raises(RuntimeError, match="t10k-labels-idx1-ubyte.gz") as info:
        datasets.FashionMNIST(str(tmp_path), train=False)
    assert "t10k-images" not in str(info.value)


def _corrupt(tmp_path, payload, gz=True, which=0):
    make_raw_folder(tmp_path)
    name = SPLIT_FILES[True][which] + ".gz"
    path = os.path.join(str(tmp_path), "FashionMNIST", "raw", name)
    if gz:
        import gzip

        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(payload)
    return path


@pytest.mark.parametrize("payload, pattern", [
    (b"", "shorter than the 4-byte header"),
    (b"\x01\x00\x08\x03" + bytes(12), "magic number"),
    (b"\x00\x00\x42\x03" + bytes(12), "unknown IDX type code 0x42"),
    (idx_bytes(np.zeros((4, 28), np.uint8)), "2 dimensions, expected 3"),
    (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
    (idx_bytes(np.zeros((12, 28, 28), np.uint8))[:-5], "file holds"),
    (idx_bytes(np.zeros((12, 28, 28), np.uint8)) + b"x", "file holds"),
    (idx_bytes(np.zeros((12, 28, 28), np.float32)), "expected uint8"),
    (idx_bytes(np.zeros((11, 28, 28), np.uint8)), "11 images but"),
])
def test_corrupt_files_name_the_file(tmp_path, payload, pattern):
    path = _corrupt(tmp_path, payload)
    with pytest.raises(RuntimeError, match=pattern) as info:
        datasets.FashionMNIST(str(tmp_path))
    assert path in str(info.value)


def test_corrupt_gzip_names_the_file(tmp_path):
    path = _corrupt(tmp_path, b"\x1f\x8b\x08\x00garbage", gz=False)
    with pytest.raises(RuntimeError, match="corrupt gzip") as info:
        datasets.FashionMNIST(str(tmp_path))
    assert path in str(info.value)
    # A gzip stream cut short.
    good = idx_bytes(np.zeros((12, 28, 28), np.uint8))
    import gzip

    with open(path, "wb") as f:
        f.write(gzip.compress(good)[:-20])
    with pytest.raises(RuntimeError, match="corrupt gzip"):
        datasets.FashionMNIST(str(tmp_path))


# --- downloads -------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _serve(directory):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler,
                                                                               directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _dead_mirror():
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def served(tmp_path):
    """A folder of the four .gz files, their md5s, and the generated arrays."""
    files = tmp_path / "server"
    splits = make_raw_folder(files, "x")
    src = files / "x" / "raw"
    resources = [(name, md5(src / name)) for name in sorted(os.listdir(src))]
    for name in os.listdir(src):
        shutil.move(str(src / name), str(files / name))
    return files, resources, splits


def _raw_listing(root):
    raw = os.path.join(str(root), "FashionMNIST", "raw")
    return sorted(os.listdir(raw)) if os.path.isdir(raw) else []


def test_download_from_loopback(served, tmp_path, monkeypatch, capsys):
    files, resources, splits = served
    root = tmp_path / "data"
    monkeypatch.setattr(datasets.FashionMNIST, "resources", resources)
    with _serve(files) as url:
        monkeypatch.setattr(datasets.FashionMNIST, "mirrors", [url])
        ds = datasets.FashionMNIST(str(root), train=True, download=True)
    np.testing.assert_array_equal(ds.data.numpy(), splits[True][0])
    # torchvision's layout: the .gz files and their decompressed forms, no leftovers.
    expected = sorted([n for n, _ in resources] + [n[:-3] for n, _ in resources])
    assert _raw_listing(root) == expected
    assert "Downloading" in capsys.readouterr().out
    # Present files are not fetched again (the mirror is gone now).
    monkeypatch.setattr(datasets.FashionMNIST, "mirrors", [_dead_mirror()])
    test = datasets.FashionMNIST(str(root), train=False, download=True)
    np.testing.assert_array_equal(test.targets.numpy(), splits[False][1])


def test_download_bad_checksum(served, tmp_path, monkeypatch):
    files, resources, _ = served
    root = tmp_path / "data"
    bad = [(name, "0" * 32 if name.startswith("train-images") else digest) for name, digest in resources]
    monkeypatch.setattr(datasets.FashionMNIST, "resources", bad)
    with _serve(files) as url:
        monkeypatch.setattr(datasets.FashionMNIST, "mirrors", [url])
        with pytest.raises(RuntimeError) as info:
            datasets.FashionMNIST(str(root), download=True)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "checksum mismatch" in message and "0" * 32 in message
    assert os.path.join(str(root), "FashionMNIST", "raw") in message
    # The file with the wrong checksum was not kept, nor any temporary file.
    listing = _raw_listing(root)
    assert not any(n.startswith("train-images") or n.startswith(".") for n in listing)
    assert "t10k-labels-idx1-ubyte.gz" in listing


def test_download_dead_mirror_then_good(served, tmp_path, monkeypatch, capsys):
    files, resources, splits = served
    monkeypatch.setattr(datasets.FashionMNIST, "resources", resources)
    with _serve(files) as url:
        monkeypatch.setattr(datasets.FashionMNIST, "mirrors", [_dead_mirror(), url])
        ds = datasets.FashionMNIST(str(tmp_path / "data"), train=False, download=True)
    np.testing.assert_array_equal(ds.data.numpy(), splits[False][0])
    assert "trying next" in capsys.readouterr().out


def test_download_mirror_without_the_file(served, tmp_path, monkeypatch):
    files, resources, _ = served
    os.remove(files / "t10k-images-idx3-ubyte.gz")
    monkeypatch.setattr(datasets.FashionMNIST, "resources", resources)
    with _serve(files) as url:
        monkeypatch.setattr(datasets.FashionMNIST, "mirrors", [url])
        with pytest.raises(RuntimeError, match="t10k-images-idx3-ubyte.gz") as info:
            datasets.FashionMNIST(str(tmp_path / "data"), download=True)
    assert "404" in str(info.value)


def test_download_all_mirrors_dead(tmp_path, monkeypatch):
    dead = [_dead_mirror(), _dead_mirror()]
    monkeypatch.setattr(datasets.FashionMNIST, "mirrors", dead)
    with pytest.raises(RuntimeError) as info:
        datasets.FashionMNIST(str(tmp_path), download=True)
    message = str(info.value)
    for name, digest in datasets.FashionMNIST.resources:
        assert name in message and digest in message
    for mirror in dead:
        assert mirror in message
    assert f"place them in {os.path.join(str(tmp_path), 'FashionMNIST', 'raw')}" in message
    assert not any(n.startswith(".") for n in _raw_listing(tmp_path))


def test_root_must_be_a_path():
    with pytest.raises(TypeError, match="root"):
        datasets.FashionMNIST(None)


def test_read_idx_other_dtypes(tmp_path):
    from ember.vision.datasets._idx import read_idx

    for dtype in (np.int16, np.int32, np.float32, np.float64, np.int8):
        values = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
        path = write_idx(tmp_path / f"v{np.dtype(dtype).name}", values)
        out = read_idx(path, 3)
        assert out.dtype == np.dtype(dtype) and out.flags.writeable
        np.testing.assert_array_equal(out, values)


# --- the demo: examples/lenet_fashion_mnist.py ------------------------------

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "lenet_fashion_mnist.py")


def _run_example(*args):
    import subprocess
    import sys

    # The ember this test imported (the source tree's or the installed one).
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(ember.__file__))))
    return subprocess.run([sys.executable, EXAMPLE, *args], env=env, capture_output=True, text=True, timeout=300)


def test_example_without_files_says_how_to_get_them(tmp_path):
    out = _run_example("--root", str(tmp_path))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    for name, _ in datasets.FashionMNIST.resources:
        assert name in out.stderr
    assert os.path.join(str(tmp_path), "FashionMNIST", "raw") in out.stderr and "--download" in out.stderr


@pytest.mark.skipif(not hasattr(ember.nn, "Conv2d"), reason="needs nn.Conv2d and nn.AvgPool2d")
def test_example_trains_on_generated_files(tmp_path):
    make_raw_folder(tmp_path, n_train=64, n_test=32)
    out = _run_example("--root", str(tmp_path), "--epochs", "1", "--batch-size", "16", "--workers", "2")
    assert out.returncode == 0, out.stderr
    assert "epoch 1: loss" in out.stdout and "test acc" in out.stdout
