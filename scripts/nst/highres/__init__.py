"""High-resolution stylisation in bounded memory: a whole-image stage at a size that
fits, then tiled refinement at growing scales (see schedule.py) of the whole image's
loss, computed tile by tile (see tiled.py).

The entry point is nst.stylize.stylize with a Refinement (nst.stages)."""

from ..settings import HighresSettings, scale_sizes
from .grid import (
    Grid,
    Tile,
    axis_spans,
    axis_weights,
    make_grid,
    pass_grid,
    pass_offset,
    tile_edges,
)
from .memory import activation_bytes_per_pixel, free_memory, tile_for_budget
from .schedule import refine, refine_scales, resolve_tile
from .seams import seam_score
from .tiled import Adam, Problem, gram_sweep, image_grams, tiled_pass

__all__ = [
    "Adam",
    "Grid",
    "HighresSettings",
    "Problem",
    "Tile",
    "activation_bytes_per_pixel",
    "axis_spans",
    "axis_weights",
    "free_memory",
    "gram_sweep",
    "image_grams",
    "make_grid",
    "pass_grid",
    "pass_offset",
    "refine",
    "refine_scales",
    "resolve_tile",
    "scale_sizes",
    "seam_score",
    "tile_edges",
    "tile_for_budget",
    "tiled_pass",
]
