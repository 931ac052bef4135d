#!/usr/bin/env bash
# CUDA checks and figures on one GPU (bench/gpu_check.py): PASS/FAIL lines, then
# s/step, memory and pairs/hour.  Needs torch, torchvision, timm, pandas and pillow.
# Runs in about 3-5 minutes on an H200 (limit: 8).  Usage: bench/gpu_check.sh [python]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${1:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
exec timeout 470 "$PYTHON" -u bench/gpu_check.py
