"""Where the tiles of one pass lie, and how much each tile counts at each pixel.

A grid is the product of two 1-D partitions (rows and columns) of the image into
overlapping spans.  Each span's weight ramps up linearly over the overlap with
its predecessor and down over the overlap with its successor (flat at the image
border, where nothing else covers the pixel); the weights of all spans covering
a pixel are then divided by their sum, so along each axis they sum to one.  A
tile's 2-D weight is the outer product of its row and column weights, hence the
tiles' weights also sum to one at every pixel: (sum_i u_i)(sum_j v_j) = 1.

The weights say how much of each pixel's loss a tile owns (tiled.py): with a zero
`margin` at inner edges, a tile's features are only counted where it sees enough
context around them to compute them as the whole image would.  Tile starts are
multiples of `align` (the network's deepest stride), so that a tile's pooling
windows are the whole image's and its features lie on the whole image's grid.

The grid is shifted by an offset between passes, so that what remains of the
tile borders (features computed with less context than the receptive field)
lies somewhere else every pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

Span = tuple[int, int]  # [start, end) along one axis

# The R2 sequence (the plastic number's powers): offsets of consecutive passes spread
# evenly over the stride square, so that no two nearby passes put their seams close.
_R2 = (0.7548776662466927, 0.5698402909980532)


@dataclass(frozen=True)
class Tile:
    """One tile: rows [top, bottom), columns [left, right) of the image."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)


def axis_spans(
    length: int, tile: int, overlap: int, offset: int = 0, align: int = 1
) -> tuple[Span, ...]:
    """Spans of at most `tile` px covering [0, length), consecutive ones overlapping by
    exactly `overlap` px, the grid shifted back by `offset` (0 <= offset < tile - overlap).

    The first span is cut by the offset, the last one by the image's end; either is then
    widened inwards to half a tile if it is narrower (overlapping its neighbour by more),
    so that no tile is a sliver whose features are mostly the network's padding.  An
    axis no longer than a tile is one span.  Every span starts at a multiple of `align`
    (the stride and the offset must be multiples of it; the last span is widened to one).
    """
    stride = tile - overlap
    if not 0 <= overlap <= tile // 2:
        raise ValueError(f"overlap {overlap} must be between 0 and half the tile ({tile})")
    if not 0 <= offset < stride:
        raise ValueError(f"offset {offset} must be in [0, {stride})")
    if stride % align or offset % align:
        raise ValueError(
            f"tile - overlap ({stride}) and offset ({offset}) must be multiples of {align}"
        )
    if length <= tile:
        return ((0, length),)
    spans, start = [], -offset
    while True:
        spans.append((max(0, start), min(length, start + tile)))
        if start + tile >= length:
            break
        start += stride
    least = max(overlap + 1, tile // 2)
    spans[0] = (0, max(spans[0][1], least))
    spans[-1] = (min(spans[-1][0], (length - least) // align * align), length)
    return tuple(spans)


def axis_weights(length: int, spans: tuple[Span, ...], overlap: int, margin: int = 0) -> Tensor:
    """(len(spans), length) float64 weights, zero outside each span, summing to one
    over the spans at every position.

    A span's weight is zero on the `margin` px next to an inner edge (the tile sees
    them as context but does not change them: its features there are more the network's
    padding than the image), then ramps linearly over the rest of the overlap.  The
    neighbour covers those pixels with its full weight, hence 2 * margin <= overlap.
    """
    if not 0 <= 2 * margin <= overlap:
        raise ValueError(f"margin {margin} must be between 0 and half the overlap ({overlap})")
    position = torch.arange(length, dtype=torch.float64)
    raw = torch.zeros(len(spans), length, dtype=torch.float64)
    width = overlap - 2 * margin + 1
    for k, (start, end) in enumerate(spans):
        inside = (position >= start) & (position < end)
        ramp = torch.ones(length, dtype=torch.float64)
        # Rising from 1/width just after the margin to 1; over a standard overlap the
        # predecessor's falling ramp is exactly its complement.  No ramp at the image
        # border: no other span covers those pixels.
        if start > 0:
            ramp = torch.minimum(ramp, ((position - start - margin + 1) / width).clamp(min=0))
        if end < length:
            ramp = torch.minimum(ramp, ((end - margin - position) / width).clamp(min=0))
        raw[k] = torch.where(inside, ramp, 0.0)
    return raw / raw.sum(0, keepdim=True)


@dataclass(frozen=True)
class Grid:
    """The tiles of one pass and their blend weights (tiles' weights sum to one per pixel)."""

    rows: tuple[Span, ...]
    cols: tuple[Span, ...]
    row_weights: Tensor  # (len(rows), height)
    col_weights: Tensor  # (len(cols), width)

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)

    def tiles(self) -> Iterator[tuple[Tile, Tensor]]:
        """Each tile with its (height, width) float32 weight, row by row."""
        for i, (top, bottom) in enumerate(self.rows):
            u = self.row_weights[i, top:bottom]
            for j, (left, right) in enumerate(self.cols):
                v = self.col_weights[j, left:right]
                yield Tile(top, bottom, left, right), torch.outer(u, v).float()


def make_grid(
    height: int,
    width: int,
    tile: int,
    overlap: int,
    offset: tuple[int, int] = (0, 0),
    margin: int = 0,
    align: int = 1,
) -> Grid:
    rows = axis_spans(height, tile, overlap, offset[0], align)
    cols = axis_spans(width, tile, overlap, offset[1], align)
    return Grid(
        rows,
        cols,
        axis_weights(height, rows, overlap, margin),
        axis_weights(width, cols, overlap, margin),
    )


def pass_offset(
    index: int, tile: int, overlap: int, shift: bool = True, align: int = 1
) -> tuple[int, int]:
    """The (row, column) grid offset of pass `index` (0 for the first pass, or always
    without `shift`), a multiple of `align`."""
    steps = (tile - overlap) // align
    if not shift:
        return (0, 0)
    return tuple(int((index * a) % 1.0 * steps) * align for a in _R2)  # type: ignore[return-value]


def pass_grid(
    height: int,
    width: int,
    tile: int,
    overlap: int,
    index: int,
    shift: bool = True,
    margin: int = 0,
    align: int = 1,
) -> Grid:
    """The grid of pass `index`."""
    offset = pass_offset(index, tile, overlap, shift, align)
    return make_grid(height, width, tile, overlap, offset, margin, align)


def tile_edges(grid: Grid) -> tuple[set[int], set[int]]:
    """Rows and columns where a tile starts or ends inside the image (its borders): the
    index of the first pixel after each border."""
    height, width = grid.row_weights.shape[1], grid.col_weights.shape[1]
    rows = {p for span in grid.rows for p in span if 0 < p < height}
    cols = {p for span in grid.cols for p in span if 0 < p < width}
    return rows, cols
