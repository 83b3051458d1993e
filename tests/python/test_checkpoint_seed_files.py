"""The small checkpoint files in tests/data (the fuzzers' seeds) load as the
libraries that wrote them read them, and every input a fuzzer ever found a
problem with (tests/data/fuzz-regressions) now loads or raises
CheckpointError, within bounded memory (3 GB, against the ~10 GB the first
finding cleared)."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest

import ember

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
REGRESSIONS = sorted(glob.glob(os.path.join(DATA, "fuzz-regressions", "*", "*")))


def arr(t):
    t = t.detach()
    if t.dtype in (ember.bfloat16, ember.float16):
        t = t.to(ember.float32)
    return t.cpu().numpy()


def test_ember_seed_files_round_trip():
    tree = ember.load(os.path.join(DATA, "ember_tree.safetensors"))
    base = tree["model"]["base"]
    np.testing.assert_array_equal(arr(tree["model"]["row"]), arr(base)[1])
    np.testing.assert_array_equal(arr(tree["model"]["col"]), arr(base)[:, 2])
    tree["model"]["row"][0] = 5.0  # views came back sharing the storage
    assert float(base[1, 0]) == 5.0
    opt = tree["optim"][0]
    assert opt["lr"] == 0.1 and np.isnan(opt["momentum"]) and opt["nesterov"] is True and opt["none"] is None
    assert tree["extra"][2:] == (7, -2**63) and tree[3].shape == (0, 5)
    sd = ember.load(os.path.join(DATA, "ember_state_dict.safetensors"))
    assert list(sd) == ["fc.weight", "fc.bias", "steps"]
    tied = ember.load(os.path.join(DATA, "ember_tied_state_dict.safetensors"))
    np.testing.assert_array_equal(arr(tied["head.t"]), arr(tied["embed.weight"]).T)


@pytest.mark.parametrize("name", ["safetensors_plain.safetensors", "safetensors_padded.safetensors",
                                  "ember_state_dict.safetensors", "ember_tied_state_dict.safetensors"])
def test_safetensors_seed_files_match_the_safetensors_reader(name):
    st = pytest.importorskip("safetensors.numpy")
    ours = ember.load(os.path.join(DATA, name))
    theirs = st.load_file(os.path.join(DATA, name))
    assert sorted(ours) == sorted(theirs)
    for k in theirs:
        np.testing.assert_array_equal(arr(ours[k]), theirs[k])


@pytest.mark.parametrize("name", ["torch_state_dict.pt", "torch_nested.pt"])
def test_torch_seed_files_match_torch_load(name):
    torch = pytest.importorskip("torch")
    ours = ember.load(os.path.join(DATA, name))
    theirs = torch.load(os.path.join(DATA, name), weights_only=True)

    def compare(a, b):
        if isinstance(b, torch.Tensor):
            np.testing.assert_array_equal(arr(a), b.float().numpy() if b.dtype == torch.float16 else b.numpy())
            assert tuple(a.stride()) == tuple(b.stride())
        elif isinstance(b, dict):
            assert list(a) == list(b)
            for k in b:
                compare(a[k], b[k])
        elif isinstance(b, (list, tuple)):
            assert type(a) is type(b) and len(a) == len(b)
            for x, y in zip(a, b):
                compare(x, y)
        else:
            assert a == b

    compare(ours, theirs)


# The child's own peak, in MB: VmHWM of its address space. Not ru_maxrss,
# which Linux carries over from the parent's image across fork and exec, so
# a child of a 3 GB pytest process (the whole suite under ASan) reported 3 GB.
_LOAD_ALL = r"""
import resource, sys, ember
for path in sys.argv[1:]:
    try:
        ember.load(path)
    except ember.CheckpointError:
        pass
try:
    with open("/proc/self/status") as f:
        peak_kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(peak_kb // 1024)
"""


@pytest.mark.skipif(not REGRESSIONS, reason="no regression inputs")
def test_fuzzer_findings_load_or_raise_checkpoint_error_in_bounded_memory():
    # In a child process so that its peak memory is its own: the first
    # finding made the C unpickler clear ~10 GB.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(ember.__file__)),
                                         env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", _TORCH_FORM + _LOAD_ALL, *REGRESSIONS], capture_output=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    # The bug cleared ~10 GB; a plain run peaks near 100 MB, and ASan's
    # shadow memory and quarantine (tests/run_sanitized.sh) add about 1 GB.
    assert int(proc.stdout.split()[-1]) < 3072, "peak memory above 3 GB"


# Inputs of the PyTorch target mean what the target says they mean
# (tests/fuzz/torch_fuzz_input.py decodes them for both).
_TORCH_FORM = r"""
import io, sys
sys.path.insert(0, %r)
import ember
from torch_fuzz_input import checkpoint_bytes
_load = ember.load
def load(path):
    data = open(path, "rb").read()
    return _load(io.BytesIO(checkpoint_bytes(data) if "torch_import" in path else data))
ember.load = load
""" % os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz")
