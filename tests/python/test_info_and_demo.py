"""`python -m ember.info` and the quickstart demo (examples/quickstart.py),
each run as a user runs them, in a fresh interpreter."""
import json
import os
import pathlib

import pytest

import ember
from _compat_util import REPO, run


def test_info_json_reports_this_build():
    info = json.loads(run(["-m", "ember.info", "--json"]).stdout)
    build = ember._C._build_info()
    assert info["ember"] == ember.__version__
    assert info["build"]["cuda"] == ember._C._cuda.is_built() == build["cuda_built"]
    assert info["build"]["cpu_kernels"] in ("avx2+fma", "baseline")
    # The set in use: the processor's, unless EMBER_CPU_KERNELS=baseline forces the fallback.
    forced = os.environ.get("EMBER_CPU_KERNELS") == "baseline"
    assert info["build"]["cpu_kernels"] == ("avx2+fma" if build["cpu_avx2_fma"] and not forced else "baseline")
    assert info["threads"] == ember.get_num_threads() and info["threads"] >= 1
    assert info["devices"][0]["device"] == "cpu"
    assert len(info["devices"]) == 1 + (ember.cuda.device_count() if info["build"]["cuda"] else 0)
    assert info["cuda_available"] == ember.cuda.is_available()
    if info["build"]["cuda"]:
        assert info["build"]["cuda_architectures"]
    from ember import compat
    assert info["optional"]["torchvision_stand_in"] == compat.vision_available()
    assert set(info["optional"]) == {"mpi4py", "nccl", "distributed", "torchvision_stand_in", "torch_installed"}


def test_info_text_names_every_section():
    out = run(["-m", "ember.info"]).stdout
    for needle in (f"ember {ember.__version__}", "CUDA backend:", "CUDA architectures:", "CPU kernels:",
                   "threads:", "devices:", "  cpu:", "MPI (mpi4py):", "NCCL library:", "torchvision stand-in"):
        assert needle in out, needle


def test_info_threads_follow_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    info = json.loads(run(["-m", "ember.info", "--json"]).stdout)
    assert info["threads"] == 1 and info["omp_num_threads"] == "1"


def test_quickstart_quick_mode_trains_checkpoints_plots_and_resumes(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    pytest.importorskip("matplotlib")
    script = str(REPO / "examples" / "quickstart.py")
    out = tmp_path / "out"
    first = run([script, "--quick", "--out-dir", str(out)], cwd=tmp_path, timeout=240)
    assert "test accuracy" in first.stdout
    assert (out / "quickstart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = ember.load(out / "quickstart.ckpt")
    assert state["epoch"] == 2 and len(state["history"]["test_acc"]) == 2
    assert set(state["model"]) == {"1.weight", "1.bias", "3.weight", "3.bias"}
    again = run([script, "--quick", "--out-dir", str(out), "--epochs", "3"], cwd=tmp_path, timeout=240)
    assert "resuming from" in again.stdout and "after epoch 2" in again.stdout
    assert "already trained for 2 epochs" in again.stdout  # --quick keeps two epochs
    resumed = run([script, "--out-dir", str(out), "--epochs", "3"], cwd=tmp_path, timeout=240)
    assert "after epoch 2" in resumed.stdout
    state = ember.load(out / "quickstart.ckpt")
    assert state["epoch"] == 3 and len(state["history"]["train_loss"]) == 3
    assert state["history"]["test_acc"][-1] > 0.8


def test_quickstart_quick_mode_from_the_environment(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("EMBER_QUICKSTART_QUICK", "1")
    run([str(REPO / "examples" / "quickstart.py"), "--out-dir", str(tmp_path)], cwd=tmp_path, timeout=240)
    assert ember.load(pathlib.Path(tmp_path) / "quickstart.ckpt")["epoch"] == 2
