#!/usr/bin/env python3
"""Lists greta's public headers (relative to include/), for the one-header-per-TU check.

--host lists those a host compiler must accept; --gpu those that need nvcc or HIP clang.
"""
import pathlib
import sys

GPU_ONLY_DIRS = ("greta/gpu/", "greta/kernels/")
GPU_ONLY_FILES = ("greta/model/gpu_backend.hpp",)


def is_gpu_only(rel: str) -> bool:
    return rel.startswith(GPU_ONLY_DIRS) or rel in GPU_ONLY_FILES


def main() -> int:
    mode, root = sys.argv[1], pathlib.Path(sys.argv[2])
    for path in sorted(root.rglob("*.hpp")):
        rel = path.relative_to(root).as_posix()
        if (mode == "--gpu") == is_gpu_only(rel):
            print(rel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
