"""Colour preservation (Gatys et al., "Preserving Color in Neural Artistic Style Transfer", 2016).

Both variants are applied to the optimised image, not to the style image, so the
style targets stay independent of the content and can be cached once per style.

- luminance: keep the result's luminance (the transferred texture) and the
  content's chrominance (YIQ), the paper's luminance-only transfer.
- histogram: an affine colour transform that gives the result the mean and
  covariance of the content's pixel colours (the paper's colour matching, applied
  to the output).
"""

from __future__ import annotations

import torch
from torch import Tensor

_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)

MODES = ("none", "luminance", "histogram")


def _apply(matrix: Tensor, image: Tensor) -> Tensor:
    return torch.einsum("ij,...jhw->...ihw", matrix.to(image), image)


def luminance_transfer(result: Tensor, content: Tensor) -> Tensor:
    """Result's Y channel with the content's I and Q channels; (…, 3, H, W)."""
    out_yiq = _apply(_RGB_TO_YIQ, result)
    content_yiq = _apply(_RGB_TO_YIQ, content)
    mixed = torch.cat([out_yiq[..., :1, :, :], content_yiq[..., 1:, :, :]], dim=-3)
    return _apply(torch.linalg.inv(_RGB_TO_YIQ), mixed).clamp(0, 1)


def _mean_cov(image: Tensor) -> tuple[Tensor, Tensor]:
    pixels = image.reshape(3, -1).double()
    mean = pixels.mean(1, keepdim=True)
    centred = pixels - mean
    cov = centred @ centred.T / pixels.shape[1] + 1e-5 * torch.eye(3, dtype=pixels.dtype)
    return mean, cov


def _sqrtm(cov: Tensor, inverse: bool = False) -> Tensor:
    values, vectors = torch.linalg.eigh(cov)
    values = values.clamp(min=1e-8).pow(-0.5 if inverse else 0.5)
    return vectors @ torch.diag(values) @ vectors.T


def match_color_statistics(image: Tensor, reference: Tensor) -> Tensor:
    """Affine map of `image`'s pixel colours onto `reference`'s mean and covariance."""
    mean_i, cov_i = _mean_cov(image)
    mean_r, cov_r = _mean_cov(reference)
    transform = _sqrtm(cov_r) @ _sqrtm(cov_i, inverse=True)
    pixels = image.reshape(3, -1).double()
    out = transform @ (pixels - mean_i) + mean_r
    return out.reshape(image.shape).to(image.dtype).clamp(0, 1)


def preserve_color(result: Tensor, content: Tensor, mode: str) -> Tensor:
    """Apply a colour-preservation mode to one (3, H, W) result."""
    if mode == "none":
        return result
    if mode == "luminance":
        return luminance_transfer(result, content)
    if mode == "histogram":
        return match_color_statistics(result, content)
    raise ValueError(f"preserve_color must be one of {MODES}, not {mode!r}")
