"""One tiled pass: the whole image's loss and its gradient, computed tile by tile.

Each tile is cut out of the image (with a 1 px halo for TV) and run through the
network on its own, so the autograd graph, the largest thing in memory, is
tile-sized.  The loss is the whole image's, not a sum of tile losses: the style
term is a function of the image's Gram matrices, which no tile holds, and a tile
that matched the style's Grams with its own statistics would try to hold the whole
style distribution on its own (measured: +39% style loss against untiled).

Every per-position quantity is split between the tiles by their blend weights
(grid.py: they sum to one at every pixel, and are zero in a context margin at
inner edges), pooled down to each layer's resolution, and given as the weight map
of nst.losses' own functions:

* a layer's Gram is sum over tiles of F_t W_t F_t^T / (C N), N the whole image's
  positions at that layer: each position counted once (gram_matrix with a weight
  and the whole image's positions);
* content: the weighted squared feature differences, over C N likewise;
* TV: every neighbour difference weighted by the mean blend weight of its two
  pixels (the halo holds the neighbour across the tile's border), over the whole
  image's differences.

A pass takes two sweeps.  Sweep 1 (no grad) sums the tiles' Gram contributions
into the image's Grams, hence the style loss and M = d(style loss)/dG per layer.
Sweep 2, per tile, differentiates <M, the tile's Gram contribution> plus its
content and TV shares, the other tiles' contributions being constants: the
chain rule through G, so the tiles' gradients (over all their pixels, context
included) add up to the whole image's gradient.  Where the margin covers the
network's receptive field and the tiles start on its stride, a tile's features
are the whole image's and the loss and gradient are exact (tests/test_tiles.py);
with a smaller margin only features within the receptive field of a tile's
inner edge are approximate, and the grid moves every pass so that they do not
stay in one place.

Units: the objective differentiated is the whole image's total loss times its
pixel count, so that the gradient's scale does not depend on the image size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor

from ..backbones.base import FeatureExtractor
from ..losses import LossWeights, content_loss, gram_matrix, style_loss, tv_loss
from ..precision import autocast
from .grid import Grid, Tile, pass_grid


@dataclass(frozen=True)
class Problem:
    """What the tiles of one scale are optimised against."""

    net: FeatureExtractor
    content: Tensor  # (B, 3, H, W), the content image at this scale, where x is stored
    grams: Mapping[str, Tensor]  # style layer -> (B or 1, C, C), on the network's device
    weights: LossWeights  # (B,) each, on the network's device
    content_layers: Mapping[str, float]
    style_layers: Mapping[str, float]
    precision: str = "fp32"

    @property
    def layers(self) -> list[str]:
        return sorted(set(self.content_layers) | set(self.style_layers))

    @property
    def device(self) -> torch.device:
        return next(self.net.buffers()).device

    @cached_property
    def strides(self) -> dict[str, int]:
        """Each layer's stride in input pixels (from a probe forward)."""
        return layer_strides(self.net, self.layers)

    @property
    def align(self) -> int:
        """What tile starts must be multiples of for their features to lie on the whole
        image's grid at every layer."""
        return max(self.strides.values())


def layer_strides(net: FeatureExtractor, layers: list[str], probe: int = 64) -> dict[str, int]:
    device = next(net.buffers()).device
    with torch.no_grad():
        features = net(torch.zeros(1, 3, probe, probe, device=device), layers)
    return {name: max(1, round(probe / f.shape[-1])) for name, f in features.items()}


def with_halo(tile: Tile, height: int, width: int, halo: int = 1) -> Tile:
    """The tile grown by `halo` px on every side, clipped to the image."""
    return Tile(
        max(0, tile.top - halo),
        min(height, tile.bottom + halo),
        max(0, tile.left - halo),
        min(width, tile.right + halo),
    )


def pooled(weight: Tensor, stride: int, shape: tuple[int, int]) -> Tensor:
    """A tile's (h, w) pixel weights at a layer of this stride and (h', w') shape: the
    mean over each position's stride x stride window, the windows of VGG's pooling."""
    if stride > 1:
        weight = F.avg_pool2d(weight[None, None], stride, ceil_mode=True)[0, 0]
    return weight[: shape[0], : shape[1]]


@dataclass
class TileView:
    """One tile of a pass: its pixels with the halo, cut out on the network's device."""

    tile: Tile
    padded: Tensor  # (B, 3, h + halo, w + halo)
    inner: tuple[slice, slice]  # the tile inside `padded`
    outer: Tile  # where `padded` lies in the image
    weight: Tensor  # (h, w) float32, on the device
    halo_weight: Tensor  # the same on `padded`, zero on the halo

    @property
    def image(self) -> Tensor:
        return self.padded[(..., *self.inner)]


def tile_views(problem: Problem, x: Tensor, grid: Grid, grad: bool) -> Iterator[TileView]:
    height, width = x.shape[-2:]
    device = problem.device
    for tile, weight in grid.tiles():
        outer = with_halo(tile, height, width)
        padded = x[(..., *outer.slices())].to(device).clone().requires_grad_(grad)
        inner = (
            slice(tile.top - outer.top, tile.bottom - outer.top),
            slice(tile.left - outer.left, tile.right - outer.left),
        )
        weight = weight.to(device)
        halo_weight = weight.new_zeros(padded.shape[-2:])
        halo_weight[inner] = weight
        yield TileView(tile, padded, inner, outer, weight, halo_weight)


@dataclass
class Sums:
    """Sweep 1's totals over the tiles: each style layer's sum of weighted Grams and
    each layer's positions (the pooled weights: the whole image's count)."""

    grams: dict[str, Tensor]
    positions: dict[str, float]

    def image_grams(self) -> dict[str, Tensor]:
        return {name: g / self.positions[name] for name, g in self.grams.items()}


def gram_sweep(problem: Problem, x: Tensor, grid: Grid) -> Sums:
    """Sweep 1: the whole image's Grams, tile by tile, without a graph."""
    grams: dict[str, Tensor] = {}
    positions = dict.fromkeys(problem.layers, 0.0)
    with torch.no_grad():
        for view in tile_views(problem, x, grid, grad=False):
            with autocast(problem.device, problem.precision):
                features = problem.net(view.image, problem.layers)
            for name, f in features.items():
                w = pooled(view.weight, problem.strides[name], f.shape[-2:])
                positions[name] += float(w.sum())
                if name in problem.style_layers:
                    share = gram_matrix(f, w, positions=1.0)  # divided by all positions below
                    grams[name] = grams[name] + share if name in grams else share
    return Sums(grams, positions)


def image_grams(
    net: FeatureExtractor, image: Tensor, layers: list[str], tile: int, overlap: int
) -> dict[str, Tensor]:
    """The (B, C, C) Grams of a whole image (B, 3, H, W) at these layers, tile by tile
    (sweep 1 alone; each tile sees overlap/2 px of context): memory for a print-sized
    style image bounded by the tile.  With that context covering the layers' receptive
    field they are the untiled Grams up to rounding (tests/test_tiles.py)."""
    # Sweep 1 reads neither the targets nor the weights.
    problem = Problem(net, image, {}, None, {}, dict.fromkeys(layers, 1.0))
    grid = pass_grid(*image.shape[-2:], tile, overlap, 0, False, overlap // 2, problem.align)
    return gram_sweep(problem, image, grid).image_grams()


def style_terms(problem: Problem, grams: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
    """The weighted style loss (B,) of the image's Grams, and its gradient M per layer."""
    leaves = {name: g.detach().requires_grad_(True) for name, g in grams.items()}
    with torch.enable_grad():
        style = sum(
            layer_weight * style_loss(leaves[name], problem.grams[name])
            for name, layer_weight in problem.style_layers.items()
        )
        style = problem.weights.style * style
        style.sum().backward()  # images are independent: each M[b] is image b's
    return style.detach(), {name: g.grad for name, g in leaves.items()}


def tile_objective(
    problem: Problem,
    view: TileView,
    content: Tensor,
    sums: Sums,
    slopes: Mapping[str, Tensor],
    hw: tuple[int, int],
) -> tuple[Tensor, Tensor, Tensor]:
    """(linearised objective, content share, TV share), each (B,), of one tile.

    The objective is the tile's content and TV shares plus <M, its Gram share> per
    style layer: its gradient is the tile's part of the whole image's.  content: the
    content image's tile, through the same crop so both see the same padding.
    """
    net, weights = problem.net, problem.weights
    with torch.no_grad():
        targets = net(content, list(problem.content_layers))
    with autocast(problem.device, problem.precision):
        features = net(view.image, problem.layers)
    zero = view.padded.new_zeros(view.padded.shape[0], dtype=torch.float32)
    c, s = zero, zero
    for name, layer_weight in problem.content_layers.items():
        f = features[name]
        w = pooled(view.weight, problem.strides[name], f.shape[-2:])
        c = c + layer_weight * content_loss(f, targets[name], w, sums.positions[name])
    for name in problem.style_layers:
        f = features[name]
        w = pooled(view.weight, problem.strides[name], f.shape[-2:])
        share = gram_matrix(f, w, sums.positions[name])
        s = s + (slopes[name] * share).flatten(1).sum(1)
    c = weights.content * c
    tv = weights.tv * tv_loss(view.padded.float(), view.halo_weight, hw)
    return c + s + tv, c.detach(), tv.detach()


def tiled_pass(problem: Problem, x: Tensor, grid: Grid, grad: Tensor | None = None) -> Tensor:
    """One pass over the grid's tiles at image x (B, 3, H, W): returns the whole image's
    (B, 4) content, style, TV and total loss.

    With `grad` (a buffer like x), it is overwritten with the gradient of the total loss
    times H * W (module docstring).  Without, the second sweep only measures.
    """
    height, width = x.shape[-2:]
    device = problem.device
    sums = gram_sweep(problem, x, grid)
    style, slopes = style_terms(problem, sums.image_grams())
    if grad is not None:
        grad.zero_()
    content = torch.zeros(x.shape[0], device=device)
    tv = torch.zeros(x.shape[0], device=device)
    for view in tile_views(problem, x, grid, grad=grad is not None):
        content_tile = problem.content[(..., *view.tile.slices())].to(device)
        with torch.set_grad_enabled(grad is not None):
            objective, c, t = tile_objective(
                problem, view, content_tile, sums, slopes, (height, width)
            )
        if grad is not None:
            (objective.sum() * (height * width)).backward()
            grad[(..., *view.outer.slices())] += view.padded.grad.to(grad.device)
        content += c
        tv += t
    terms = torch.stack([content, style, tv], dim=1)
    return torch.cat([terms, terms.sum(1, keepdim=True)], dim=1)


@dataclass
class Adam:
    """Adam on the whole image: its state is two image-sized buffers whatever the number
    of tiles, and it tolerates a gradient that changes a little from pass to pass (the
    grid moves), which L-BFGS's curvature pairs would not."""

    lr: float
    m: Tensor
    v: Tensor
    steps: int = 0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    @classmethod
    def like(cls, x: Tensor, lr: float) -> Adam:
        return cls(lr, torch.zeros_like(x), torch.zeros_like(x))

    @torch.no_grad()
    def step(self, x: Tensor, grad: Tensor) -> None:
        """Move x (in place, then clamped to [0, 1] like the project's Adam)."""
        b1, b2 = self.betas
        self.steps += 1
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        correction1 = 1 - b1**self.steps
        correction2 = (1 - b2**self.steps) ** 0.5
        denominator = self.v.sqrt().div_(correction2).add_(self.eps)
        x.addcdiv_(self.m, denominator, value=-self.lr / correction1).clamp_(0, 1)
