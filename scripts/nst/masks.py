"""Spatial control (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style
Transfer"): a style for each region of a photo, or none.

A pair's mask is a label image: each colour its style cell names is a region, with a
blend of styles or none (the photo's content only).  It is resized to the photo
(any size).  A pixel's weights over the regions come from its colour: a pixel of a
region's colour is that region's alone; a colour between two regions' colours (a
blurred or anti-aliased edge, a grey between black and white) is shared by the two
nearest in proportion: soft edges are weights, not thresholds.

Each region's Gram matrix is taken over the features weighted by its mask and
normalised by the mask's weight (nst.losses.gram_matrix with a weight map), matched
to the region's own style, and its loss counts its share of the photo's area, so a
region is styled as strongly as a whole photo would be (Guided).  The masks follow
the network down: at a layer of stride s, a position's weight is the mean over its
s x s window, the windows of the network's pooling (at_layer).  Content and TV stay
global.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor

CHUNK = 1 << 16  # pixels at a time: (pixels x segments x 3) floats in memory

# The colours a style cell may name (or rrggbb).
NAMED = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "grey": (128, 128, 128),
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
}


def parse_colour(text: str) -> tuple[int, int, int]:
    """A region's colour: a name of NAMED or rrggbb (hex digits; no `#`, which starts a
    comment in a sheet); ValueError saying which are allowed."""
    name = text.strip().lower()
    if name in NAMED:
        return NAMED[name]
    if len(name) == 6:
        try:
            return tuple(int(name[i : i + 2], 16) for i in (0, 2, 4))
        except ValueError:
            pass
    raise ValueError(f"{text!r} is not a colour: use rrggbb (hex) or one of {', '.join(NAMED)}")


def hex_colour(rgb: tuple[int, int, int]) -> str:
    """rrggbb: how plans, output names and scores write a region's colour."""
    return "".join(f"{value:02x}" for value in rgb)


def region_weights(mask: Tensor, colours: Sequence[tuple[int, int, int]]) -> Tensor:
    """Each region's weight at each pixel: mask (3, H, W) in [0, 1] -> (R, H, W), summing
    to one at every pixel.  A pixel's colour is projected on the nearest segment between
    two region colours, and shared between those two in proportion (module docstring)."""
    height, width = mask.shape[-2:]
    if len(colours) == 1:
        return mask.new_ones(1, height, width)
    first, second, segment, share, _ = _nearest_segments(mask, colours)
    index = torch.arange(segment.shape[0], device=mask.device)
    weights = mask.new_zeros(len(colours), segment.shape[0])
    weights[first[segment], index] = 1 - share
    weights[second[segment], index] += share
    return weights.reshape(len(colours), height, width)


def unnamed_colour(
    mask: Tensor, colours: Sequence[tuple[int, int, int]], tolerance: float = 0.2
) -> tuple[str, float]:
    """The most common colour of mask (3, H, W) that is not near a region colour nor
    between two (distance above `tolerance` in [0, 1] RGB), and the fraction of the
    mask that is such colours (0.0 and "" when there is none)."""
    if len(colours) == 1:
        palette = torch.tensor(colours, dtype=mask.dtype) / 255
        distance = (mask.reshape(3, -1).T - palette).norm(dim=1)
    else:
        distance = _nearest_segments(mask, colours)[4]
    far = distance > tolerance
    if not far.any():
        return "", 0.0
    values = (mask.reshape(3, -1).T[far] * 255).round().to(torch.int64)
    codes, counts = torch.unique(
        values[:, 0] * 65536 + values[:, 1] * 256 + values[:, 2], return_counts=True
    )
    return f"{int(codes[counts.argmax()]):06x}", float(far.float().mean())


def _nearest_segments(mask: Tensor, colours: Sequence[tuple[int, int, int]]):
    """For each pixel of mask (3, H, W): the nearest segment between two colours (first,
    second: each segment's ends; segment: (N,) its index), where along it the pixel lies
    (share, (N,) in [0, 1]) and how far from it (distance, (N,))."""
    palette = torch.tensor(colours, dtype=mask.dtype, device=mask.device) / 255  # (R, 3)
    first, second = torch.triu_indices(len(colours), len(colours), 1, device=mask.device)
    a, direction = palette[first], palette[second] - palette[first]  # (S, 3)
    pixels = mask.reshape(3, -1).T  # (N, 3)
    segments, shares, distances = [], [], []
    for start in range(0, pixels.shape[0], CHUNK):
        chunk = pixels[start : start + CHUNK, None]  # (n, 1, 3)
        t = (((chunk - a) * direction).sum(2) / direction.pow(2).sum(1)).clamp(0, 1)  # (n, S)
        distance = (a + t[..., None] * direction - chunk).norm(dim=2)
        nearest = distance.min(1)
        segments.append(nearest.indices)
        distances.append(nearest.values)
        shares.append(t.gather(1, nearest.indices[:, None])[:, 0])
    return first, second, torch.cat(segments), torch.cat(shares), torch.cat(distances)


def resize_weights(weights: Tensor, hw: tuple[int, int]) -> Tensor:
    """Region weights (..., H, W) at another size, still summing to one (area mean when
    shrinking, bilinear when growing: never a value outside the neighbours')."""
    if tuple(weights.shape[-2:]) == tuple(hw):
        return weights
    lead = weights.shape[:-2]
    flat = weights.reshape(1, -1, *weights.shape[-2:])
    smaller = hw[0] <= flat.shape[-2] and hw[1] <= flat.shape[-1]
    mode = "area" if smaller else "bilinear"
    out = F.interpolate(flat, size=hw, mode=mode, **({} if smaller else {"align_corners": False}))
    return out.reshape(*lead, *hw)


def at_layer(weight: Tensor, stride: int, shape: tuple[int, int] | None = None) -> Tensor:
    """Pixel weights (..., H, W) at a layer of this stride: the mean over each position's
    stride x stride window (the windows of the network's pooling), cut to the layer's
    (h, w) `shape` when given (a window cut by the border counts its pixels only)."""
    if stride > 1:
        lead = weight.shape[:-2]
        flat = weight.reshape(1, -1, *weight.shape[-2:])
        flat = F.avg_pool2d(flat, stride, ceil_mode=True)
        weight = flat.reshape(*lead, *flat.shape[-2:])
    return weight if shape is None else weight[..., : shape[0], : shape[1]]


@dataclass
class Guided:
    """A style layer's targets per region, for a batch of B images with R regions each
    (regions without a style, and those padding an image with fewer, have share 0)."""

    grams: Tensor  # (B, R, C, C): each region's style Grams
    masks: Tensor  # (B, R, H, W): the regions' pixel weights at the image's size
    shares: Tensor  # (B, R): what each region's loss counts (its area, 0 without a style)
    stride: int  # the layer's, in pixels

    @cached_property
    def weights(self) -> Tensor:
        """(B, R, h', w'): the masks at this layer (at_layer; cut to a feature map's size)."""
        return at_layer(self.masks, self.stride)


def guided_targets(grams: Tensor, masks: Tensor, has_style: Tensor, stride: int) -> Guided:
    """Guided targets from per-region Grams (B, R, C, C), pixel weights (B, R, H, W) and
    which regions have a style (B, R) bool: shares are the regions' mean weights."""
    shares = (masks.flatten(2).mean(2) * has_style).to(grams.device)
    return Guided(grams, masks, shares, stride)


def load_regions(
    path: str, colours: Sequence[str], hw: tuple[int, int], max_megapixels: float
) -> Tensor:
    """A mask file's region weights (R, H, W) for these "rrggbb" colours, at the photo's
    (height, width) whatever the mask's own size."""
    from .images import load_image

    mask = load_image(path, max(hw), max_megapixels)  # the photo's size, near enough
    rgb = [parse_colour(colour) for colour in colours]
    return resize_weights(region_weights(mask, rgb), hw)
