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

import atheris

# A developer build beside the sources (python/ember/_C*.so) is preferred;
# otherwise the ember this interpreter has installed is fuzzed (CI fuzzes
# the installed wheel).
_SOURCE_TREE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python")
if glob.glob(os.path.join(_SOURCE_TREE, "ember", "_C*.so")):
    sys.path.insert(0, _SOURCE_TREE)

from torch_fuzz_input import checkpoint_bytes  # noqa: E402  (beside this file: what an input means)

with atheris.instrument_imports(include=["ember._torch_import", "ember.serialization"]):
    import ember
    from ember import _torch_import  # noqa: F401  (instrumented on import)

CheckpointError = ember.CheckpointError


def test_one_input(data):
    try:
        ember.load(io.BytesIO(checkpoint_bytes(data)))
    except CheckpointError:
        pass


def main():
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
