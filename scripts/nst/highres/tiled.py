"""One tiled pass: the gradient of the whole image's loss, assembled tile by tile.

Each tile is cut out of the image (with a 1 px halo for TV), run through the
network on its own and differentiated on its own, so the autograd graph, the
largest thing in memory, is tile-sized.  Its loss is Gatys et al.'s, made of:

* content: the tile's features against the content image's tile (computed here,
  no grad: the same crop through the same network, so both see the same padding);
* style: the tile's Grams against the style's global Gram targets, the same for
  every tile (Grams are normalised by size, so a tile's are comparable);
* TV: every neighbour difference that touches a tile pixel, those across the tile
  border included (hence the halo), normalised by the whole image's counts.

Units: a tile's objective is (its pixels) x (its mean content + style loss) plus
the TV sum, i.e. the whole image's loss times its pixel count, restricted to the
tile.  The tiles' gradients, multiplied by the blend weights (which sum to one at
every pixel), then add up to a full-size gradient whose scale does not depend on
the image size.  For any loss that is a sum of per-pixel terms seen whole by the
tile (TV; content through a network of 1x1 convolutions) that sum is exactly the
untiled gradient; the style term is approximated by each tile's own Grams.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from ..backbones.base import FeatureExtractor
from ..losses import LossWeights, content_loss, gram_matrix, style_loss, tv_loss
from ..stylize import PRECISIONS
from .grid import Grid, Tile


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


def tv_sum(image: Tensor, height: int, width: int) -> Tensor:
    """Sum of squared neighbour differences in `image` (B, 3, h, w), each direction
    normalised as in the mean over a whole (height, width) image and scaled by its pixel
    count: tv_sum(x, H, W) == H * W * tv_loss(x) for a whole image x."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    pixels = height * width
    # 3 channels per difference, as in tv_loss's mean.
    across = pixels / (3 * height * max(1, width - 1))
    down = pixels / (3 * max(1, height - 1) * width)
    return dx.pow(2).flatten(1).sum(1) * across + dy.pow(2).flatten(1).sum(1) * down


def with_halo(tile: Tile, height: int, width: int, halo: int = 1) -> Tile:
    """The tile grown by `halo` px on every side, clipped to the image."""
    return Tile(
        max(0, tile.top - halo),
        min(height, tile.bottom + halo),
        max(0, tile.left - halo),
        min(width, tile.right + halo),
    )


def _autocast(device: torch.device, precision: str):
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def tile_objective(
    problem: Problem, padded: Tensor, inner: tuple[slice, slice], content: Tensor, hw: tuple
) -> tuple[Tensor, Tensor]:
    """(objective (B,), terms (B, 3)) of one tile.

    padded: the tile with its halo; inner: the tile inside it; content: the content
    image's tile; hw: the whole image's (height, width).  The objective is in the units
    of the module docstring; the terms (content, style, TV, weighted) are the tile's own
    means, as gatys_loss reports them for an image of the tile's size.
    """
    net, weights = problem.net, problem.weights
    image = padded[(..., *inner)]
    with torch.no_grad():
        targets = net(content, list(problem.content_layers))
    with _autocast(problem.device, problem.precision):
        features = net(image, problem.layers)
    zero = image.new_zeros(image.shape[0], dtype=torch.float32)
    c, s = zero, zero
    for name, layer_weight in problem.content_layers.items():
        c = c + layer_weight * content_loss(features[name], targets[name])
    for name, layer_weight in problem.style_layers.items():
        s = s + layer_weight * style_loss(gram_matrix(features[name]), problem.grams[name])
    c, s = weights.content * c, weights.style * s
    pixels = image.shape[-2] * image.shape[-1]
    objective = pixels * (c + s) + weights.tv * tv_sum(padded.float(), *hw)
    tv = weights.tv * tv_loss(image.detach().float())
    return objective, torch.stack([c.detach(), s.detach(), tv], dim=1)


def tiled_pass(problem: Problem, x: Tensor, grid: Grid, grad: Tensor | None = None) -> Tensor:
    """One pass over the grid's tiles at image x (B, 3, H, W).

    With `grad` (a buffer like x), it is overwritten with the blend-weighted sum of the
    tiles' gradients.  Returns the (B, 4) content, style, TV and total loss estimated
    from the tiles: each tile's terms weighted by its share of the blend weights.
    """
    height, width = x.shape[-2:]
    device = problem.device
    if grad is not None:
        grad.zero_()
    estimate = torch.zeros(x.shape[0], 3, device=device)
    for tile, weight in grid.tiles():
        outer = with_halo(tile, height, width)
        padded = x[(..., *outer.slices())].to(device).clone().requires_grad_(grad is not None)
        inner = (
            slice(tile.top - outer.top, tile.bottom - outer.top),
            slice(tile.left - outer.left, tile.right - outer.left),
        )
        content = problem.content[(..., *tile.slices())].to(device)
        with torch.set_grad_enabled(grad is not None):
            objective, terms = tile_objective(problem, padded, inner, content, (height, width))
        if grad is not None:
            objective.sum().backward()
            tile_grad = padded.grad[(..., *inner)] * weight.to(device)
            grad[(..., *tile.slices())] += tile_grad.to(grad.device)
        estimate += terms * (weight.sum().to(device) / (height * width))
    return torch.cat([estimate, estimate.sum(1, keepdim=True)], dim=1)


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
