"""Counting GPUs without importing torch (the workflow does this at every parse)."""

from __future__ import annotations

import os
from pathlib import Path

NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")


def visible_gpus(device: str = "auto") -> int:
    """GPUs jobs may use: none for device cpu, else CUDA_VISIBLE_DEVICES or the driver's list."""
    if device == "cpu":
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() not in ("", "-1")])
    return len(list(NVIDIA_PROC.glob("*"))) if NVIDIA_PROC.is_dir() else 0
