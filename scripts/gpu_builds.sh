#!/usr/bin/env bash
# Builds GRETA's GPU configurations on any machine, GPU or not:
#   CUDA: meson -Dgpu=cuda -Dgpu_arch=sm_90a (nvcc), then runs the GPU test programs, which
#         SKIP (saying so) when no device is present;
#   HIP:  meson -Dgpu=hip -Dgpu_arch=gfx942 (clang-19 -x hip), a device-only compile of every
#         kernel instantiation to gfx942 ISA plus a host-only compile of the launch code.
# A build whose compiler is absent is skipped with a message. Exits non-zero if a build (or a
# GPU test that ran) fails.
# Environment: GRETA_CUDA_BUILD_DIR (default build-gpu-cuda), GRETA_HIP_BUILD_DIR (default
# build-gpu-hip), NVCC (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc), GRETA_BUILD_JOBS (2).
set -uo pipefail
cd "$(dirname "$0")/.."

jobs=${GRETA_BUILD_JOBS:-2}
status=0

configure() {  # dir, meson options...
    local dir=$1 log
    shift
    log=$(mktemp)
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@" >"$log" 2>&1
    else
        meson setup "$dir" "$@" >"$log" 2>&1
    fi || { echo "gpu_builds: meson setup $dir failed:"; tail -20 "$log"; rm -f "$log"; return 1; }
    rm -f "$log"
}

# ---- CUDA ----
nvcc_bin=${NVCC:-$(command -v nvcc || true)}
[ -z "$nvcc_bin" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc_bin=/usr/local/cuda/bin/nvcc
if [ -n "$nvcc_bin" ] && [ -x "$nvcc_bin" ]; then
    export PATH="$(dirname "$nvcc_bin"):$PATH"
    dir=${GRETA_CUDA_BUILD_DIR:-build-gpu-cuda}
    echo "gpu_builds: CUDA build in $dir ($("$nvcc_bin" --version | tail -1))"
    if configure "$dir" -Dgpu=cuda -Dgpu_arch=sm_90a -Dsentencepiece=disabled; then
        # The benchmarks too, so that none of them stops compiling unnoticed.
        targets="examples/greta_infer tests/gpu/test_gpu_kernels tests/gpu/test_gpu_backend tests/gpu/greta_gpu_bench
                 tests/gpu/libgreta_gpu_header_selfcontained.a write_synthetic_gguf tests/gpu/greta_layout_bw
                 tests/gpu/greta_bulk_bw tests/gpu/greta_stream_patterns tests/gpu/greta_handover"
        if ninja -C "$dir" -j "$jobs" $targets; then
            for t in test_gpu_kernels test_gpu_backend; do
                # With GRETA_RESULTS_DIR set (scripts/test.sh), the XML report joins the summary.
                report=()
                [ -n "${GRETA_RESULTS_DIR:-}" ] && report=(--reporter "xml::out=$GRETA_RESULTS_DIR/$t.xml")
                if ! "$dir/tests/gpu/$t" --reporter compact "${report[@]}"; then
                    echo "gpu_builds: $t failed"
                    status=1
                fi
            done
        else
            echo "gpu_builds: CUDA build failed"
            status=1
        fi
    else
        status=1
    fi
else
    echo "gpu_builds: nvcc not found; skipping the CUDA build"
fi

# ---- HIP (gfx942) ----
if command -v clang++-19 >/dev/null 2>&1 && [ -f /usr/include/hip/hip_runtime.h ]; then
    dir=${GRETA_HIP_BUILD_DIR:-build-gpu-hip}
    echo "gpu_builds: HIP build in $dir ($(clang++-19 --version | head -1))"
    if configure "$dir" -Dgpu=hip -Dgpu_arch=gfx942 -Dsentencepiece=disabled; then
        if ninja -C "$dir" -j "$jobs" gpu_entry_gfx942.s gpu_entry_hip_host.o examples/greta_infer; then
            isa="$dir/gpu_entry_gfx942.s"
            kernels=$(grep -c '^\s*\.globl\s.*kernel_entry' "$isa" || true)
            echo "gpu_builds: gfx942 ISA for $kernels kernels in $isa"
            if [ "$kernels" -lt 1 ]; then
                echo "gpu_builds: no kernels in the gfx942 ISA"
                status=1
            fi
        else
            echo "gpu_builds: HIP build failed"
            status=1
        fi
    else
        status=1
    fi
else
    echo "gpu_builds: clang++-19 or the HIP headers not found; skipping the HIP build"
fi

exit $status
