#!/usr/bin/env bash
# Everything a machine with a GPU should check, in one call of at most eight
# minutes (a lent GPU has 15 minutes in all, so one rerun still fits). Stages
# run in priority order, each under its own time limit and never past the
# whole run's budget, so what matters most is done even if the run is cut
# short; a failing stage does not stop the next one. Each stage's log goes to
# OUTDIR; the summary at the end says what passed, failed or was skipped.
#
#   bash bench/gpu_checks.sh OUTDIR [STAGE...]
#
# Stages (default: all of them, in this order):
#   build      configure build/gpu for sm_90a only, with the C++ tests when
#              GoogleTest is found (CMAKE_PREFIX_PATH may name it), and build
#   ctest      the C++ CUDA kernel tests (against the CPU backend)
#   pytest     the Python suite on cuda: all of it with pytest-xdist,
#              otherwise the CUDA tests and every test parametrized on cuda
#   sanitizer  compute-sanitizer memcheck on the kernel tests, racecheck on
#              the kernels that use shared memory
#   bench      bench/compare_cuda.py --quick (ember beside PyTorch CUDA)
#   hopper     bench/hopper_gemm.py at 4096² and 8192²: each wgmma tile
#              configuration, the sm_80 kernel and TF32, checked, then
#              against cuBLAS (issue 18)
#   fullbench  bench/compare_cuda.py, every row (not in the default list)
# GPU_CHECKS_BUDGET (seconds, default 470) bounds the whole run.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: gpu_checks.sh OUTDIR [STAGE...]}
shift
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(build ctest pytest sanitizer bench hopper)
budget=${GPU_CHECKS_BUDGET:-470}
mkdir -p "$out"
status=()
stage() {  # stage NAME LIMIT_SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  local left=$((budget - SECONDS))
  if [ "$left" -lt 15 ]; then
    status+=("$name skipped (the run's budget of ${budget}s is spent)")
    echo "== $name: skipped, budget spent"
    return
  fi
  [ "$limit" -le "$left" ] || limit=$left
  local t0=$SECONDS
  timeout --kill-after=5 "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  local verdict="rc=$rc"
  [ $rc = 124 ] && verdict="cut at its limit of ${limit}s"
  status+=("$name $verdict $((SECONDS - t0))s")
  echo "== $name: $verdict ($((SECONDS - t0)) s)"
  tail -n 25 "$out/$name.log"
}

{
  date -u +"%Y-%m-%d %H:%M UTC"
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1
  nvcc --version 2>&1 | tail -n 2
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" 2>&1
} | tee "$out/device.txt"

export PYTHONPATH=$PWD/python
jobs=$(nproc)
have_xdist=0
python3 -c "import xdist" 2>/dev/null && have_xdist=1
gtest=OFF
python3 - <<'EOF' 2>/dev/null && gtest=ON
import glob, os, sys
roots = ["/usr"] + os.environ.get("CMAKE_PREFIX_PATH", "").split(":")
sys.exit(0 if any(glob.glob(os.path.join(r, p)) for r in roots if r
                  for p in ("lib*/cmake/GTest/GTestConfig.cmake", "lib*/*/cmake/GTest/GTestConfig.cmake",
                            "include/gtest/gtest.h")) else 1)
EOF

for name in "${stages[@]}"; do
  case $name in
    build) stage build 170 bash -c "
      cmake -S . -B build/gpu -G Ninja -DEMBER_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a-real \
            -DEMBER_BUILD_TESTS=$gtest -DPython_EXECUTABLE=$(command -v python3) &&
      cmake --build build/gpu -j$jobs" ;;
    ctest) stage ctest 60 ctest --test-dir build/gpu -R Cuda --output-on-failure --timeout 50 -j4 ;;
    pytest)
      if [ $have_xdist = 1 ]; then
        stage pytest 150 python3 -m pytest -q -n "$((jobs > 12 ? 12 : jobs))" -p no:cacheprovider tests/python
      else
        stage pytest 150 python3 -m pytest -q -p no:cacheprovider tests/python -k "cuda or nccl"
      fi ;;
    sanitizer) stage sanitizer 90 bash -c "
      set -e
      for t in kernels conv_pool norm sort; do
        compute-sanitizer --tool memcheck --leak-check full --error-exitcode 1 \
          build/gpu/tests/cpp/test_cuda_\$t --gtest_brief=1
      done
      # racecheck: the kernels that share memory between threads.
      for t in conv_pool norm sort; do
        compute-sanitizer --tool racecheck --error-exitcode 1 build/gpu/tests/cpp/test_cuda_\$t --gtest_brief=1
      done
      compute-sanitizer --tool racecheck --error-exitcode 1 build/gpu/tests/cpp/test_cuda_kernels \
        --gtest_brief=1 --gtest_filter='*Reduce*:*Softmax*:*Matmul*:*Cumsum*'" ;;
    bench) stage bench 90 python3 bench/compare_cuda.py --quick --json "$out/bench.json" ;;
    hopper) stage hopper 75 python3 bench/hopper_gemm.py --sizes 4096 8192 --json "$out/hopper.json" ;;
    fullbench) stage fullbench 400 python3 bench/compare_cuda.py --json "$out/bench.json" ;;
    *) echo "unknown stage $name" >&2; exit 2 ;;
  esac
done
echo "== summary (${SECONDS}s of a ${budget}s budget)"
printf '%s\n' "${status[@]}" | tee "$out/summary.txt"
