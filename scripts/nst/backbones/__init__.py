"""Building a frozen, truncated feature extractor for a backbone named in the catalog."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .. import weights as W
from ..catalog import INFO
from . import efficientnet, resnet, vgg
from .base import FeatureExtractor

_BUILD = {
    "vgg19": vgg.build,
    "vgg16": vgg.build,
    "resnet50": resnet.build,
    "efficientnet_lite0": efficientnet.build,
}


def build_backbone(
    name: str,
    weights_file: str | Path,
    keep_layers: Iterable[str],
    pooling: str = "max",
    sha256: str | None = None,
) -> FeatureExtractor:
    """Load, verify and freeze a backbone truncated after the deepest of `keep_layers`."""
    weights_file = Path(weights_file)
    if not weights_file.exists():
        raise W.WeightsError(
            f"the {name} weights file {weights_file} does not exist; "
            + W.how_to_get(name, weights_file, INFO[name].weights_url)
        )
    W.verify(weights_file, sha256)
    state = W.load_state_dict(weights_file)
    net = _BUILD[name](name, state, pooling)
    return net.truncated(keep_layers)
