#!/usr/bin/env bash
# Regenerates the type stubs of ember's native module, python/ember/_C/*.pyi,
# from the built extension (build it first; see README "Developing").
# Needs pybind11-stubgen (in the test extra).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/gen_stubs.py
