"""Stylisation quality with real pretrained weights and the catalog defaults: the original
VGG19 (the default network) and EfficientNet-Lite0.

Runs offline on the CPU (both install with pip): each of the six sample pairs is
stylised at 96 px with 40 L-BFGS steps from the content image (a few seconds a pair),
and the result must

- have moved its pixel colours toward the style's: the distance between the RGB
  distributions (as Gaussians: means and covariances) of output and style is well
  below that of content and style;
- keep the content's structure: the edges of output and content correlate, far more
  than the edges of the style and the content do;
- (VGG19) score well under the held-out network (nst.quality): closer to the style
  than the photo was, and closer to the photo than the style image is.

Measured values are in the comments at the thresholds.  EfficientNet-Lite0's defaults
and network before tuning fail the colour check for four pairs: with the hubble style the cat
came out further from the style's colours than the photo itself (ratio 1.21).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from nst import style_targets
from nst.backbones import build_backbone
from nst.catalog import network
from nst.descent import optimize
from nst.images import load_image, resize
from nst.losses import LossWeights
from nst.method import Method
from nst.quality import Judge

DATA = Path(__file__).resolve().parent.parent / "data"
POOLING = yaml.safe_load((DATA.parent / "config.yaml").read_text())["pooling"]  # the default
SIZE = 96
STEPS = 40
# Each network that has real weights here, with its catalog defaults.
NETWORKS = {"vgg19": network("vgg19", "original"), "lite0": network("efficientnet_lite0")}
PAIRS = [
    (style, content)
    for style in ("hubble_deep_field.jpg", "ihc.jpg")
    for content in ("chelsea.png", "coffee.png", "rocket.jpg")
]
CASES = [(n, p) for n in NETWORKS for p in PAIRS]


def case_id(case) -> str:
    name, (style, content) = case
    return f"{name}-{style.split('.')[0]}-{content.split('.')[0]}"


@functools.cache
def stylised(name: str) -> dict:
    """Per pair: content, style at the content's size, output, held-out score."""
    info = NETWORKS[name]
    layers = [*info.content_layers, *info.style_layers]
    net = build_backbone(info, info.default_file(), layers, POOLING)
    judge = Judge(info.backbone)
    method = Method(
        content_layers=dict(info.content_layers),
        style_layers=dict(info.style_layers),
        steps=STEPS,
    )
    weights = LossWeights(
        content=torch.tensor([1.0]),
        style=torch.tensor([info.style_weight]),
        tv=torch.tensor([info.tv_weight]),
    )
    results = {}
    for style_name, content_name in PAIRS:
        style_path = DATA / "extra" / "style" / style_name
        targets = style_targets.compute(
            net, style_path, list(method.style_layers), [SIZE], torch.device("cpu")
        )
        grams = {layer: targets[f"{SIZE}/{layer}"][None] for layer in method.style_layers}
        content = load_image(DATA / "content" / content_name, long_side=SIZE)[None]
        outcome = optimize(net, content, grams, weights, method, init=content)
        assert bool(outcome.finite[0])
        style = resize(load_image(style_path, long_side=SIZE), tuple(content.shape[-2:]))
        score = judge.score(
            outcome.image[0], content[0], judge.reference([(str(style_path), 1.0)], SIZE)
        )
        results[style_name, content_name] = (content[0], style, outcome.image[0], score)
    return results


def colour_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to the RGB pixels of two images.

    |mean_a - mean_b|^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2): 0 for equal
    colour means and covariances, whatever the images' sizes and layouts.
    """
    pixels_a, pixels_b = a.flatten(1).double(), b.flatten(1).double()
    cov_a, cov_b = torch.cov(pixels_a), torch.cov(pixels_b)

    def sqrtm(m: torch.Tensor) -> torch.Tensor:
        values, vectors = torch.linalg.eigh(m)
        return vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T

    root_a = sqrtm(cov_a)
    mean_term = (pixels_a.mean(1) - pixels_b.mean(1)).square().sum()
    return float(mean_term + torch.trace(cov_a + cov_b - 2 * sqrtm(root_a @ cov_b @ root_a)))


def structure(image: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of the luminance at half resolution, flattened.

    Half resolution (2x2 averages) keeps object outlines and drops the pixel-scale
    texture that the style is meant to add.
    """
    luma = (torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1) * image).sum(0)
    luma = F.avg_pool2d(luma[None, None], 2)
    sobel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])[None, None]
    padded = F.pad(luma, (1, 1, 1, 1), mode="replicate")
    gx, gy = F.conv2d(padded, sobel), F.conv2d(padded, sobel.transpose(2, 3))
    return (gx.square() + gy.square()).sqrt().flatten()


def edge_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([structure(a), structure(b)]))[0, 1])


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_colours_move_toward_the_style(case):
    name, pair = case
    content, style, output, _ = stylised(name)[pair]
    before = colour_distance(content, style)
    after = colour_distance(output, style)
    # Measured after / before: hubble 0.42 (rocket) to 0.61 (coffee), ihc 0.35 to 0.38;
    # with the untuned defaults and network 0.54 to 1.21 (hubble), 0.64 to 0.75 (ihc).
    assert after < 0.7 * before, (after, before)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_content_structure_is_kept(case):
    name, pair = case
    content, style, output, _ = stylised(name)[pair]
    kept = edge_correlation(output, content)
    unrelated = edge_correlation(style, content)
    # Measured: output-content 0.50 (ihc on the dark, low-contrast rocket) to 0.89;
    # style-content, two unrelated pictures, -0.03 to 0.06.
    assert kept > 0.3, kept
    assert kept > unrelated + 0.25, (kept, unrelated)


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: case_id(("vgg19", p)))
def test_the_held_out_network_sees_vgg19_move_the_photo_toward_the_style(pair):
    """The quality score (nst.quality, EfficientNet-Lite0 judging VGG19's results): the
    style distance falls well below the photo's own, and the photo stays closer to the
    result than the style image is."""
    *_, score = stylised("vgg19")[pair]
    # Measured at these sizes and steps: style 0.27 (hubble on the rocket) to 0.50,
    # content 0.41 (ihc on the cat) to 0.78 (hubble on the cat and on the rocket).
    # (EfficientNet-Lite0's own results, judged by VGG19, go as high as 1.22 for the
    # hubble style on the cat: further from the style than the photo was.)
    assert score.style < 0.6, score
    assert score.content < 0.9, score
