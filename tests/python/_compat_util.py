"""Running a script in a fresh interpreter, under PyTorch or under ember
through ``python -m ember.compat``, for the stand-in's tests."""
import json
import os
import pathlib
import subprocess
import sys

import ember

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = pathlib.Path(__file__).resolve().parent / "compat_scripts"
# The d2l releases, each installed with `pip install --no-deps --target`
# (they pin old numpy/pandas versions); .ci/run creates these folders.
D2L_ROOT = pathlib.Path(os.environ.get("EMBER_D2L_DIR", REPO / "build" / "d2l"))
EMBER_PARENT = str(pathlib.Path(ember.__file__).resolve().parents[1])  # the ember this test imported


def d2l_dir(version):
    return D2L_ROOT / f"d2l-{version}"


def run(args, *, paths=(), cwd=None, timeout=300, check=True):
    inherited = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([EMBER_PARENT, *map(str, paths), *inherited]))
    env.pop("PYTHONSTARTUP", None)
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited with {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def torchvision_placeholder(tmp_path):
    """The d2l library imports torchvision at the top; when the real one is
    not installed, the PyTorch reference run gets empty modules instead."""
    try:
        import torchvision  # noqa: F401
        return []
    except ImportError:
        pkg = tmp_path / "placeholder" / "torchvision"
        pkg.mkdir(parents=True)
        for name in ("__init__.py", "transforms.py", "datasets.py"):
            (pkg / name).write_text("")
        return [pkg.parent]


def run_both(script, tmp_path, paths=(), cwd=None):
    """(results under PyTorch, results under ember) of a script writing JSON."""
    out = {}
    for lib in ("torch", "ember"):
        result = tmp_path / f"{lib}.json"
        prefix = ["-m", "ember.compat"] if lib == "ember" else []
        extra = list(paths) + (torchvision_placeholder(tmp_path / lib) if lib == "torch" else [])
        run([*prefix, str(script), str(result)], paths=extra, cwd=cwd)
        out[lib] = json.loads(result.read_text())
    return out["torch"], out["ember"]


def assert_close(expected, actual, path="", rtol=1e-4, atol=1e-5):
    """Compares nested JSON values: numbers with a tolerance, the rest exactly."""
    if isinstance(expected, bool) or isinstance(actual, bool) or isinstance(expected, str):
        assert expected == actual, f"{path}: {actual!r} != {expected!r}"
    elif isinstance(expected, (int, float)):
        assert isinstance(actual, (int, float)), f"{path}: {actual!r} is not a number"
        assert abs(actual - expected) <= atol + rtol * abs(expected), f"{path}: {actual!r} != {expected!r}"
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r} != {expected!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_close(e, a, f"{path}[{i}]", rtol, atol)
    elif isinstance(expected, dict):
        assert sorted(expected) == sorted(actual), f"{path}: keys {sorted(actual)} != {sorted(expected)}"
        for k in expected:
            assert_close(expected[k], actual[k], f"{path}.{k}", rtol, atol)
    else:
        assert expected == actual, f"{path}: {actual!r} != {expected!r}"
