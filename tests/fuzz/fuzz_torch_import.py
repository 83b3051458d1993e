"""atheris target: ember's reader of PyTorch zip checkpoints
(python/ember/_torch_import.py: the zip archive, the restricted unpickler,
the storage records), fed through ember.load like a user's file.

  python3 tests/fuzz/fuzz_torch_import.py CORPUS_DIR tests/data -runs=2000000

Two kinds of input, chosen by the first byte: even, the bytes are the file;
odd, the rest is a data.pkl put into a well-formed archive with the storage
records of one of the PyTorch seed files (a byte-level mutation of a whole
archive almost always breaks the zip CRC, so the unpickler would rarely see
a mutated pickle otherwise).

Property: every input either loads or raises ember.CheckpointError; any
other exception, a hang or a crash is a finding. The importer and the
reading half of ember.serialization are instrumented for coverage (not
zipfile: instrumenting it cost more executions than its coverage gave).
"""

import glob
import io
import os
import sys
import zipfile

import atheris

# A developer build beside the sources (python/ember/_C*.so) is preferred;
# otherwise the ember this interpreter has installed is fuzzed (CI fuzzes
# the installed wheel).
_SOURCE_TREE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python")
if glob.glob(os.path.join(_SOURCE_TREE, "ember", "_C*.so")):
    sys.path.insert(0, _SOURCE_TREE)

with atheris.instrument_imports(include=["ember._torch_import", "ember.serialization"]):
    import ember
    from ember import _torch_import  # noqa: F401  (instrumented on import)

CheckpointError = ember.CheckpointError


DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")


def _seed_archives():
    """[(name prefix, {record name: bytes})] of the PyTorch seed files."""
    out = []
    for name in sorted(os.listdir(DATA)):
        if name.endswith(".pt"):
            with zipfile.ZipFile(os.path.join(DATA, name)) as zf:
                prefix = zf.namelist()[0].split("/")[0]
                out.append((prefix, {n: zf.read(n) for n in zf.namelist() if not n.endswith("/data.pkl")}))
    return out


ARCHIVES = _seed_archives()


def _archive_with_pickle(pickle_bytes, which):
    prefix, records = ARCHIVES[which % len(ARCHIVES)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(prefix + "/data.pkl", pickle_bytes)
        for name, data in records.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_one_input(data):
    if data and data[0] % 2 == 1:
        data = _archive_with_pickle(data[2:], data[1] if len(data) > 1 else 0)
    try:
        ember.load(io.BytesIO(data))
    except CheckpointError:
        pass


def main():
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
