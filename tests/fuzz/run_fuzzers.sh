#!/usr/bin/env bash
# Builds the checkpoint fuzzers and runs them one after another (never two at
# once: each takes a core), seeded from tests/data and the regression
# corpus, with ASan+UBSan. Each run ends after SECONDS seconds or RUNS
# executions, whichever comes first; the last line of each is libFuzzer's
# final status (executions, coverage, corpus).
#
#   tests/fuzz/run_fuzzers.sh 60               # CI: a minute per target
#   TORCH_RUNS=2100000 tests/fuzz/run_fuzzers.sh 3000 3000000   # the long campaign
#   (TORCH_RUNS: executions of the slower Python target, default RUNS)
#
# Corpora grow in build/fuzz/corpus/<target>; a crash, leak, timeout or
# sanitizer report stops the script with the reproducer in build/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET=${1:-60}
RUNS=${2:--1}
CXX=${CXX:-$(command -v clang++ || command -v clang++-14 || true)}
[ -n "$CXX" ] || { echo "clang++ not found (Debian: apt-get install clang libclang-rt-dev)" >&2; exit 1; }

cmake -S . -B build/fuzz -G Ninja -DEMBER_BUILD_FUZZ=ON -DEMBER_CUDA=OFF -DCMAKE_CXX_COMPILER="$CXX" >/dev/null
cmake --build build/fuzz -j2
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

mkseeds() {  # kind, files...: a folder holding copies of the files
  local dir=$PWD/build/fuzz/seeds-$1; shift
  rm -rf "$dir" && mkdir -p "$dir" && cp "$@" "$dir"/ && echo "$dir"
}

run() {  # name, command...; seed folders in SEEDS
  local name=$1; shift
  local corpus=build/fuzz/corpus/$name
  mkdir -p "$corpus"
  local log=build/fuzz/$name.log rc=0
  echo "== $name"
  (cd build/fuzz && "$@" -max_total_time="$SECONDS_PER_TARGET" -runs="$RUNS" $JOBS \
     -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "../../$corpus" $SEEDS >"$name.log" 2>&1) || rc=$?
  grep -E "^#[0-9]+[[:space:]]+DONE|^stat::number|^stat::average|ERROR|SUMMARY|Test unit written" "$log" || true
  echo "corpus: $(ls "$corpus" | wc -l) files"
  [ "$rc" = 0 ] || { echo "$name: finding, exit status $rc (full log: $log)" >&2; exit 1; }
}

# New inputs go to the first folder (the corpus); the others only seed it.
# libFuzzer reads folders recursively, so the seed files are listed by
# kind: tests/data/json for the JSON reader, tests/data/pickle for the
# pickle half of the PyTorch target.
data=$PWD/tests/data
regress=$data/fuzz-regressions
files=$(ls "$data"/*.safetensors "$data"/*.pt | tr '\n' ' ')
# One process, one job: -jobs=1 -workers=1 for libFuzzer; atheris would
# spawn its job as a separate process, so it runs in-process instead.
JOBS="-jobs=1 -workers=1"
SEEDS="$data/json $regress/json" run fuzz_json ./tests/fuzz/fuzz_json
SEEDS="$(mkseeds header $files) $regress/safetensors_header" run fuzz_safetensors_header ./tests/fuzz/fuzz_safetensors_header
SEEDS="$(mkseeds decode $files) $regress/checkpoint_decode" run fuzz_checkpoint_decode ./tests/fuzz/fuzz_checkpoint_decode
JOBS="" SEEDS="$(mkseeds torch $files) $data/pickle $regress/torch_import" \
  RUNS=${TORCH_RUNS:-$RUNS} run fuzz_torch_import "${PYTHON:-python3}" "$PWD/tests/fuzz/fuzz_torch_import.py"
