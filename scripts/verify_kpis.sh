#!/usr/bin/env bash
# One command on a GPU machine: build (CUDA), run the GPU correctness tests, parity validation on
# every shared model and on the synthetic Llama-2-7B, benchmarks, profile and soak, then print a
# KPI table with pass/fail against the targets of issues 4-7.
#   bash scripts/verify_kpis.sh                  # builds in build-kpi (meson, nvcc, the Debian deps)
#   bash scripts/verify_kpis.sh --prebuilt DIR   # DIR holds greta_infer, greta_soak, test_gpu_kernels,
#                                                # test_gpu_backend built elsewhere (-Dgpu=cuda)
# Environment: GRETA_SHARED_DIR (default ../shared), KPI_LOG_DIR (default kpi-logs), KPI_REPS (5).
set -uo pipefail
cd "$(dirname "$0")/.."
shared=${GRETA_SHARED_DIR:-../shared}
logs=${KPI_LOG_DIR:-kpi-logs}
reps=${KPI_REPS:-5}
mkdir -p "$logs"

if [ "${1:-}" = "--prebuilt" ]; then
  bin=$2
else
  bin=build-kpi
  [ -f "$bin/build.ninja" ] || meson setup "$bin" -Dgpu=cuda -Dgpu_arch=sm_90a >"$logs/setup.log" 2>&1 ||
    { echo "verify_kpis: meson setup failed (see $logs/setup.log)"; exit 1; }
  ninja -C "$bin" examples/greta_infer examples/greta_soak tests/gpu/test_gpu_kernels tests/gpu/test_gpu_backend \
    >"$logs/build.log" 2>&1 || { echo "verify_kpis: build failed (see $logs/build.log)"; exit 1; }
  mkdir -p "$bin/kpi-bin"
  cp "$bin/examples/greta_infer" "$bin/examples/greta_soak" "$bin/tests/gpu/test_gpu_kernels" \
     "$bin/tests/gpu/test_gpu_backend" "$bin/kpi-bin/"
  bin=$bin/kpi-bin
fi
export GRETA_SHARED_DIR=$shared
infer=$bin/greta_infer
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$logs/device.txt" 2>&1 || true

run() {  # name, command...: runs, logs, prints one status line
  local name=$1; shift
  local t0=$SECONDS
  "$@" >"$logs/$name.log" 2>&1
  local rc=$?
  echo "verify_kpis: $name exit $rc ($((SECONDS - t0)) s)" >&2
  return $rc
}

declare -A status
run gpu_kernels "$bin/test_gpu_kernels" && status[kernels]=pass || status[kernels]=FAIL
run gpu_backend "$bin/test_gpu_backend" && status[backend]=pass || status[backend]=FAIL

parity_fail=0
for m in stories260K-f32 llama2-tiny-random-f16 synthetic-tiny-f16 synthetic-tiny-q8_0 synthetic-tiny-q6_k synthetic-tiny-q4_k_m; do
  [ -f "$shared/models/$m.gguf" ] || continue
  run "validate_$m" "$infer" --validate -m "$shared/models/$m.gguf" -p "Once upon a time, there was a little girl named" \
    --validate-steps 32 || parity_fail=1
done
run validate_7b_q4_k_m "$infer" --validate --synthetic llama2-7b --quant q4_k_m --validate-layers 2 \
  --validate-steps 8 -p "synthetic" || parity_fail=1

run bench_q4_k_m "$infer" --bench --synthetic llama2-7b --quant q4_k_m -p 512 -n 128 -r "$reps" --json --backend gpu
run bench_q4_k_m_nograph "$infer" --bench --synthetic llama2-7b --quant q4_k_m -p 0 -n 128 -r "$reps" --json --backend gpu --no-graph
run bench_f16 "$infer" --bench --synthetic llama2-7b --quant f16 -p 512 -n 128 -r "$reps" --json --backend gpu
run profile_q4_k_m "$infer" --profile --synthetic llama2-7b --quant q4_k_m -n 128
run soak "$bin/greta_soak" "$shared/models/stories260K-f32.gguf" 1000 && status[soak]=pass || status[soak]=FAIL

python3 - "$logs" "$parity_fail" "${status[kernels]}" "${status[backend]}" "${status[soak]}" <<'PY'
import json, re, sys, pathlib
logs, parity_fail, kernels, backend, soak = pathlib.Path(sys.argv[1]), sys.argv[2] == "1", *sys.argv[3:]

def bench(name):
    try:
        text = (logs / f"{name}.log").read_text()
        start = re.search(r"^\[$", text, re.M).start()  # the JSON array, not the progress bar
        return {r["test"]: r for r in json.loads(text[start:text.rindex("]") + 1])}
    except Exception:
        return {}

def parity():
    worst, lines = 0.0, []
    for p in sorted(logs.glob("validate_*.log")):
        m = re.search(r"max rel ([0-9][0-9.e+-]*)", p.read_text())
        if m:
            worst = max(worst, float(m.group(1)))
    return worst

q4, q4ng, f16 = bench("bench_q4_k_m"), bench("bench_q4_k_m_nograph"), bench("bench_f16")
def tps(b, t):
    return b.get(t, {}).get("tokens_per_s")
rows = []
def row(name, value, target, ok, fmt="{:.1f}"):
    v = "n/a" if value is None else fmt.format(value)
    rows.append((name, v, target, "n/a" if value is None else ("pass" if ok(value) else "FAIL")))
row("decode tg128, Q4_K_M 7B (tok/s)", tps(q4, "tg128"), ">= 500 (goal 620)", lambda v: v >= 500)
row("decode tg128, Q4_K_M 7B, --no-graph (tok/s)", tps(q4ng, "tg128"), "(comparison)", lambda v: True)
row("decode tg128, F16 7B (tok/s)", tps(f16, "tg128"), ">= 190", lambda v: v >= 190)
frac = q4.get("tg128", {}).get("bandwidth_fraction")
row("Q4_K_M decode, fraction of measured HBM bandwidth", None if frac is None else 100 * frac, "goal 80%", lambda v: v >= 80, "{:.1f}%")
row("prefill pp512, Q4_K_M 7B (tok/s)", tps(q4, "pp512"), ">= 15000", lambda v: v >= 15000)
row("prefill pp512, F16 7B (tok/s)", tps(f16, "pp512"), ">= 20000", lambda v: v >= 20000)
pp = tps(q4, "pp512")
row("TTFT, 512-token prompt, Q4_K_M (ms)", None if not pp else 512 / pp * 1e3, "<= 40", lambda v: v <= 40)
row("parity: worst logits max rel error, GPU vs CPU", parity(), "<= 1e-2, same greedy ids", lambda v: v <= 1e-2 and not parity_fail, "{:.2e}")
rows.append(("GPU kernel tests", kernels, "all pass", kernels))
rows.append(("GPU backend tests (incl. stories260K greedy 200)", backend, "all pass", backend))
soak_line = next((l for l in (logs / "soak.log").read_text().splitlines() if l.startswith("soak:")), "n/a") if (logs / "soak.log").exists() else "n/a"
rows.append(("leaks: 1000 generate() calls", soak_line.split("|", 1)[-1].strip().replace("|", ";"), "flat RSS and device memory", soak))
device = (logs / "device.txt").read_text().strip() if (logs / "device.txt").exists() else "unknown"
print(f"\nKPIs on {device}\n")
print("| KPI | measured | target | result |\n| --- | --- | --- | --- |")
for r in rows:
    print("| " + " | ".join(str(x) for x in r) + " |")
PY
