#!/usr/bin/env bash
# The main job: install dependencies, build, and generate text with a model from ../shared.
#   bash scripts/demo.sh [extra greta_infer arguments]
# Environment: GRETA_SHARED_DIR (default ../shared), GRETA_BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${GRETA_BUILD_DIR:-build}
shared=${GRETA_SHARED_DIR:-../shared}
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
ninja -C "$build" examples/greta_infer >/dev/null

model="$shared/models/stories260K-f32.gguf"
[ -f "$model" ] || { echo "demo: $model not found (set GRETA_SHARED_DIR)" >&2; exit 1; }
echo "== model summary ==" >&2
# sed, not head: head exits early and the writer's SIGPIPE would fail the script under pipefail.
"$build/examples/greta_infer" --info -m "$model" | sed -n '1,30p' >&2
echo "== greedy generation, CPU reference backend ==" >&2
"$build/examples/greta_infer" -m "$model" -p "Once upon a time" -n 120 --temp 0 "$@"
echo
