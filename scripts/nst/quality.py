"""A quality score for each result, judged by a network that was not optimised.

The optimiser drives its own network's losses down whatever the picture looks
like, so its final loss says little about the picture.  A second, held-out
network (EfficientNet-Lite0; VGG19 original when EfficientNet was optimised)
gives two numbers per result, each relative to a natural reference so that they
compare across pairs, sizes and settings:

- `style_score`: the Gram distance from the result to the style image, divided
  by the content photo's own Gram distance to the style image.  1 = no closer
  to the style than the photo was; 0 = the style's statistics exactly.
- `content_score`: the feature distance from the result to the photo, divided
  by the style image's distance to the photo (the style image resized to the
  photo's shape).  0 = the photo's features intact; 1 = as far from the photo
  as the style image itself.

Each is the mean over the judge's layers (JUDGES) of the per-layer ratio, so
that no layer's scale dominates.  With a mask (nst.masks) a region's style score
compares the region's weighted Grams (of the result and of the photo) with its own
styles'.  Lower is better for both; they pull against each
other, and a result with a style score near 1 (nothing transferred) or a
content score near 1 (photo lost) is the one to look at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .backbones import build_backbone
from .backbones.base import FeatureExtractor
from .catalog import Network, network
from .geometry import scaled_size
from .highres.tiled import layer_strides
from .images import DEFAULT_MAX_MEGAPIXELS, load_image, resize
from .losses import gram_matrix
from .masks import at_layer, resize_weights


@dataclass(frozen=True)
class JudgeLayers:
    """What the judge compares: a deep layer for the photo's objects and layout (not its
    textures, which the style is meant to replace), and a range of depths for the style."""

    content: tuple[str, ...]
    style: tuple[str, ...]


JUDGES = {
    # Stride 16 (block4_2) for content; the stem to stride 16 for style.
    "efficientnet_lite0": JudgeLayers(
        content=("block4_2",), style=("stem", "block0_0", "block1_1", "block2_1", "block3_2")
    ),
    "vgg19": JudgeLayers(content=("conv4_2",), style=tuple(f"conv{i}_1" for i in range(1, 6))),
}


def judge_for(backbone: str) -> Network:
    """The held-out network for results optimised with `backbone`."""
    if backbone == "efficientnet_lite0":
        return network("vgg19", "original")
    return network("efficientnet_lite0")


# Larger results (highres prints) are judged downscaled to this long side, with the
# style references scaled alike: the judge runs untiled, and a score is a ratio of
# statistics, which a 1024 px view of a print already shows.
JUDGE_MAX_SIDE = 1024


@dataclass(frozen=True)
class Score:
    style: float
    content: float


@dataclass(frozen=True)
class StyleReference:
    """A (blend of) style image(s) as the judge sees it."""

    grams: dict[str, Tensor]  # layer -> (1, C, C), blended by the weights
    image: Tensor  # (3, h, w) in [0, 1]: the most weighted style, for the content score


class Judge:
    """Scores results with a held-out network, loaded on first use."""

    def __init__(
        self,
        backbone: str,
        device: torch.device | str = "cpu",
        max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
        judge: Network | None = None,
    ):
        """`judge` overrides the held-out network (to compare runs under one judge)."""
        self.network = judge or judge_for(backbone)
        self.device = torch.device(device)
        self.max_megapixels = max_megapixels
        self._net: FeatureExtractor | None = None
        self._references: dict[tuple, StyleReference] = {}
        self._layer_strides: dict[str, int] | None = None

    @property
    def content_layers(self) -> tuple[str, ...]:
        return JUDGES[self.network.backbone].content

    @property
    def style_layers(self) -> tuple[str, ...]:
        return JUDGES[self.network.backbone].style

    def _features(self, image: Tensor) -> dict[str, Tensor]:
        if self._net is None:
            layers = [*self.content_layers, *self.style_layers]
            net = build_backbone(self.network, self.network.default_file(), layers)
            self._net = net.to(self.device)
        with torch.no_grad():
            layers = sorted({*self.content_layers, *self.style_layers})
            return self._net(image.to(self.device)[None], layers)

    def _strides(self) -> dict[str, int]:
        """The style layers' strides (where a region's weights are pooled to)."""
        if self._layer_strides is None:
            self._features(torch.zeros(3, 64, 64))  # loads the network
            self._layer_strides = layer_strides(self._net, list(self.style_layers))
        return self._layer_strides

    def reference(self, styles: Sequence[tuple[str, float]], long_side: int) -> StyleReference:
        """The style images (path, blend weight) at the size the run's targets used; cached."""
        key = (tuple(styles), long_side)
        if key not in self._references:
            grams, images = {}, []
            for path, weight in styles:
                image = load_image(path, long_side, self.max_megapixels)
                features = self._features(image)
                for name in self.style_layers:
                    grams[name] = grams.get(name, 0) + weight * gram_matrix(features[name])
                images.append((weight, image))
            heaviest = max(images, key=lambda item: item[0])[1]
            self._references[key] = StyleReference(grams, heaviest)
        return self._references[key]

    def score_pair(
        self,
        result: Tensor,
        content: Tensor,
        styles: Sequence[tuple[str, float]],
        style_long_side: int,
        region: Tensor | None = None,
    ) -> Score:
        """A result (3, H, W) of `content` (the same shape) against its style images
        (path, blend weight) at the run's style size; above JUDGE_MAX_SIDE, downscaled.
        `region`: a mask region's (H, W) weights, whose style is judged there alone."""
        long_side = max(result.shape[-2:])
        if long_side > JUDGE_MAX_SIDE:
            hw = scaled_size(*result.shape[-2:], JUDGE_MAX_SIDE)
            result, content = resize(result, hw), resize(content, hw)
            region = None if region is None else resize_weights(region, hw)
            style_long_side = max(1, round(style_long_side * JUDGE_MAX_SIDE / long_side))
        return self.score(result, content, self.reference(styles, style_long_side), region)

    def score(
        self, result: Tensor, content: Tensor, style: StyleReference, region: Tensor | None = None
    ) -> Score:
        """result, content: (3, H, W) in [0, 1], the same shape; region: (H, W) or None."""
        out, photo = self._features(result), self._features(content)
        style_as_photo = self._features(resize(style.image[None], tuple(content.shape[-2:]))[0])

        def gram(features: dict[str, Tensor], name: str) -> Tensor:
            if region is None:
                return gram_matrix(features[name])
            shape = features[name].shape[-2:]
            weight = at_layer(region.to(self.device), self._strides()[name], shape)
            return gram_matrix(features[name], weight)

        style_ratios = [
            _distance(gram(out, n), style.grams[n])
            / max(_distance(gram(photo, n), style.grams[n]), 1e-12)
            for n in self.style_layers
        ]
        content_ratios = [
            _distance(out[n], photo[n]) / max(_distance(style_as_photo[n], photo[n]), 1e-12)
            for n in self.content_layers
        ]
        return Score(
            style=sum(style_ratios) / len(style_ratios),
            content=sum(content_ratios) / len(content_ratios),
        )


def _distance(a: Tensor, b: Tensor) -> float:
    return float((a.float() - b.float()).pow(2).mean())
