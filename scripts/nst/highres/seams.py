"""How visible the tile borders are in a result: the seam score.

The gradient energy (squared neighbour difference) across the tile borders,
over the same across every other row or column of the image.  A seam is a jump
at the border, so it raises the score; 1.0 means a border cannot be told from
any other line of the image.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


def seam_score(image: Tensor, rows: Iterable[int], cols: Iterable[int]) -> float:
    """image (3, H, W) or (B, 3, H, W); rows/cols: the first pixel after each horizontal /
    vertical border (as grid.tile_edges gives them)."""
    image = image.float()
    dx = (image[..., :, 1:] - image[..., :, :-1]).pow(2)  # dx[..., j]: between j and j+1
    dy = (image[..., 1:, :] - image[..., :-1, :]).pow(2)
    on_x = torch.zeros(dx.shape[-1], dtype=torch.bool)
    on_y = torch.zeros(dy.shape[-2], dtype=torch.bool)
    on_x[[c - 1 for c in cols]] = True
    on_y[[r - 1 for r in rows]] = True
    if not (on_x.any() or on_y.any()):
        raise ValueError("no tile border inside the image")
    per_col = dx.transpose(-1, 0).reshape(dx.shape[-1], -1)  # (W - 1, everything else)
    per_row = dy.transpose(-2, 0).reshape(dy.shape[-2], -1)
    border = torch.cat([per_col[on_x].flatten(), per_row[on_y].flatten()])
    other = torch.cat([per_col[~on_x].flatten(), per_row[~on_y].flatten()])
    return float(border.mean() / other.mean())
