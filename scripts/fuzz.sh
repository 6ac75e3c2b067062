#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang++-19 (-fsanitize=fuzzer,address,
# undefined) and runs each for SECONDS (default 60), starting from seed corpora made from the
# models in ../shared. Prints one summary line per harness and exits non-zero if any harness
# found a crash, a leak, a timeout or a failed invariant (the reproducer is kept under
# $GRETA_FUZZ_DIR/artifacts; replay it with `$GRETA_FUZZ_DIR/fuzz_NAME FILE`).
#
#   scripts/fuzz.sh [SECONDS] [--only NAME]... [--results-dir DIR]
#
# --results-dir DIR  also writes DIR/fuzz_NAME.xml per harness (one passed or failed test case
#                    in the Catch2 XML form tools/test_summary.py counts).
# Environment: GRETA_FUZZ_DIR (default build-fuzz; gitignored: binaries, seeds, the corpus that
# grows across runs, artifacts), GRETA_SHARED_DIR (default ../shared), CXX (default clang++-19).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=60
results_dir=""
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only+=("$2"); shift 2 ;;
    --results-dir) results_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) seconds="$1"; shift ;;
  esac
done
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2; }

harnesses=(gguf safetensors llama2c spm_model tokenizer)
[ ${#only[@]} -gt 0 ] && harnesses=("${only[@]}")
# Largest input per harness: above the biggest seed, small enough to keep runs fast.
declare -A max_len=([gguf]=65536 [safetensors]=16384 [llama2c]=16384 [spm_model]=16384 [tokenizer]=4096)

dir=${GRETA_FUZZ_DIR:-build-fuzz}
cxx=${CXX:-clang++-19}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

write_result() {  # NAME PASSED(1/0)
  [ -n "$results_dir" ] || return 0
  mkdir -p "$results_dir"
  local ok=$1 bad=$((1 - $1))
  printf '<?xml version="1.0" encoding="UTF-8"?>\n<Catch2TestRun name="fuzz_%s">\n  <OverallResultsCases successes="%d" failures="%d" expectedFailures="0" skips="0"/>\n</Catch2TestRun>\n' \
    "$2" "$ok" "$bad" >"$results_dir/fuzz_$2.xml"
}
fail_all() {  # MESSAGE: the build failed, so every harness counts as failed
  echo "fuzz.sh: $1" >&2
  for h in "${harnesses[@]}"; do echo "fuzz $h: FAIL (not built)"; write_result 0 "$h"; done
  exit 1
}

command -v "$cxx" >/dev/null || fail_all "$cxx not found (scripts/setup.sh installs clang-19)"
# libFuzzer's runtime ships in libclang-rt-19-dev, which clang-19 does not pull in.
probe="$dir/probe"
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$probe.cpp"
"$cxx" -fsanitize=fuzzer,address,undefined "$probe.cpp" -o "$probe" 2>"$probe.log" ||
  fail_all "cannot link a libFuzzer program (is libclang-rt-19-dev installed?): $(head -c 300 "$probe.log")"

# A small ninja file: header dependencies come from the compiler's depfiles, so a second run
# rebuilds only what changed.
flags="-std=c++20 -g -O1 -fno-omit-frame-pointer -I$root/include -I$root/tests/fuzz -DGRETA_SOURCE_ROOT=\\\"$root\\\""
{
  echo "rule fuzzer"
  echo "  command = $cxx $flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -MD -MF \$out.d \$in -o \$out"
  echo "  depfile = \$out.d"
  echo "  deps = gcc"
  echo "  description = fuzzer \$out"
  echo "rule tool"
  echo "  command = $cxx $flags -MD -MF \$out.d \$in -o \$out"
  echo "  depfile = \$out.d"
  echo "  deps = gcc"
  echo "  description = tool \$out"
  echo "build make_seeds: tool $root/tests/fuzz/make_seeds.cpp"
  for h in "${harnesses[@]}"; do
    [ -f "$root/tests/fuzz/fuzz_$h.cpp" ] || fail_all "no harness tests/fuzz/fuzz_$h.cpp"
    echo "build fuzz_$h: fuzzer $root/tests/fuzz/fuzz_$h.cpp"
  done
} >"$dir/build.ninja"
build_start=$SECONDS
ninja -C "$dir" -j "${GRETA_FUZZ_BUILD_JOBS:-2}" >"$dir/build.log" 2>&1 || { tail -40 "$dir/build.log" >&2; fail_all "build failed"; }
echo "fuzz.sh: harnesses built in $((SECONDS - build_start)) s"

rm -rf "$dir/seeds"
"$dir/make_seeds" "$dir/seeds" || fail_all "seed corpus could not be built"

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failures=0
for h in "${harnesses[@]}"; do
  corpus="$dir/corpus/$h"
  mkdir -p "$corpus" "$dir/artifacts" "$dir/seeds/$h"
  dict=()
  [ -f "$root/tests/fuzz/$h.dict" ] && dict=(-dict="$root/tests/fuzz/$h.dict")
  log="$dir/fuzz_$h.log"
  start=$SECONDS
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb / -malloc_limit_mb: an allocation
  # out of proportion to a <= 64 KiB input is a failure, not something to survive.
  "$dir/fuzz_$h" "$corpus" "$dir/seeds/$h" "${dict[@]}" \
    -max_total_time="$seconds" -max_len="${max_len[$h]:-16384}" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$h-" >"$log" 2>&1
  rc=$?
  took=$((SECONDS - start))
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  units=$(find "$corpus" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    echo "fuzz $h: PASS ($seconds s requested, ${took} s, ${runs:-?} runs, coverage ${cov:-?} edges, corpus $units)"
    write_result 1 "$h"
  else
    artifact=$(grep -o "Test unit written to [^ ]*" "$log" | tail -1 | sed 's/Test unit written to //')
    reason=$(grep -m1 -E "ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error:|fuzz invariant violated" "$log" | head -c 200)
    echo "fuzz $h: FAIL (exit $rc after ${took} s: ${reason:-see $log}; reproducer: ${artifact:-none})"
    write_result 0 "$h"
    failures=$((failures + 1))
  fi
done
echo "fuzz.sh: ${#harnesses[@]} harnesses, $failures failed"
[ $failures -eq 0 ]
