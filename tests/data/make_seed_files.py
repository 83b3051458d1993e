"""Writes the small checkpoint files in this folder: valid ember, safetensors
and PyTorch files that seed the fuzzers (tests/fuzz) and that the test suite
loads back (tests/python/test_checkpoint_seed_files.py).

  python3 tests/data/make_seed_files.py   # needs ember, torch, safetensors

The files are committed; re-run this only to change them.
"""

import collections
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import ember  # noqa: E402


def ember_files():
    g = np.random.default_rng(0)
    w = ember.tensor(g.standard_normal((4, 3)).astype(np.float32))
    base = ember.tensor(g.standard_normal((3, 4)).astype(np.float64))
    yield "ember_state_dict.safetensors", collections.OrderedDict(
        [("fc.weight", w), ("fc.bias", ember.zeros(4)), ("steps", ember.tensor([3, 1], dtype=ember.int64))])
    # Flat dict whose tensors share memory: a {"nbytes"} storage rebuilt on load.
    yield "ember_tied_state_dict.safetensors", {"embed.weight": w, "head.weight": w, "head.t": w.t()}
    # A tree: containers, scalars, a float NaN, views of one storage, 16-bit and bool tensors.
    yield "ember_tree.safetensors", {
        "model": {"base": base, "row": base[1], "col": base[:, 2]},
        "optim": [{"lr": 0.1, "momentum": float("nan"), "nesterov": True, "name": "sgd", "none": None}],
        "extra": (ember.ones(2, dtype=ember.float16), ember.tensor([True, False]), 7, -2**63),
        3: ember.zeros(0, 5, dtype=ember.int32),
    }
    yield "ember_bare_tensor.safetensors", ember.arange(6, dtype=ember.int16)


def safetensors_files():
    from safetensors.numpy import save_file
    save_file({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], dtype=np.int8)},
              os.path.join(HERE, "safetensors_plain.safetensors"), metadata={"format": "np"})
    # A header padded with spaces, the oddities readers must accept.
    header = json.dumps({"x": {"dtype": "U8", "shape": [3], "data_offsets": [0, 3]}}).encode() + b"    "
    with open(os.path.join(HERE, "safetensors_padded.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + b"\x01\x02\x03")


def torch_files():
    import torch
    g = torch.Generator().manual_seed(0)
    lin = torch.nn.Linear(3, 2)
    torch.save(lin.state_dict(), os.path.join(HERE, "torch_state_dict.pt"))
    base = torch.randn(4, 4, generator=g)
    torch.save({"base": base, "view": base[1:3, ::2], "list": [1, 2.5, "s", None, (True,)],
                "half": torch.ones(3, dtype=torch.float16), "long": torch.arange(3)},
               os.path.join(HERE, "torch_nested.pt"))


def json_seeds():
    """The JSON headers of the files above, for the JSON reader's fuzzer."""
    os.makedirs(os.path.join(HERE, "json"), exist_ok=True)
    for name in sorted(os.listdir(HERE)):
        if not name.endswith(".safetensors"):
            continue
        with open(os.path.join(HERE, name), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = f.read(n)
        with open(os.path.join(HERE, "json", name.replace(".safetensors", ".json")), "wb") as f:
            f.write(header)
        meta = json.loads(header).get("__metadata__", {})
        for key in ("ember.tree", "ember.storages", "ember.tensors"):
            if key in meta:
                with open(os.path.join(HERE, "json", name.replace(".safetensors", f".{key[6:]}.json")), "w") as f:
                    f.write(meta[key])


def pickle_seeds():
    """data.pkl of each PyTorch file, in the pickle form of the atheris
    target's input (tests/fuzz/fuzz_torch_import.py): byte 1, archive index."""
    import zipfile
    os.makedirs(os.path.join(HERE, "pickle"), exist_ok=True)
    pts = sorted(n for n in os.listdir(HERE) if n.endswith(".pt"))
    for i, name in enumerate(pts):
        with zipfile.ZipFile(os.path.join(HERE, name)) as zf:
            pkl = zf.read([n for n in zf.namelist() if n.endswith("/data.pkl")][0])
        with open(os.path.join(HERE, "pickle", name.replace(".pt", ".pkl-seed")), "wb") as f:
            f.write(bytes([1, i]) + pkl)


if __name__ == "__main__":
    for name, obj in ember_files():
        ember.save(obj, os.path.join(HERE, name))
    safetensors_files()
    torch_files()
    json_seeds()
    pickle_seeds()
