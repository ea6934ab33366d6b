#!/usr/bin/env bash
# The GPU figures issue 15 asks for, in one short run (target: under 5 minutes on one GPU):
# single-GPU images/s per model at fp32, bf16 and with --compile; 2-GPU data-parallel scaling
# when two GPUs are present; and an exact-resume check on CUDA with deterministic algorithms.
#   bash benchmarks/gpu_check.sh            (on a GPU machine, from the repository root)
#   bash benchmarks/gpu_check.sh --device cpu --steps 6 --models vanilla   (a smoke test of the script itself)
set -euo pipefail
cd "$(dirname "$0")/.."
export CUBLAS_WORKSPACE_CONFIG=:4096:8  # cuBLAS needs it for deterministic algorithms (the resume check)
exec "${PYTHON:-python3}" benchmarks/gpu_check.py "$@"
