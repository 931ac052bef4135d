"""Style targets: the Gram matrices of a style image, computed once and cached.

A cache file is a safetensors file (no pickle: it can come from anywhere and is
still safe to read) with one (C, C) tensor per style size and layer, plus
metadata naming the settings it was made with and the style image's sha256.  A
cache that is damaged or was made with other settings is refused, never used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from .backbones.base import FeatureExtractor
from .highres import image_grams
from .images import DEFAULT_MAX_MEGAPIXELS, load_image
from .io import atomic_write, canonical_json, sha256_file
from .losses import gram_matrix
from .resources import STYLE_UNTILED_MAX
from .settings import StyleTargetSettings

# Untiled up to STYLE_UNTILED_MAX (1536 px: VGG19 there holds about 2 GB of features at
# once); above, tiles of 1024 px with 128 px of context each side, which covers what the
# style layers see (bench/highres.py --margins: Gram error 0.00% from 64 px).
STYLE_TILE = 1024
STYLE_TILE_OVERLAP = 256


class StaleTargetsError(RuntimeError):
    """A cached style target is damaged or does not match the current settings."""


def compute(
    net: FeatureExtractor,
    style_path: str | os.PathLike,
    layers: Sequence[str],
    sizes: Sequence[int],
    device: torch.device,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> dict[str, torch.Tensor]:
    """Gram matrix per (size, layer) of one style image, keyed "size/layer".  Sizes
    above STYLE_UNTILED_MAX (highres prints) are computed tile by tile, in bounded memory."""
    targets = {}
    for size in sizes:
        image = load_image(style_path, size, max_megapixels)[None]
        if size > STYLE_UNTILED_MAX:
            grams = image_grams(net, image, list(layers), STYLE_TILE, STYLE_TILE_OVERLAP)
        else:
            with torch.no_grad():
                features = net(image.to(device), layers)
            grams = {layer: gram_matrix(features[layer]) for layer in layers}
        for layer in layers:
            targets[f"{size}/{layer}"] = grams[layer][0].cpu()
    return targets


def write(
    path: str | os.PathLike,
    targets: Mapping[str, torch.Tensor],
    settings: StyleTargetSettings,
    style_path: str | os.PathLike,
) -> None:
    metadata = {
        "settings": canonical_json(settings.to_params()),
        "style_sha256": sha256_file(style_path),
    }
    data = save({k: v.contiguous() for k, v in targets.items()}, metadata=metadata)
    with atomic_write(path) as handle:
        handle.write(data)


def read(
    path: str | os.PathLike, settings: StyleTargetSettings
) -> tuple[dict[str, torch.Tensor], str]:
    """The cached targets and the style's sha256; StaleTargetsError if unusable."""
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
            targets = {key: handle.get_tensor(key) for key in handle.keys()}
    except (OSError, SafetensorError) as err:
        raise StaleTargetsError(f"{path}: damaged style target cache ({err})") from None
    if metadata.get("settings") != canonical_json(settings.to_params()):
        raise StaleTargetsError(f"{path}: made with other settings than this run's")
    expected = {
        f"{s}/{layer}" for s in settings.style_sizes for layer in settings.style_layers
    }
    if set(targets) != expected or not all(torch.isfinite(t).all() for t in targets.values()):
        raise StaleTargetsError(f"{path}: incomplete or non-finite style targets")
    return targets, metadata["style_sha256"]
