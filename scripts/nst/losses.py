"""The losses of Gatys et al. as pure functions over batched feature maps.

All functions keep the batch dimension: image b's loss depends only on image b's
features, so several pairs can be optimised in one forward/backward and still be
mathematically independent of each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor


class _Gram(torch.autograd.Function):
    """G = F F^T * scale over a batch of (C, N) matrices F.

    Its own backward, dF = (dG + dG^T) F * scale, takes one matrix product where
    autograd's two-sided one takes two plus a sum.  `channels_last` says that the
    features are stored pixel-major, given here as (B, N, C) = F^T, which is then
    used as it is (a view, no copy).
    """

    @staticmethod
    def forward(ctx, flat: Tensor, scale: float, channels_last: bool) -> Tensor:
        ctx.save_for_backward(flat)
        ctx.scale, ctx.channels_last = scale, channels_last
        if channels_last:
            return torch.bmm(flat.transpose(1, 2), flat) * scale
        return torch.bmm(flat, flat.transpose(1, 2)) * scale

    @staticmethod
    def backward(ctx, grad: Tensor):
        (flat,) = ctx.saved_tensors
        symmetric = (grad + grad.transpose(1, 2)) * ctx.scale
        if ctx.channels_last:
            return torch.bmm(flat, symmetric), None, None
        return torch.bmm(symmetric, flat), None, None


def gram_matrix(features: Tensor) -> Tensor:
    """Gram matrix of each image's feature map, normalised by its size.

    features: (B, C, H, W)  ->  (B, C, C) with G[b] = F_b F_b^T / (C * H * W),
    where F_b is the (C, H*W) matrix of image b.  Normalising by the number of
    entries makes targets comparable across image sizes (a style cached at one
    size serves content images of any aspect ratio).  Accumulated in float32
    even under autocast: low-precision Grams are what breaks L-BFGS.
    """
    b, c, h, w = features.shape
    channels_last = not features.is_contiguous() and features.is_contiguous(
        memory_format=torch.channels_last
    )
    dtype = torch.promote_types(features.dtype, torch.float32)
    with torch.autocast(features.device.type, enabled=False):
        if channels_last:
            flat = features.permute(0, 2, 3, 1).reshape(b, h * w, c).to(dtype)
        else:
            flat = features.reshape(b, c, h * w).to(dtype)
        return _Gram.apply(flat, 1.0 / (c * h * w), channels_last)


def content_loss(features: Tensor, target: Tensor) -> Tensor:
    """Mean squared feature difference per image: (B, C, H, W) x 2 -> (B,)."""
    return (features.float() - target.float()).pow(2).flatten(1).mean(1)


def style_loss(gram: Tensor, target: Tensor) -> Tensor:
    """Mean squared Gram difference per image: (B, C, C) x (B or 1, C, C) -> (B,)."""
    return (gram - target).pow(2).flatten(1).mean(1)


def tv_loss(image: Tensor) -> Tensor:
    """Total variation (mean squared neighbour difference) per image: (B, 3, H, W) -> (B,)."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).flatten(1).mean(1) + dy.pow(2).flatten(1).mean(1)


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

    @property
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
    zero = image.new_zeros(image.shape[0], dtype=torch.float32)
    content = zero
    for name, layer_weight in content_layers.items():
        content = content + layer_weight * content_loss(features[name], content_targets[name])
    style = zero
    for name, layer_weight in style_layers.items():
        style = style + layer_weight * style_loss(gram_matrix(features[name]), style_targets[name])
    tv = tv_loss(image.float())
    return LossTerms(
        content=weights.content * content,
        style=weights.style * style,
        tv=weights.tv * tv,
    )
