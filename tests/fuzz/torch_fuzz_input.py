"""What an input of the PyTorch-importer fuzz target means, shared by the
target (fuzz_torch_import.py) and the replay of its findings
(tests/python/test_checkpoint_seed_files.py): an even first byte, the bytes
are the file; an odd one, the rest (after a byte choosing the seed) is a
data.pkl put into a well-formed archive with the storage records of one of
the PyTorch seed files in tests/data."""

import io
import os
import zipfile

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


def checkpoint_bytes(data):
    """The file ember.load is given for the fuzz input `data`."""
    if data and data[0] % 2 == 1:
        return _archive_with_pickle(data[2:], data[1] if len(data) > 1 else 0)
    return data
