#!/usr/bin/env bash
# Everything a machine with a GPU should check, in one go: build with CUDA,
# run the C++ kernel tests against the CPU reference, the Python CUDA tests,
# then the GPU benchmark. Each stage writes its log to OUTDIR and a failing
# stage does not stop the next one; the summary at the end says which failed.
#
#   bash bench/gpu_checks.sh OUTDIR [STAGE...]
#
# Stages, in the order given (default: build ctest pytest bench):
#   build    configure build/gpu for sm_90 with the C++ tests, and build
#   ctest    the C++ CUDA kernel tests
#   pytest   the Python CUDA and device tests
#   bench    bench/compare_cuda.py (quickbench: its --quick subset)
#   all      the whole Python suite (a CUDA build must not change CPU results)
# GoogleTest is found through CMAKE_PREFIX_PATH when not installed system-wide.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: gpu_checks.sh OUTDIR [STAGE...]}
shift
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(build ctest pytest bench)
mkdir -p "$out"
status=()
stage() {  # stage NAME LIMIT_SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  status+=("$name rc=$rc $((SECONDS - t0))s")
  echo "== $name: rc=$rc ($((SECONDS - t0)) s)"
  tail -n 25 "$out/$name.log"
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
nvcc --version | tail -n 2 >>"$out/device.txt"

export PYTHONPATH=$PWD/python
# With pytest-xdist a crashing test is reported and the run goes on.
parallel=""
python3 -c "import xdist" 2>/dev/null && parallel="-n 4"
for name in "${stages[@]}"; do
  case $name in
    build) stage build 420 bash -c "
      cmake -S . -B build/gpu -G Ninja -DEMBER_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
            -DEMBER_BUILD_TESTS=ON -DPython_EXECUTABLE=$(command -v python3) &&
      cmake --build build/gpu -j$(nproc)" ;;
    ctest) stage ctest 240 ctest --test-dir build/gpu -R Cuda --output-on-failure --timeout 120 ;;
    pytest) stage pytest 300 python3 -m pytest -q $parallel -p no:cacheprovider \
      tests/python/test_cuda.py tests/python/test_devices.py tests/python/test_nn_module.py \
      tests/python/test_conv_ops.py tests/python/test_nn_batchnorm.py tests/python/test_nn_layernorm.py ;;
    bench) stage bench 400 python3 bench/compare_cuda.py --json "$out/bench.json" ;;
    quickbench) stage bench 300 python3 bench/compare_cuda.py --quick --json "$out/bench.json" ;;
    all) stage all 500 python3 -m pytest -q $parallel -p no:cacheprovider tests/python ;;
    *) echo "unknown stage $name" >&2; exit 2 ;;
  esac
done
echo "== summary"
printf '%s\n' "${status[@]}" | tee "$out/summary.txt"
