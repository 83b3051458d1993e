"""Type information: mypy accepts the examples with ember's stubs and
py.typed, and catches a misspelled method or function (so the check can
fail). Only errors in the checked files count: ember's own modules are
checked by mypy only as far as it needs their types."""
import os
import pathlib
import subprocess
import sys

import pytest

from _compat_util import EMBER_PARENT, REPO

pytest.importorskip("mypy")

EXAMPLES = sorted((REPO / "examples").glob("*.py"))


def _mypy(files, tmp_path):
    env = dict(os.environ)
    # An installed ember is found by mypy through py.typed; mypy refuses a
    # site-packages folder in MYPYPATH, so only a source tree is named there.
    if pathlib.Path(EMBER_PARENT).name not in ("site-packages", "dist-packages"):
        env["MYPYPATH"] = EMBER_PARENT
    proc = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
                           "--cache-dir", str(tmp_path / "mypy_cache"), "--no-error-summary",
                           *map(str, files)], capture_output=True, text=True, env=env, timeout=600, cwd=REPO)
    # 0: clean, 1: type errors found; anything else means mypy itself did not run.
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return [line for line in proc.stdout.splitlines() if ": error:" in line]


def test_stub_and_marker_are_shipped():
    package = pathlib.Path(EMBER_PARENT) / "ember"
    assert (package / "py.typed").exists()
    stub = (package / "_C" / "__init__.pyi").read_text()
    assert "class Tensor:" in stub and "def reshape(self, *shape)" in stub and "def backward(" in stub


def test_mypy_accepts_the_examples_and_catches_mistakes(tmp_path):
    bad = tmp_path / "bad_example.py"
    bad.write_text("import ember as torch\n"
                   "x = torch.ones(2, 3)\n"
                   "y = x.reshpe(3, 2)\n"
                   "z = torch.zeross(2)\n"
                   "n: str = x.numel()\n")
    errors = _mypy([*EXAMPLES, bad], tmp_path)
    example_errors = [e for e in errors if any(e.startswith(str(p.relative_to(REPO))) for p in EXAMPLES)]
    assert example_errors == []
    bad_errors = [e for e in errors if "bad_example.py" in e]
    assert any(":3: error:" in e and "reshpe" in e for e in bad_errors), bad_errors
    assert any(":4: error:" in e and "zeross" in e for e in bad_errors), bad_errors
    assert any(":5: error:" in e and "Incompatible types" in e for e in bad_errors), bad_errors
