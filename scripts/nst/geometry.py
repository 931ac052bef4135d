"""Image sizes at the working size: a pure function shared by planning and the jobs."""

from __future__ import annotations


def scaled_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(H, W) with the longer side equal to `long_side`, aspect ratio kept."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))
