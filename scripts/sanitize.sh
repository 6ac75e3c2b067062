#!/usr/bin/env bash
# Builds the host test suite with AddressSanitizer + UndefinedBehaviorSanitizer in its own
# build directory and runs it with meson test. Any sanitizer report stops the program that
# hit it (halt_on_error) with a stack trace, so it fails like any other test; leaks are
# reported at exit. Prints "sanitize: N passed, N failed, N skipped (...)" and exits non-zero
# on any failure.
#
#   scripts/sanitize.sh [--results-dir DIR] [-- MESON_TEST_ARGS...]
#
# --results-dir DIR  also copies the Catch2 XML reports into DIR as asan_<module>.xml (plus
#                    one failed case for each program that crashed, or that exited non-zero
#                    after a complete report, e.g. on a leak), so that tools/test_summary.py
#                    counts the sanitized run next to the normal one.
# Environment: GRETA_ASAN_BUILD_DIR (default build-asan), GRETA_SHARED_DIR (default ../shared),
# GRETA_SANITIZE_JOBS (build jobs, default 2).
set -uo pipefail
cd "$(dirname "$0")/.."

results_dir=""
test_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --results-dir) results_dir="$2"; shift 2 ;;
    --) shift; test_args=("$@"); break ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "sanitize.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

build=${GRETA_ASAN_BUILD_DIR:-build-asan}
start=$SECONDS
fail_build() {
  echo "sanitize.sh: $1" >&2
  if [ -n "$results_dir" ]; then
    mkdir -p "$results_dir"
    printf '<?xml version="1.0" encoding="UTF-8"?>\n<Catch2TestRun name="asan_build">\n  <OverallResultsCases successes="0" failures="1" expectedFailures="0" skips="0"/>\n</Catch2TestRun>\n' \
      >"$results_dir/asan_build.xml"
  fi
  echo "sanitize: 0 passed, 1 failed, 0 skipped ($1)"
  exit 1
}

# -O1 -g1: the usual sanitizer build. Measured on one test file (2 cores): -O2 -g 97 s,
# -O1 -g 75 s, -O1 -g1 44 s, -O0 -g1 18 s (but the tests then run several times slower).
# -g1 keeps file:line in the reports' stack traces.
options=(-Db_sanitize=address,undefined -Doptimization=1 -Ddebug=false -Dcpp_args=-g1 -Db_lundef=false
         -Dtests=true -Dgpu=none)
if [ -f "$build/build.ninja" ]; then
  meson setup --reconfigure "$build" "${options[@]}" >/dev/null || fail_build "meson setup failed"
else
  meson setup "$build" "${options[@]}" >"$build.setup.log" 2>&1 || { cat "$build.setup.log" >&2; fail_build "meson setup failed"; }
  rm -f "$build.setup.log"
fi

# Only what the tests run: the test programs, what they depend on, and greta_infer (which the
# CLI tests run); the header self-containment library, a compile check, is the normal build's.
targets=$(python3 - "$build" <<'EOF'
import json, os, subprocess, sys
build = os.path.abspath(sys.argv[1])
intro = lambda what: json.loads(subprocess.check_output(["meson", "introspect", what, build]))
by_id = {t["id"]: t for t in intro("--targets")}
files = set()
for test in intro("--tests"):
    files.add(test["cmd"][0])
    for dep in test.get("depends", []):
        files.update(by_id[dep]["filename"] if dep in by_id else [])
files.update(f for t in by_id.values() if t["name"] == "greta_infer" for f in t["filename"])
for f in sorted(files):
    if f.startswith(build):
        print(os.path.relpath(f, build))
EOF
) || fail_build "cannot list the build's targets"
# shellcheck disable=SC2086
ninja -C "$build" -j "${GRETA_SANITIZE_JOBS:-2}" $targets || fail_build "build failed"
built=$SECONDS

# halt_on_error: stop at the first report, so it cannot scroll past unseen.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
rm -rf "$build/tests/results" && mkdir -p "$build/tests/results"
# Sanitized programs run 2-5x slower than the release build.
meson test -C "$build" --no-rebuild --print-errorlogs --num-processes 2 --timeout-multiplier 3 "${test_args[@]}"

summary=$(python3 - "$build" "$results_dir" <<'EOF'
import json, pathlib, shutil, sys
import xml.etree.ElementTree as ET
build, out = pathlib.Path(sys.argv[1]), sys.argv[2]
results = build / "tests" / "results"
out = pathlib.Path(out) if out else None
if out:
    out.mkdir(parents=True, exist_ok=True)

def failed_case(name):
    if out:
        (out / f"asan_{name}.xml").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<Catch2TestRun name="asan_{name}">\n'
            '  <OverallResultsCases successes="0" failures="1" expectedFailures="0" skips="0"/>\n'
            '</Catch2TestRun>\n')

passed = failed = skipped = 0
reports = {}
for xml in sorted(results.glob("*.xml")):
    try:
        cases = ET.parse(xml).getroot().find("OverallResultsCases")
    except ET.ParseError:
        cases = None
    if cases is None:
        continue
    reports[xml.stem] = int(cases.get("failures", 0))
    passed += int(cases.get("successes", 0))
    failed += int(cases.get("failures", 0))
    skipped += int(cases.get("skips", 0))
    if out:
        shutil.copy(xml, out / f"asan_{xml.stem}.xml")
log = build / "meson-logs" / "testlog.json"
for line in log.read_text().splitlines() if log.is_file() else []:
    entry = json.loads(line)
    if entry.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
        continue
    name = entry["name"]
    if name not in reports:
        print(f"sanitize.sh: '{name}' ended {entry.get('result')} without a complete report (crash or sanitizer abort)", file=sys.stderr)
        failed += 1
        failed_case(name)
    elif reports[name] == 0:
        print(f"sanitize.sh: '{name}' passed its cases but exited {entry.get('returncode')} (a sanitizer report at exit, e.g. a leak)", file=sys.stderr)
        failed += 1
        failed_case(name + "_exit")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
EOF
) || {
  summary="0 passed, 1 failed, 0 skipped"
  [ -n "$results_dir" ] && printf '<?xml version="1.0" encoding="UTF-8"?>\n<Catch2TestRun name="asan_summary">\n  <OverallResultsCases successes="0" failures="1" expectedFailures="0" skips="0"/>\n</Catch2TestRun>\n' \
    >"$results_dir/asan_summary.xml"
}
echo "sanitize: $summary (ASan+UBSan; build $((built - start)) s, tests $((SECONDS - built)) s)"
case "$summary" in
  *" 0 failed"*) exit 0 ;;
  *) exit 1 ;;
esac
