"""The losses of Gatys et al. as pure functions over batched feature maps.

All functions keep the batch dimension: image b's loss depends only on image b's
features, so several pairs can be optimised in one forward/backward and still be
mathematically independent of each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor


class _Gram(torch.autograd.Function):
    """G = F F^T * scale over a batch of (C, N) matrices F.

    Its own backward, dF = (dG + dG^T) F * scale, takes one matrix product where
    autograd's two-sided one takes two plus a sum.  `channels_last` says that the
    features are stored pixel-major, given here as (B, N, C) = F^T, which is then
    used as it is (a view, no copy).  The scale is the product's `alpha`, not one
    more op (baddbmm with beta=0 ignores its uninitialised first argument).
    """

    @staticmethod
    def forward(ctx, flat: Tensor, scale: float, channels_last: bool) -> Tensor:
        ctx.save_for_backward(flat)
        ctx.scale, ctx.channels_last = scale, channels_last
        left = flat.mT if channels_last else flat
        out = flat.new_empty(left.shape[0], left.shape[1], left.shape[1])
        return torch.baddbmm(out, left, left.mT, beta=0, alpha=scale)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (flat,) = ctx.saved_tensors
        symmetric = grad + grad.mT
        pair = (flat, symmetric) if ctx.channels_last else (symmetric, flat)
        out = torch.empty_like(flat)
        return torch.baddbmm(out, *pair, beta=0, alpha=ctx.scale), None, None


def gram_matrix(
    features: Tensor, weight: Tensor | None = None, positions: Tensor | float | None = None
) -> Tensor:
    """Gram matrix of each image's feature map, a (weighted) mean over its positions.

    features: (B, C, H, W)  ->  (B, C, C) with G[b] = sum_p w_p f_p f_p^T / (C * N), f_p
    the C features of image b at position p.  Without a weight, w_p = 1 and N = H * W.
    weight: (H, W), or (B, 1, H, W) per image, >= 0: how much each position counts (a
    tile's blend weight, a mask); N is then `positions` ((B,) or a number: the tiles
    give the whole image's count), by default the weights' sum.  Normalising by the
    positions makes targets comparable across image sizes (a style cached at one
    size serves content images of any aspect ratio).  Accumulated in float32 even
    under autocast: low-precision Grams are what breaks L-BFGS.
    """
    b, c, h, w = features.shape
    if weight is not None:
        features = features * weight.sqrt()
    channels_last = not features.is_contiguous() and features.is_contiguous(
        memory_format=torch.channels_last
    )
    dtype = torch.promote_types(features.dtype, torch.float32)
    with torch.autocast(features.device.type, enabled=False):
        if channels_last:
            flat = features.permute(0, 2, 3, 1).reshape(b, h * w, c).to(dtype)
        else:
            flat = features.reshape(b, c, h * w).to(dtype)
        if weight is None:
            return _Gram.apply(flat, 1.0 / (c * h * w), channels_last)
        gram = _Gram.apply(flat, 1.0 / c, channels_last)
    return gram / _per_image(_positions(weight, b) if positions is None else positions)


def _positions(weight: Tensor, batch: int) -> Tensor:
    """The weight's sum over positions, per image: (B,) (the same for an (H, W) weight)."""
    return weight.float().flatten(-2).sum(-1).reshape(-1).expand(batch)


def _per_image(value: Tensor | float) -> Tensor | float:
    """A (B,) value shaped to divide (B, ...) matrices image by image; a number as it is."""
    return value.view(-1, 1, 1) if isinstance(value, Tensor) else value


def _mse(a: Tensor, b: Tensor) -> Tensor:
    """Mean squared difference per image, in float32: one fused op (and one in backward)
    for the difference and its square; mse_loss promotes a bf16 `a` itself."""
    return F.mse_loss(a, b.float().expand_as(a), reduction="none").flatten(1).mean(1)


def content_loss(
    features: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    positions: Tensor | float | None = None,
) -> Tensor:
    """Mean squared feature difference per image: (B, C, H, W) x 2 -> (B,).

    With a weight ((H, W) or (B, 1, H, W)), each position's mean over channels counts
    w_p, and the sum is divided by `positions` (as in gram_matrix: default the weights'
    sum); without, every position counts 1 and the mean is over C * H * W entries.
    """
    if weight is None:
        return _mse(features, target)
    squared = F.mse_loss(features.float(), target.float().expand_as(features), reduction="none")
    total = (squared.mean(1, keepdim=True) * weight).flatten(1).sum(1)
    return total / (_positions(weight, features.shape[0]) if positions is None else positions)


def style_loss(gram: Tensor, target: Tensor) -> Tensor:
    """Mean squared Gram difference per image: (B, C, C) x (B or 1, C, C) -> (B,)."""
    return _mse(gram, target)


def tv_loss(
    image: Tensor, weight: Tensor | None = None, size: tuple[int, int] | None = None
) -> Tensor:
    """Total variation (mean squared neighbour difference) per image: (B, 3, H, W) -> (B,).

    With a weight ((H, W) or (B, 1, H, W)), each squared difference counts the mean
    weight of its two pixels, and the means are over the differences of an image of
    `size` (height, width; default the image's own): a tile passes the whole image's
    size and its blend weights (zero on a halo that holds its neighbours), so that the
    tiles' shares add up to the whole image's loss.
    """
    if weight is None:
        dx = _mse(image[..., :, 1:], image[..., :, :-1])
        return dx + _mse(image[..., 1:, :], image[..., :-1, :])
    height, width = image.shape[-2:] if size is None else size
    dx = (image[..., :, 1:] - image[..., :, :-1]).pow(2) * (
        weight[..., :, 1:] + weight[..., :, :-1]
    )
    dy = (image[..., 1:, :] - image[..., :-1, :]).pow(2) * (
        weight[..., 1:, :] + weight[..., :-1, :]
    )
    # Halves: the mean weight; 3 channels per difference, as in the unweighted mean.
    across = 2 * 3 * height * max(1, width - 1)
    down = 2 * 3 * max(1, height - 1) * width
    return dx.flatten(1).sum(1) / across + dy.flatten(1).sum(1) / down


def _weighted_sum(terms: Iterable[tuple[float, Tensor]], image: Tensor) -> Tensor:
    """Sum of weight * term (zeros per image if none), leaving out multiplications by 1
    and the addition to 0: each an op per step, the result the same."""
    total = None
    for weight, term in terms:
        term = term if weight == 1 else weight * term
        total = term if total is None else total + term
    return image.new_zeros(image.shape[0], dtype=torch.float32) if total is None else total


@dataclass(frozen=True)
class LossWeights:
    """Weights of the three terms, one value per image in the batch (shape (B,))."""

    content: Tensor
    style: Tensor
    tv: Tensor


@dataclass
class LossTerms:
    """Per-image values of each weighted term, shape (B,)."""

    content: Tensor
    style: Tensor
    tv: Tensor

    @cached_property  # read several times a step
    def total(self) -> Tensor:
        return self.content + self.style + self.tv


def gatys_loss(
    image: Tensor,
    features: Mapping[str, Tensor],
    content_targets: Mapping[str, Tensor],
    style_targets: Mapping[str, Tensor],
    content_layers: Mapping[str, float],
    style_layers: Mapping[str, float],
    weights: LossWeights,
) -> LossTerms:
    """Weighted content + style + TV loss per image.

    content_targets hold feature maps (B, C, H, W); style_targets hold Grams
    (B, C, C).  Layer weights scale each layer's term before the global weights.
    """
    content = _weighted_sum(
        ((w, content_loss(features[k], content_targets[k])) for k, w in content_layers.items()),
        image,
    )
    style = _weighted_sum(
        (
            (w, style_loss(gram_matrix(features[k]), style_targets[k]))
            for k, w in style_layers.items()
        ),
        image,
    )
    tv = tv_loss(image.float())
    return LossTerms(
        content=weights.content * content,
        style=weights.style * style,
        tv=weights.tv * tv,
    )
