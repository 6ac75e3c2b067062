#!/usr/bin/env bash
# Builds GRETA and runs every test. Ends with one line "N passed, N failed, N skipped" computed
# from the test programs' reports; exits non-zero on any failure.
# Environment: GRETA_BUILD_DIR (default build), GRETA_SHARED_DIR (default ../shared),
# GRETA_SKIP_GPU_BUILDS / GRETA_SKIP_SANITIZE / GRETA_SKIP_FUZZ=1 to leave a stage out,
# GRETA_FUZZ_SECONDS (default 60 per harness).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }

build=${GRETA_BUILD_DIR:-build}
extra_failures=0

if ! python3 tools/amalgamate.py --check; then
  extra_failures=$((extra_failures + 1))
fi

if [ -f "$build/build.ninja" ]; then
  meson setup --reconfigure "$build" >/dev/null || exit 1
else
  meson setup "$build" || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
fi
if ! ninja -C "$build"; then
  echo "build failed"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

rm -rf "$build/tests/results" && mkdir -p "$build/tests/results"
meson test -C "$build" --print-errorlogs --num-processes 2 ${GRETA_TEST_ARGS:-}
# GPU compile checks (CUDA and HIP builds) when the toolchains are present.
if [ "${GRETA_SKIP_GPU_BUILDS:-0}" != 1 ] && [ -x scripts/gpu_builds.sh ]; then
  GRETA_RESULTS_DIR="$PWD/$build/tests/results" bash scripts/gpu_builds.sh || extra_failures=$((extra_failures + 1))
fi
# The host suite again under ASan+UBSan, and each libFuzzer harness for a minute (issue 7).
# Their reports join the summary below; a non-zero exit also counts when nothing was reported.
if [ "${GRETA_SKIP_SANITIZE:-0}" != 1 ]; then
  bash scripts/sanitize.sh --results-dir "$PWD/$build/tests/results" || extra_failures=$((extra_failures + 1))
fi
if [ "${GRETA_SKIP_FUZZ:-0}" != 1 ]; then
  bash scripts/fuzz.sh "${GRETA_FUZZ_SECONDS:-60}" --results-dir "$PWD/$build/tests/results" ||
    extra_failures=$((extra_failures + 1))
fi
python3 tools/test_summary.py "$build/tests/results" "$build/meson-logs/testlog.json" \
  --extra-failures "$extra_failures"
