#!/usr/bin/env bash
# The tests against an AddressSanitizer + UndefinedBehaviorSanitizer build of
# the core and the module (CMake option EMBER_SANITIZE, which also bypasses
# the CPU caching allocator). Any sanitizer report fails the run.
#
#   tests/run_sanitized.sh          # CI: C++ tests + the named Python files below
#   tests/run_sanitized.sh --full   # the whole Python suite (slow: about 5x a plain run)
#
# C++ tests run with LeakSanitizer on. The Python suite runs under the
# system python with libasan preloaded and leak detection off (CPython keeps
# objects alive until exit on purpose, which LeakSanitizer would report).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
BUILD=build/asan
# The interpreter itself, not a wrapper script, so that LD_PRELOAD reaches it.
PY=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')

# -O1, as the sanitizers' authors recommend: reports stay exact and the
# build is much quicker than -O3.
cmake -S . -B $BUILD -G Ninja -DEMBER_SANITIZE=ON -DEMBER_BUILD_TESTS=ON -DEMBER_CUDA=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DPython_EXECUTABLE="$PY" >/dev/null
cmake --build $BUILD -j2

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== C++ tests (ASan, UBSan, LSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ctest --test-dir $BUILD --output-on-failure -j2

# The package with the instrumented module, beside (not instead of) the
# developer build in python/ember.
rm -rf $BUILD/python && mkdir -p $BUILD/python
cp -r python/ember $BUILD/python/ember
rm -f $BUILD/python/ember/_C*.so
cp $BUILD/src/_C*.so $BUILD/python/ember/

if [ "$mode" = "--full" ]; then
  # Minus the tests that watch the process's RSS fall after a free: ASan
  # holds freed memory in quarantine on purpose (to catch use after free),
  # so RSS cannot fall; leaks are LeakSanitizer's job in the C++ tests.
  rss=tests/python/test_autograd_stress.py
  files=(tests/python --deselect $rss::test_saved_tensors_released_after_backward
         --deselect $rss::test_graph_freed_when_output_dropped
         --deselect $rss::test_no_leak_over_10000_training_steps)
else
  # Checkpoints (every reader and writer, hostile files, background saves),
  # autograd, threads, and the convolutions (whose kernels read image rows
  # at computed offsets): the code where memory errors would hide.
  files=(tests/python/test_checkpoint.py tests/python/test_checkpoint_background.py
         tests/python/test_checkpoint_seed_files.py tests/python/test_autograd_semantics.py
         tests/python/test_threads.py tests/python/test_conv_ops.py)
fi
echo "== Python tests (ASan, UBSan): ${files[*]}"
# libstdc++ is preloaded too: ASan resolves the real __cxa_throw when it
# starts, and python itself does not load libstdc++, so the first C++
# exception would otherwise abort with "CHECK failed: real___cxa_throw".
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)" \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
  PYTHONPATH=$BUILD/python "$PY" -m pytest -q -p no:cacheprovider "${files[@]}"
