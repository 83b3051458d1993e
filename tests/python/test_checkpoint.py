"""ember.save / ember.load: round trips, sharing, safetensors and PyTorch interop,
hostile files, crash safety. The format is described in csrc/io/checkpoint.h."""

import collections
import io
import json
import math
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

import ember
from ember import nn

CheckpointError = ember._C.CheckpointError

try:
    import safetensors.numpy as st_numpy
except ImportError:  # pragma: no cover
    st_numpy = None
try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

needs_safetensors = pytest.mark.skipif(st_numpy is None, reason="safetensors not installed")
needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


def cuda_available():
    try:
        return bool(ember.cuda.is_available())
    except Exception:
        return False


# ---------------------------------------------------------------- helpers

def arr(t):
    """A tensor's values as numpy (bfloat16 via float32)."""
    t = t.detach()
    if t.dtype == ember.bfloat16:
        t = t.to(ember.float32)
    return t.cpu().numpy()


def assert_tensor_equal(a, b):
    assert a.dtype == b.dtype
    assert tuple(a.shape) == tuple(b.shape)
    np.testing.assert_array_equal(arr(a), arr(b))


def shares_memory(a, b):
    """True when writing through a changes b (they view one storage)."""
    before = arr(b).copy()
    a *= 2  # exact, and undone exactly below (the tensors hold nonzero values)
    changed = not np.array_equal(arr(b), before)
    a /= 2
    return changed


def make_safetensors(header, data=b"", raw_header=None):
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def load_bytes(b, **kw):
    return ember.load(io.BytesIO(b), **kw)


def assert_refused(data, *words, tmp_path=None):
    with pytest.raises(CheckpointError) as ei:
        load_bytes(data)
    msg = str(ei.value)
    for w in words:
        assert w in msg, f"{msg!r} does not mention {w!r}"
    if tmp_path is not None:  # the path loader validates the same way
        p = tmp_path / "hostile.safetensors"
        p.write_bytes(data)
        with pytest.raises(CheckpointError):
            ember.load(p)
        with pytest.raises(CheckpointError):
            ember.load(p, mmap=True)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(20, 256)
        self.output = nn.Linear(256, 10)

    def forward(self, x):
        return self.output(ember.relu(self.hidden(x)))


# ---------------------------------------------------------------- D2L round trips

def test_d2l_tensor_list_dict(tmp_path):
    x = ember.arange(4)
    ember.save(x, tmp_path / "x-file")
    x2 = ember.load(tmp_path / "x-file")
    assert_tensor_equal(x, x2)

    y = ember.zeros(4)
    ember.save([x, y], str(tmp_path / "x-files"))
    x2, y2 = ember.load(str(tmp_path / "x-files"))
    assert_tensor_equal(x, x2)
    assert_tensor_equal(y, y2)

    mydict = {"x": x, "y": y}
    ember.save(mydict, tmp_path / "mydict")
    mydict2 = ember.load(tmp_path / "mydict")
    assert list(mydict2) == ["x", "y"]
    assert_tensor_equal(mydict2["x"], x)
    assert_tensor_equal(mydict2["y"], y)


def test_d2l_mlp_parameters(tmp_path):
    net = MLP()
    X = ember.randn(size=(2, 20)) if _randn_takes_size() else ember.randn(2, 20)
    Y = net(X)
    ember.save(net.state_dict(), tmp_path / "mlp.params")
    clone = MLP()
    clone.load_state_dict(ember.load(tmp_path / "mlp.params"))
    clone.eval()
    Y_clone = clone(X)
    np.testing.assert_array_equal(arr(Y_clone), arr(Y))


def _randn_takes_size():
    try:
        ember.randn(size=(1,))
        return True
    except TypeError:
        return False


def test_nested_structures_and_scalars(tmp_path):
    x = ember.arange(6).reshape(2, 3)
    od = collections.OrderedDict([("b", x), ("a", 1)])
    obj = {
        "model": od,
        3: [x, (None, True, False, 0, -7, 2**62, 2.5, "héllo", ""), []],
        "floats": (float("inf"), float("-inf"), 1e-310, 0.1),
        "nan": float("nan"),
        "empty": {},
        "tuple": (),
        True: "bool key",
    }
    ember.save(obj, tmp_path / "nested")
    out = ember.load(tmp_path / "nested")
    assert list(out) == ["model", 3, "floats", "nan", "empty", "tuple", True]
    assert type(out["model"]) is collections.OrderedDict
    assert list(out["model"]) == ["b", "a"]
    assert_tensor_equal(out["model"]["b"], x)
    assert out["model"]["a"] == 1
    assert type(out[3]) is list and type(out[3][1]) is tuple
    assert out[3][1] == (None, True, False, 0, -7, 2**62, 2.5, "héllo", "")
    assert type(out[3][1][1]) is bool and type(out[3][1][3]) is int
    assert out[3][2] == []
    assert out["floats"] == (float("inf"), float("-inf"), 1e-310, 0.1)
    assert math.isnan(out["nan"])
    assert out["empty"] == {} and out["tuple"] == ()
    assert out[True] == "bool key"
    # The same tensor object twice comes back as one tensor.
    assert out["model"]["b"] is out[3][0] or shares_memory(out["model"]["b"], out[3][0])


def test_scalars_alone_and_depth(tmp_path):
    for obj in [None, 3, 2.5, "s", True, [], {}]:
        assert load_bytes(_save_bytes(obj)) == obj
    deep = x = []
    for _ in range(60):
        x.append([])
        x = x[0]
    assert load_bytes(_save_bytes(deep)) == deep
    too_deep = x = []
    for _ in range(150):
        x.append([])
        x = x[0]
    with pytest.raises((ValueError, CheckpointError)):
        _save_bytes(too_deep)
    cyclic = []
    cyclic.append(cyclic)
    with pytest.raises((ValueError, CheckpointError)):
        _save_bytes(cyclic)


def test_unsupported_objects_are_refused():
    with pytest.raises(TypeError, match="state_dict"):
        _save_bytes(MLP())
    with pytest.raises(TypeError):
        _save_bytes({"a": object()})
    with pytest.raises(TypeError):
        _save_bytes({(1, 2): 3})
    with pytest.raises(TypeError):
        ember.save({}, 42)


def _save_bytes(obj):
    b = io.BytesIO()
    ember.save(obj, b)
    return b.getvalue()


def test_bytesio_round_trip():
    x = ember.arange(12).reshape(3, 4)
    buf = io.BytesIO()
    ember.save({"x": x, "list": [x, 1]}, buf)
    buf.seek(0)
    out = ember.load(buf)
    assert_tensor_equal(out["x"], x)
    assert_tensor_equal(out["list"][0], x)
    assert out["list"][1] == 1


ALL_DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


def make_tensor(dtype_name, shape=(3, 4), seed=0):
    rng = np.random.default_rng(seed)
    if dtype_name == "bool":
        a = rng.random(shape) > 0.5
    elif dtype_name in ("float16", "float32", "float64"):
        a = rng.standard_normal(shape).astype(dtype_name)
    elif dtype_name == "bfloat16":
        return ember.tensor(rng.standard_normal(shape).astype(np.float32)).to(ember.bfloat16)
    else:
        info = np.iinfo(dtype_name)
        a = rng.integers(max(info.min, -1000), min(info.max, 1000), size=shape).astype(dtype_name)
    return ember.tensor(a)


@pytest.mark.parametrize("dtype_name", ALL_DTYPES)
def test_every_dtype(tmp_path, dtype_name):
    t = make_tensor(dtype_name)
    assert t.dtype == getattr(ember, dtype_name)
    ember.save({"t": t, "nested": [t[1]]}, tmp_path / "d")
    out = ember.load(tmp_path / "d")
    assert_tensor_equal(out["t"], t)
    assert_tensor_equal(out["nested"][0], t[1])
    out = load_bytes(_save_bytes([t, t.t()]))
    assert_tensor_equal(out[0], t)
    assert_tensor_equal(out[1], t.t())


def test_zero_sized_and_scalar_tensors():
    z = ember.zeros(0, 3)
    s = ember.tensor(3.5)
    out = load_bytes(_save_bytes({"z": z, "s": s, "l": [z, s]}))
    assert tuple(out["z"].shape) == (0, 3)
    assert tuple(out["s"].shape) == ()
    assert out["s"].item() == 3.5


def test_non_contiguous_views_are_saved_compactly():
    big = ember.arange(100000, dtype=ember.float32).reshape(1000, 100)
    col = big[:, 3]  # 1000 elements strided across the whole storage
    assert not col.is_contiguous()
    data = _save_bytes([col])
    assert len(data) < 1000 * 4 + 2000, "a strided view alone is written compactly, not its base"
    out = load_bytes(data)
    assert_tensor_equal(out[0], col)
    tr = big.t()
    out = load_bytes(_save_bytes({"tr": tr}))
    assert_tensor_equal(out["tr"], tr)
    sl = big[10:20, ::7]
    out = load_bytes(_save_bytes((sl,)))
    assert_tensor_equal(out[0], sl)


def test_sharing_is_preserved(tmp_path):
    base = ember.arange(20, dtype=ember.float32).reshape(4, 5)
    view = base[1]
    tr = base.t()
    data = _save_bytes([base, view, tr, base])
    assert len(data) < 2 * 80 + 2000, "shared storage is written once"
    b2, v2, t2, b3 = load_bytes(data)
    assert_tensor_equal(b2, base)
    assert_tensor_equal(v2, view)
    assert_tensor_equal(t2, tr)
    assert b3 is b2
    assert shares_memory(b2, v2)
    assert shares_memory(v2, b2)
    assert shares_memory(b2, t2)

    # Two views that overlap partly, none the base.
    a, b = base[:3], base[2:]
    a2, b2 = load_bytes(_save_bytes({"seq": [a, b]}))["seq"]
    assert_tensor_equal(a2, a)
    assert shares_memory(a2, b2)


def test_tied_parameters_in_a_state_dict(tmp_path):
    shared = nn.Linear(4, 4)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    sd = net.state_dict()
    ember.save(sd, tmp_path / "tied")
    sd2 = ember.load(tmp_path / "tied")
    assert list(sd2) == list(sd)
    for k in sd:
        assert_tensor_equal(sd2[k], sd[k])
    # state_dict dedups tied modules by name in PyTorch; build a truly tied dict too.
    w = ember.randn(3, 3)
    tied = {"encoder.weight": w, "decoder.weight": w, "decoder.t": w.t()}
    ember.save(tied, tmp_path / "tied2")
    out = ember.load(tmp_path / "tied2")
    assert shares_memory(out["encoder.weight"], out["decoder.weight"])
    assert shares_memory(out["encoder.weight"], out["decoder.t"])
    assert_tensor_equal(out["decoder.t"], w.t())
    if st_numpy is not None:
        plain = st_numpy.load_file(str(tmp_path / "tied2"))
        assert sorted(plain) == sorted(tied)
        np.testing.assert_array_equal(plain["decoder.t"], arr(w.t()))


def test_mmap_load(tmp_path):
    sd = {"w": ember.randn(64, 32), "b": ember.arange(10), "h": make_tensor("bfloat16")}
    p = tmp_path / "m.safetensors"
    ember.save(sd, p)
    before = p.read_bytes()
    out = ember.load(p, mmap=True)
    for k in sd:
        assert_tensor_equal(out[k], sd[k])
    out["w"] += 1  # copy-on-write: the file is untouched
    assert p.read_bytes() == before
    del out
    nested = ember.load(p, mmap=True, map_location="cpu")
    assert_tensor_equal(nested["b"], sd["b"])


def test_map_location_forms(tmp_path):
    p = tmp_path / "m"
    x = ember.arange(3)
    ember.save({"x": x}, p)
    for loc in ["cpu", ember.device("cpu"), {"cpu": "cpu"}, {"cuda:0": "cpu"}]:
        assert_tensor_equal(ember.load(p, map_location=loc)["x"], x)
    with pytest.raises(TypeError):
        ember.load(p, map_location=lambda storage, loc: storage)


def _gpu_saved_file():
    """A checkpoint that says its tensor was saved on cuda:0."""
    data = np.arange(4, dtype=np.float32).tobytes()
    meta = {
        "format": "pt",
        "ember.format_version": "1",
        "ember.tree": json.dumps({"dict": [["w", {"t": 0}]]}),
        "ember.storages": json.dumps([{"entry": "w", "device": "cuda:0"}]),
        "ember.tensors": json.dumps([{"storage": 0, "dtype": "F32", "shape": [4], "strides": [1], "offset": 0}]),
    }
    header = {"__metadata__": meta, "w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
    return make_safetensors(header, data)


def test_gpu_saved_file_maps_to_cpu():
    data = _gpu_saved_file()
    out = load_bytes(data, map_location="cpu")
    np.testing.assert_array_equal(arr(out["w"]), np.arange(4, dtype=np.float32))
    out = load_bytes(data, map_location={"cuda:0": "cpu"})
    np.testing.assert_array_equal(arr(out["w"]), np.arange(4, dtype=np.float32))
    if not cuda_available():
        with pytest.raises(CheckpointError, match="map_location"):
            load_bytes(data)
    else:
        out = load_bytes(data)
        assert str(out["w"].device).startswith("cuda")


@pytest.mark.skipif(not cuda_available(), reason="needs CUDA")
def test_gpu_round_trip(tmp_path):
    x = ember.randn(5, 7).to("cuda")
    v = x[1:3]
    ember.save({"x": x, "v": v}, tmp_path / "g")
    out = ember.load(tmp_path / "g")
    assert str(out["x"].device).startswith("cuda")
    assert_tensor_equal(out["x"], x)
    assert_tensor_equal(out["v"], v)
    out = ember.load(tmp_path / "g", map_location="cpu")
    assert str(out["x"].device) == "cpu"
    assert shares_memory(out["x"], out["v"])


# ---------------------------------------------------------------- safetensors interop

@needs_safetensors
def test_state_dict_is_plain_safetensors(tmp_path):
    sd = collections.OrderedDict((f"t_{d}", make_tensor(d, seed=i)) for i, d in enumerate(ALL_DTYPES) if d != "bfloat16")
    sd["view"] = sd["t_float32"].t()
    ember.save(sd, tmp_path / "sd.safetensors")
    plain = st_numpy.load_file(str(tmp_path / "sd.safetensors"))
    assert sorted(plain) == sorted(sd)
    for k, t in sd.items():
        assert plain[k].dtype == arr(t).dtype, k
        np.testing.assert_array_equal(plain[k], arr(t))
    out = ember.load(tmp_path / "sd.safetensors")
    assert type(out) is collections.OrderedDict and list(out) == list(sd)


@needs_safetensors
def test_bfloat16_readable_by_safetensors(tmp_path):
    if torch is None:
        pytest.skip("reading bfloat16 from safetensors needs torch")
    import safetensors.torch as st_torch
    t = make_tensor("bfloat16")
    ember.save({"h": t}, tmp_path / "h")
    h = st_torch.load_file(str(tmp_path / "h"))["h"]
    assert h.dtype == torch.bfloat16
    np.testing.assert_array_equal(h.float().numpy(), arr(t))


@needs_safetensors
def test_load_files_written_by_safetensors(tmp_path):
    tensors = {
        "weight": np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32),
        "ids": np.arange(7, dtype=np.int64),
        "mask": np.array([True, False, True]),
        "half": np.linspace(-1, 1, 5).astype(np.float16),
        "u8": np.arange(256, dtype=np.uint8),
        "scalar": np.array(2.0, dtype=np.float64),
        "empty": np.zeros((0, 4), dtype=np.int32),
    }
    p = tmp_path / "foreign.safetensors"
    st_numpy.save_file(tensors, str(p), metadata={"who": "someone else"})
    for kw in [{}, {"mmap": True}]:
        out = ember.load(p, **kw)
        assert sorted(out) == sorted(tensors)
        for k, a in tensors.items():
            assert arr(out[k]).dtype == a.dtype
            np.testing.assert_array_equal(arr(out[k]), a)
    out = load_bytes(st_numpy.save(tensors))
    np.testing.assert_array_equal(arr(out["weight"]), tensors["weight"])


# ---------------------------------------------------------------- PyTorch import

@needs_torch
def test_import_torch_state_dict(tmp_path):
    torch.manual_seed(0)
    tnet = torch.nn.Sequential(torch.nn.Linear(20, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    torch.save(tnet.state_dict(), tmp_path / "mlp.params")
    sd = ember.load(tmp_path / "mlp.params")
    assert list(sd) == list(tnet.state_dict())
    for k, v in tnet.state_dict().items():
        np.testing.assert_array_equal(arr(sd[k]), v.numpy())
    net = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
    net.load_state_dict(sd)
    X = np.random.default_rng(1).standard_normal((2, 20)).astype(np.float32)
    np.testing.assert_allclose(arr(net(ember.tensor(X))), tnet(torch.tensor(X)).detach().numpy(), rtol=1e-5,
                               atol=1e-5)


@needs_torch
def test_import_torch_containers_views_and_dtypes(tmp_path):
    x = torch.arange(12.0).reshape(3, 4)
    dtypes = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16,
              torch.bfloat16, torch.float32, torch.float64]
    obj = {
        "list": [x, x.t(), x[1], torch.nn.Parameter(torch.ones(2))],
        "tuple": (1, 2.5, "s", None, True),
        7: collections.OrderedDict(w=torch.zeros(2, dtype=torch.int64)),
        "dtypes": [torch.arange(6).reshape(2, 3).to(d) for d in dtypes],
    }
    torch.save(obj, tmp_path / "t.pt")
    buf = io.BytesIO()
    torch.save(obj, buf)
    for src in [tmp_path / "t.pt", io.BytesIO(buf.getvalue())]:
        out = ember.load(src)
        a, at, a1, p = out["list"]
        np.testing.assert_array_equal(arr(a), x.numpy())
        np.testing.assert_array_equal(arr(at), x.t().numpy())
        np.testing.assert_array_equal(arr(a1), x[1].numpy())
        np.testing.assert_array_equal(arr(p), np.ones(2, np.float32))
        assert shares_memory(a, at) and shares_memory(a, a1)
        assert out["tuple"] == (1, 2.5, "s", None, True)
        assert type(out[7]) is collections.OrderedDict
        assert out[7]["w"].dtype == ember.int64
        for d, t in zip(dtypes, out["dtypes"]):
            assert str(t.dtype).replace("ember.", "") == str(d).replace("torch.", "")
            np.testing.assert_array_equal(arr(t), torch.arange(6).reshape(2, 3).to(d).float().numpy()
                                          .astype(arr(t).dtype))
    x2 = ember.load(tmp_path / "t.pt", map_location="cpu")["list"][0]
    np.testing.assert_array_equal(arr(x2), x.numpy())


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _torch_like_zip(pickled, path):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickled)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")


def test_refuses_pickle_that_runs_code(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.pt"
    _torch_like_zip(pickle.dumps({"w": 1, "x": _Evil(marker)}, protocol=2), p)
    with pytest.raises(CheckpointError, match=r"refusing to load '(posix|os|nt)\.system'"):
        ember.load(p)
    assert not marker.exists()
    for proto in (0, 4):
        _torch_like_zip(pickle.dumps([_Evil(marker)], protocol=proto), p)
        with pytest.raises(CheckpointError, match="refusing to load"):
            ember.load(p)
    # Other classic gadgets.
    for module, name in [("builtins", "eval"), ("builtins", "getattr"), ("subprocess", "Popen"),
                         ("torch", "load"), ("collections", "namedtuple")]:
        payload = b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n)R."
        _torch_like_zip(payload, p)
        with pytest.raises(CheckpointError, match=f"refusing to load '{module}.{name}'"):
            ember.load(p)
    assert not marker.exists()


@needs_torch
def test_refuses_torch_saved_file_that_runs_code(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2), "payload": _Evil(marker)}, p)
    with pytest.raises(CheckpointError, match="refusing to load"):
        ember.load(p)
    assert not marker.exists()


def test_malformed_torch_zips(tmp_path):
    p = tmp_path / "bad.pt"
    p.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(CheckpointError):
        ember.load(p)
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("a/other.txt", "x")
    with pytest.raises(CheckpointError, match="data.pkl"):
        ember.load(p)
    # A tensor pointing at a missing storage, and one reading past its storage.
    good = _pickle_tensor_ref("0", 4, (8,), (1,))
    _torch_like_zip(good, p)
    with pytest.raises(CheckpointError, match="missing"):
        ember.load(p)
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("archive/data.pkl", good)
        z.writestr("archive/data/0", b"\0" * 16)
    with pytest.raises(CheckpointError, match="past the end"):
        ember.load(p)
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("archive/data.pkl", _pickle_tensor_ref("0", 4, (2, 2), (2, 1)))
        z.writestr("archive/data/0", np.arange(4, dtype=np.float32).tobytes())
    np.testing.assert_array_equal(arr(ember.load(p)), np.arange(4, dtype=np.float32).reshape(2, 2))


def _pickle_tensor_ref(key, numel, size, stride):
    """A hand-assembled torch-style pickle (protocol 2) of one float32 tensor."""
    def string(x):
        b = x.encode()
        return b"X" + struct.pack("<I", len(b)) + b

    def integer(v):
        return b"J" + struct.pack("<i", v)

    def tup(items):
        return b"(" + b"".join(items) + b"t"

    storage = tup([string("storage"), b"ctorch\nFloatStorage\n", string(key), string("cpu"), integer(numel)]) + b"Q"
    args = tup([storage, integer(0), tup([integer(v) for v in size]), tup([integer(v) for v in stride]), b"\x89",
                b"ccollections\nOrderedDict\n)R"])
    return b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n" + args + b"R."


# ---------------------------------------------------------------- hostile files

def _valid_ember_file():
    x = ember.arange(12, dtype=ember.float32).reshape(3, 4)
    return _save_bytes({"a": [x, x.t(), 1, "s"], "b": ember.arange(5), "c": {"d": x[1]}})


ENTRY = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}


@pytest.mark.parametrize("data,words", [
    (b"", ["shorter than the 8-byte"]),
    (b"\x01\x00\x00", ["shorter than the 8-byte"]),
    (struct.pack("<Q", 1000) + b"{}", ["larger than the file"]),
    (struct.pack("<Q", 2**40) + b"{}" * 8, ["larger than the cap"]),
    (make_safetensors(None, raw_header=b'{"a":"\xff"}'), ["UTF-8"]),
    (make_safetensors(None, raw_header=b'{"a": }'), ["invalid JSON"]),
    (make_safetensors(None, raw_header=b"[1, 2, 3]"), ["not a JSON object"]),
    (make_safetensors(None, raw_header=b'{"a":' + json.dumps(ENTRY).encode() + b',"a":'
                      + json.dumps(ENTRY).encode() + b"}", data=b"\0" * 4), ["duplicate key"]),
    (make_safetensors({"a": dict(ENTRY, dtype="C64")}, b"\0" * 4), ["unknown dtype"]),
    (make_safetensors({"a": dict(ENTRY, shape=[2**32, 2**32, 2**32])}, b"\0" * 4), ["overflows"]),
    (make_safetensors({"a": dict(ENTRY, shape=[2])}, b"\0" * 4), ["need 8 bytes"]),
    (make_safetensors({"a": dict(ENTRY, data_offsets=[4, 8])}, b"\0" * 4), ["out of range"]),
    (make_safetensors({"a": dict(ENTRY, shape=[2], data_offsets=[0, 8]), "b": dict(ENTRY, data_offsets=[4, 8])},
                      b"\0" * 8), ["overlapping"]),
    (make_safetensors({"a": ENTRY, "b": dict(ENTRY, data_offsets=[8, 12])}, b"\0" * 12), ["hole"]),
    (make_safetensors({"a": ENTRY}, b"\0" * 5), ["trailing bytes"]),
    (make_safetensors({"__metadata__": {"k": 1}}), ["must be a string"]),
    (make_safetensors({"a": dict(ENTRY, shape=[-1])}, b"\0" * 4), ["negative"]),
])
def test_hostile_headers(tmp_path, data, words):
    assert_refused(data, *words, tmp_path=tmp_path)


def _ember_file(tree, storages=None, tensors=None, entries=(), version="1"):
    meta = {"ember.format_version": version, "ember.tree": json.dumps(tree)}
    if storages is not None:
        meta["ember.storages"] = json.dumps(storages)
    if tensors is not None:
        meta["ember.tensors"] = json.dumps(tensors)
    header, data, off = {"__metadata__": meta}, b"", 0
    for name, a in entries:
        b = a.tobytes()
        header[name] = {"dtype": {np.float32: "F32", np.int64: "I64"}[a.dtype.type], "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        data += b
        off += len(b)
    return make_safetensors(header, data)


F4 = np.arange(4, dtype=np.float32)


def _view(**kw):
    d = {"storage": 0, "dtype": "F32", "shape": [4], "strides": [1], "offset": 0}
    d.update(kw)
    return d


@pytest.mark.parametrize("data,words", [
    (_ember_file({"list": [{"e": "missing"}]}, entries=[("a", F4)]), ["missing tensor entry"]),
    (_ember_file({"list": [{"t": 3}]}, [{"entry": "a"}], [_view()], entries=[("a", F4)]), ["missing tensor 3"]),
    (_ember_file({"list": []}, entries=[("a", F4)]), ["not used"]),
    (_ember_file({"list": [{"e": "a"}]}, entries=[("a", F4)], version="2"), ["version"]),
    (_ember_file(json.loads('{"list": [' * 150 + "]}" * 150)), ["deeper than"]),
    (_ember_file({"list": [{"t": 0}]}, [{"entry": "a"}], [_view(shape=[5])], entries=[("a", F4)]),
     ["past the end"]),
    (_ember_file({"list": [{"t": 0}]}, [{"entry": "a"}], [_view(strides=[-1])], entries=[("a", F4)]),
     ["negative"]),
    (_ember_file({"list": [{"t": 0}]}, [{"entry": "a"}], [_view(storage=1)], entries=[("a", F4)]),
     ["missing storage"]),
    (_ember_file({"list": [{"t": 0}]}, [{"nbytes": 1 << 40}], [_view(entry="a")], entries=[("a", F4)]),
     ["declares"]),
    (_ember_file({"list": [{"t": 0}, {"e": "a"}]}, [{"entry": "a"}], [_view()], entries=[("a", F4)]),
     ["more than once"]),
    (_ember_file({"list": [{"t": 0}]}, [{"entry": "a", "device": "tpu:0"}], [_view()], entries=[("a", F4)]),
     ["device"]),
    (_ember_file({"set": []}), ["unknown node"]),
    (_ember_file({"float": "1.0x"}), ["bad float"]),
    (_ember_file({"dict": [[[1], 2]]}), ["keys"]),
])
def test_hostile_structure_descriptions(tmp_path, data, words):
    assert_refused(data, *words, tmp_path=tmp_path)


def test_every_truncation_is_refused(tmp_path):
    data = _valid_ember_file()
    load_bytes(data)
    p = tmp_path / "t"
    for n in list(range(0, len(data), max(1, len(data) // 300))) + [len(data) - 1]:
        with pytest.raises(CheckpointError):
            load_bytes(data[:n])
        p.write_bytes(data[:n])
        with pytest.raises(CheckpointError):
            ember.load(p)


def _corruptions(data, seed, count):
    """`count` copies of `data`, each with 1-4 random bytes overwritten and,
    one time in ten, truncated at a random point."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        g = bytearray(data)
        for _ in range(int(rng.integers(1, 5))):
            g[int(rng.integers(0, len(g)))] = int(rng.integers(0, 256))
        if rng.random() < 0.1:
            g = g[: int(rng.integers(0, len(g)))]
        yield bytes(g)


def test_random_corruption_never_crashes():
    refused = 0
    for g in _corruptions(_valid_ember_file(), seed=0, count=3000):
        try:
            load_bytes(g)
        except CheckpointError:
            refused += 1
    assert refused > 100


# ---------------------------------------------------------------- crash safety

_SAVER = r"""
import sys, ember
path, n = sys.argv[1], int(sys.argv[2])
sds = [{f"layer{i}.weight": ember.full((n,), float(v)) for i in range(4)} for v in (1, 2)]
print("ready", flush=True)
k = 0
while True:
    ember.save(sds[k % 2], path)
    k += 1
"""


def test_sigkill_during_save_leaves_old_or_new(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    path = tmp_path / "ckpt.safetensors"
    n = 50 * 1024 * 1024 // 16  # four tensors of float32: 50 MB
    ember.save({f"layer{i}.weight": ember.full((n,), 1.0) for i in range(4)}, path)
    script = tmp_path / "saver.py"
    script.write_text(_SAVER)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(ember.__file__)),
                                         env.get("PYTHONPATH", "")])
    rng = np.random.default_rng(0)
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, str(script), str(path), str(n)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.0, 0.8)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        out = ember.load(path)
        assert sorted(out) == [f"layer{i}.weight" for i in range(4)]
        first = {float(arr(t)[0]) for t in out.values()}
        last = {float(arr(t)[-1]) for t in out.values()}
        assert len(first | last) == 1 and first <= {1.0, 2.0}, "a mix of old and new content"
    # The next save cleans up what the killed writers left behind.
    ember.save({"x": ember.zeros(1)}, path)
    litter = [f for f in os.listdir(tmp_path) if ".ember-tmp-" in f]
    assert litter == []


def test_save_to_missing_folder_fails_cleanly(tmp_path):
    with pytest.raises(RuntimeError):
        ember.save({"x": ember.zeros(1)}, tmp_path / "nope" / "x")
    with pytest.raises(FileNotFoundError):
        ember.load(tmp_path / "nope")


# ---------------------------------------------------------------- size

def test_100mb_state_dict(tmp_path):
    sd = collections.OrderedDict()
    for i in range(25):
        sd[f"layers.{i}.weight"] = ember.randn(1024, 1024)  # 4 MB each, 100 MB total
    p = tmp_path / "big.safetensors"
    ember.save(sd, p)
    assert os.path.getsize(p) >= 100 * 1024 * 1024
    out = ember.load(p)
    assert list(out) == list(sd)
    for k in ("layers.0.weight", "layers.24.weight"):
        assert_tensor_equal(out[k], sd[k])


def test_random_corruption_of_torch_zip_never_escapes(tmp_path):
    p = tmp_path / "z.pt"
    if torch is not None:
        torch.save({"w": torch.randn(3, 4), "l": [torch.arange(3), 1.5]}, p)
    else:
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("archive/data.pkl", _pickle_tensor_ref("0", 4, (2, 2), (2, 1)))
            z.writestr("archive/data/0", np.arange(4, dtype=np.float32).tobytes())
    for g in _corruptions(p.read_bytes(), seed=2, count=1500):
        try:
            load_bytes(g)
        except CheckpointError:
            pass
