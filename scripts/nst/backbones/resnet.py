"""ResNet-50 with one named layer per residual block (conv1, pool1, layer1_0 ... layer4_2).

Gatys-style transfer works with ResNets too, if less crisply than with VGG (Wang et
al., CVPR 2021): their features are peakier, so Gram targets are dominated by a few
channels.  Offered for comparison and research use.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn
from torchvision import models

from .base import Layers
from .loading import load_module_state


def layers(name: str, state_dict: Mapping[str, Tensor], pooling: str = "max") -> Layers:
    net = models.resnet50(weights=None)
    net.fc = nn.Identity()  # the classifier is not used; its keys may be absent
    load_module_state(net, state_dict, prefix="", what="torchvision resnet50")
    pool = nn.AvgPool2d(3, 2, 1) if pooling == "avg" else net.maxpool
    named: Layers = [
        ("conv1", nn.Sequential(net.conv1, net.bn1, nn.ReLU(inplace=False))),
        ("pool1", pool),
    ]
    for stage in range(1, 5):
        for index, block in enumerate(getattr(net, f"layer{stage}")):
            named.append((f"layer{stage}_{index}", block))
    return named
