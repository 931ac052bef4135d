"""Building a frozen, truncated feature extractor for a network of the catalog."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

from .. import weights as W
from ..catalog import Network, network
from .base import FeatureExtractor

# Catalog format -> backbone -> the (module, function) that makes the named layers from
# (architecture, state dict, pooling).  Imported when used: a VGG19 job does not pay for
# timm's import (about 1 s), nor an EfficientNet one for VGG's.
_LAYERS = {
    "torchvision": {
        "vgg19": ("vgg", "layers"),
        "vgg16": ("vgg", "layers"),
        "resnet50": ("resnet", "layers"),
    },
    "caffe_quantised": {"vgg19": ("vgg", "original_layers")},
    "efficientnet_package": {"efficientnet_lite0": ("efficientnet", "layers")},
}


def build_backbone(
    net: Network | str,
    weights_file: str | Path,
    keep_layers: Iterable[str],
    pooling: str = "max",
    sha256: str | None = None,
) -> FeatureExtractor:
    """Load, verify and freeze a network truncated after the deepest of `keep_layers`.

    `net` is a catalog entry or a backbone name (then with its default weights);
    `sha256` defaults to the catalog's pin.
    """
    if isinstance(net, str):
        net = network(net)
    weights_file = Path(weights_file)
    if not weights_file.exists():
        raise W.WeightsError(
            f"the {net.key} weights file {weights_file} does not exist; "
            + net.how_to_get(weights_file)
        )
    W.verify(weights_file, sha256 or net.sha256)
    state = W.load_state_dict(weights_file)
    module, function = _LAYERS[net.format][net.backbone]
    make_layers = getattr(importlib.import_module(f".{module}", __package__), function)
    layers = make_layers(net.backbone, state, pooling)
    return FeatureExtractor(layers, net.norm).truncated(keep_layers)
