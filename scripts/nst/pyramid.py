"""A Laplacian-pyramid parameterisation of a batch of images (Mordvintsev et al. 2018,
"Differentiable Image Parameterizations").

The optimiser moves a flat vector v of levels l_0 (full size), l_1 (half), ... down
to 1 px, and the image is their sum, each level upsampled onto the next finer one:

    image = l_0 + gain * up(l_1 + gain * up(l_2 + ...))

The map is linear, so the loss is the same function of the image; only the
geometry the optimiser sees changes.  Why it pays: on pixels, L-BFGS fixes fine
texture within a few steps but moves large areas (a sky's colour, the style's big
strokes) slowly, because the Gram losses curve far more along fine-scale
directions.  A coarse coefficient moves a whole area at once.  The gain sets how
much: upsampling by 2^k spreads a coefficient over 4^k pixels, so level k's
effective step is (4 gain^2)^k times a pixel's; gain 0.5 treats every level like a
pixel, gain 1 favours the coarsest levels by orders of magnitude.  The value
that, with the per-pair stop, kept every sample pair within 1% of the
reference loss for the least work is the config schema's default (measured in
docs/performance.md, "Steps per pair").

Where the optimisation starts does not depend on how the start image is split
into levels (the gradient with respect to v is the same wherever v is), so
`start` puts the whole image in l_0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor


def level_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Each level's (h, w), halving (rounding up) from the full size down to 1 px."""
    sizes = [(height, width)]
    while max(sizes[-1]) > 1:
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


class Pyramid:
    """Images of (3, height, width) as flat (B, 3 * sum of level pixels) vectors."""

    def __init__(self, height: int, width: int, gain: float):
        self.sizes = level_sizes(height, width)
        self.gain = gain
        self.numels = [3 * h * w for h, w in self.sizes]

    def start(self, image: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, D): the image in the finest level, zeros below."""
        flat = image.new_zeros(image.shape[0], sum(self.numels))
        flat[:, : self.numels[0]] = image.flatten(1)
        return flat

    def image(self, flat: Tensor) -> Tensor:
        """(B, D) -> (B, 3, H, W), differentiable."""
        levels = flat.split(self.numels, dim=1)
        image = None
        for level, (h, w) in zip(reversed(levels), reversed(self.sizes)):
            level = level.view(-1, 3, h, w)
            if image is not None:
                up = F.interpolate(image, size=(h, w), mode="bilinear", align_corners=False)
                level = level + self.gain * up
            image = level
        return image


def parameterise(start: Tensor, gain: float) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """The variable to optimise from the (B, 3, H, W) `start`, and the map back to images:
    the pyramid's for a positive gain, the pixels themselves for 0."""
    if gain <= 0:
        return start.detach().clone(), lambda v: v
    pyramid = Pyramid(*start.shape[-2:], gain)
    return pyramid.start(start.detach()), pyramid.image
