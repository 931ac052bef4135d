"""VGG16 / VGG19 with the layer names of the Gatys paper (conv1_1, relu1_1, pool1, ...)."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

from .base import FeatureExtractor
from .loading import load_module_state

_CONFIG = {"vgg16": cfgs["D"], "vgg19": cfgs["E"]}


def named_layers(features: nn.Sequential, pooling: str) -> list[tuple[str, nn.Module]]:
    """Name torchvision's `features` modules block by block; swap the pooling if asked."""
    named, block, index = [], 1, 1
    for module in features:
        if isinstance(module, nn.Conv2d):
            named.append((f"conv{block}_{index}", module))
        elif isinstance(module, nn.ReLU):
            # Not in place: the conv output before it may be a requested feature.
            named.append((f"relu{block}_{index}", nn.ReLU(inplace=False)))
            index += 1
        elif isinstance(module, nn.MaxPool2d):
            pool = nn.AvgPool2d(2, 2) if pooling == "avg" else nn.MaxPool2d(2, 2)
            named.append((f"pool{block}", pool))
            block, index = block + 1, 1
    return named


def build(name: str, state_dict: Mapping[str, Tensor], pooling: str = "max") -> FeatureExtractor:
    """VGG features from a torchvision state dict (`features.N.weight`, ...)."""
    features = make_layers(_CONFIG[name], batch_norm=False)
    load_module_state(features, state_dict, prefix="features.", what=f"torchvision {name}")
    return FeatureExtractor(named_layers(features, pooling))
