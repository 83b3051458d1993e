"""The book's own d2l library (0.17.6 and 1.0.3 from PyPI) on ember through the
torch stand-in: each script runs unchanged in a fresh interpreter under
PyTorch and under `python -m ember.compat`, and every value must agree."""
import pytest

import ember

from _compat_util import SCRIPTS, assert_close, d2l_dir, run_both

pytest.importorskip("torch")
pytest.importorskip("matplotlib")
pytest.importorskip("pandas")
pytest.importorskip("IPython")
pytest.importorskip("matplotlib_inline")
pytest.importorskip("requests")
pytest.importorskip("PIL")
pytest.importorskip("scipy")

# The d2l library binds torch.sinh and torch.cosh at import time.
needs_hyperbolic = pytest.mark.xfail(not hasattr(ember, "sinh") or not hasattr(ember, "cosh"),
                                     reason="d2l binds torch.sinh/cosh at import; ember gets them with the "
                                            "hyperbolic ops", strict=True)


def _d2l(version):
    path = d2l_dir(version)
    if not (path / "d2l" / "torch.py").exists():
        pytest.skip(f"d2l {version} is not installed in {path} (.ci/run installs it with --no-deps --target)")
    return path


@needs_hyperbolic
def test_d2l_017_chapter_functions(tmp_path):
    expected, actual = run_both(SCRIPTS / "d2l_v017_functions.py", tmp_path, [_d2l("0.17.6")])
    assert expected.pop("torch_module") == "torch" and actual.pop("torch_module") == "ember"
    assert_close(expected, actual)


@needs_hyperbolic
@pytest.mark.parametrize("version", ["0.17.6", "1.0.3"])
def test_d2l_imports_and_aliases(tmp_path, version):
    script = tmp_path / "aliases.py"
    script.write_text(
        "import json, sys, torch\nfrom d2l import torch as d2l\n"
        "x = d2l.arange(4, dtype=d2l.float32)\n"
        "out = [d2l.sinh(x).tolist(), d2l.cosh(x).tolist(), d2l.tanh(x).tolist(),\n"
        "       getattr(d2l, 'sigmoid', torch.sigmoid)(x).tolist(),  # 0.17 has no sigmoid alias\n"
        "       [g.tolist() for g in d2l.meshgrid(x, x[:2], indexing='xy')], d2l.concat([x, x]).tolist(),\n"
        "       d2l.stack([x, x]).tolist(), d2l.eye(2).tolist(), d2l.abs(-x).tolist(), str(d2l.cpu() if\n"
        "       hasattr(d2l, 'cpu') else d2l.try_gpu()), d2l.normal(0, 1, (2, 3)).shape == (2, 3),\n"
        "       d2l.corr2d(d2l.arange(12.0).reshape(3, 4), d2l.tensor([[1.0, -1.0], [0.5, 2.0]])).tolist()]\n"
        "json.dump(out, open(sys.argv[1], 'w'))\n")
    expected, actual = run_both(script, tmp_path, [_d2l(version)])
    assert_close(expected, actual)


@needs_hyperbolic
def test_d2l_1_module_trainer_datamodule(tmp_path):
    expected, actual = run_both(SCRIPTS / "d2l_v1_classes.py", tmp_path, [_d2l("1.0.3")])
    assert actual["synthetic_converged"] and actual["softmax_accuracy"] > 0.9
    assert_close(expected, actual)


def _write_idx(folder, prefix, images, labels):
    import numpy as np
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(np.array([0x803, len(images), 28, 28], dtype=">i4").tobytes())
        f.write(images.astype(np.uint8).tobytes())
    with open(folder / f"{prefix}-labels-idx1-ubyte", "wb") as f:
        f.write(np.array([0x801, len(labels)], dtype=">i4").tobytes())
        f.write(labels.astype(np.uint8).tobytes())


@needs_hyperbolic
@pytest.mark.parametrize("version", ["0.17.6", "1.0.3"])
def test_d2l_load_data_fashion_mnist(tmp_path, version):
    from ember import compat
    if not compat.vision_available():
        pytest.skip("ember.vision (torchvision's datasets and transforms) is not in this ember yet")
    pytest.importorskip("torchvision")
    import numpy as np
    rng = np.random.default_rng(0)
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    _write_idx(raw, "train", rng.integers(0, 256, (40, 28, 28)), rng.integers(0, 10, 40))
    _write_idx(raw, "t10k", rng.integers(0, 256, (16, 28, 28)), rng.integers(0, 10, 16))
    work = tmp_path / "work"  # d2l reads ../data
    work.mkdir()
    expected, actual = run_both(SCRIPTS / "fashion_mnist_loader.py", tmp_path, [_d2l(version)], cwd=work)
    assert_close(expected, actual)


@needs_hyperbolic
def test_d2l_017_chapter_6(tmp_path):
    # train_ch6's weight init names nn.Conv2d, which arrives with the convolution layers.
    if not hasattr(ember.nn, "Conv2d"):
        pytest.xfail("d2l.train_ch6 refers to nn.Conv2d, which this ember does not have yet")
    expected, actual = run_both(SCRIPTS / "d2l_v017_ch6.py", tmp_path, [_d2l("0.17.6")])
    assert actual["learned"] and expected["learned"]
    assert_close(expected["corr2d"], actual["corr2d"])


@needs_hyperbolic
@pytest.mark.parametrize("version", ["0.17.6", "1.0.3"])
def test_d2l_load_data_fashion_mnist_on_ember_alone(tmp_path, version):
    """Without a working torchvision for the reference run, the values come
    from the generated files themselves (Pillow's bilinear resize for
    resize=32, which is what torchvision's Resize calls on PIL images)."""
    from ember import compat
    if not compat.vision_available():
        pytest.skip("ember.vision is not in this ember")
    import numpy as np
    from PIL import Image
    from _compat_util import run
    rng = np.random.default_rng(0)
    train_x, train_y = rng.integers(0, 256, (40, 28, 28)), rng.integers(0, 10, 40)
    test_x, test_y = rng.integers(0, 256, (16, 28, 28)), rng.integers(0, 10, 16)
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    _write_idx(raw, "train", train_x, train_y)
    _write_idx(raw, "t10k", test_x, test_y)
    work = tmp_path / "work"  # d2l reads ../data
    work.mkdir()
    result = tmp_path / "ember.json"
    run(["-m", "ember.compat", str(SCRIPTS / "fashion_mnist_loader.py"), str(result)], paths=[_d2l(version)],
        cwd=work)
    import json
    actual = json.loads(result.read_text())
    first = test_x[:8].astype(np.uint8)
    resized = [np.asarray(Image.fromarray(img, mode="L").resize((32, 32), Image.BILINEAR)) for img in first]
    expected = {
        "None": [[8, 1, 28, 28], "float32", test_y[:8].tolist(), round(float(first.sum()) / 255, 3), 5],
        "32": [[8, 1, 32, 32], "float32", test_y[:8].tolist(), round(float(np.sum(resized)) / 255, 3), 5],
    }
    assert_close(expected, actual, rtol=1e-4, atol=2e-3)
