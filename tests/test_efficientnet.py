"""EfficientNet-Lite0: the packaged weights land on the right timm tensors, by name.

Runs offline on the CPU with the weights that install with pip.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from nst.backbones import efficientnet as E
from nst.backbones.base import FeatureExtractor
from nst.backbones.loading import WeightsFormatError
from nst.catalog import TF_LITE, network

LITE0 = network("efficientnet_lite0")

DATA = Path(__file__).resolve().parent.parent / "data" / "content"
CATS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
ESPRESSO = 967


@pytest.fixture(scope="module")
def state_dict():
    # The package file predates torch's zip format, so it cannot be memory-mapped.
    return torch.load(LITE0.default_file(), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def extractor(state_dict):
    return lite0(state_dict)


def lite0(state_dict, pooling="max"):
    return FeatureExtractor(E.layers("efficientnet_lite0", state_dict, pooling), TF_LITE)


def photo(name: str, size: int = 224) -> torch.Tensor:
    """An RGB photo in [0, 1], shorter side resized to `size` and centre-cropped square."""
    image = Image.open(DATA / name).convert("RGB")
    image = TF.center_crop(TF.resize(image, size, antialias=True), size)
    return TF.to_tensor(image)[None]


def test_package_key_rules():
    sizes = [1, 2, 2, 3, 3, 4, 1]
    expanding = {(s, i) for s, n in enumerate(sizes) for i in range(n)} - {(0, 0)}
    cases = {
        "conv_stem.weight": "_conv_stem.weight",
        "bn1.running_var": "_bn0.running_var",
        "blocks.0.0.bn1.weight": "_blocks.0._bn1.weight",
        "blocks.0.0.conv_pw.weight": "_blocks.0._project_conv.weight",
        "blocks.2.0.conv_pw.weight": "_blocks.3._expand_conv.weight",
        "blocks.2.0.bn2.bias": "_blocks.3._bn1.bias",
        "blocks.5.3.conv_dw.weight": "_blocks.14._depthwise_conv.weight",
        "blocks.6.0.bn3.running_mean": "_blocks.15._bn2.running_mean",
        "bn2.weight": "_bn1.weight",
        "classifier.bias": "_fc.bias",
    }
    for timm_key, package_key in cases.items():
        assert E.package_key(timm_key, sizes, expanding) == package_key


def test_photos_are_classified(state_dict):
    model = E.pretrained_model(state_dict)
    mean = torch.tensor(E.MEAN).view(1, 3, 1, 1)
    std = torch.tensor(E.STD).view(1, 3, 1, 1)
    images = torch.cat([photo("chelsea.png"), photo("coffee.png")])
    with torch.no_grad():
        top5 = model((images - mean) / std).topk(5).indices.tolist()
    cat, coffee = top5
    assert cat[0] in CATS and CATS <= set(cat), cat
    assert coffee[0] == ESPRESSO, coffee


def test_extractor_classifies_like_the_classifier(state_dict, extractor):
    """The extractor's layers, topped by the untouched classifier's head, still see a cat
    and an espresso.

    The extractor pads every side alike where the classifier keeps TF "SAME" padding,
    so the logits are not equal; their correlation was 0.94 and 0.95 at 224 px.
    """
    model = E.pretrained_model(state_dict)
    images = torch.cat([photo("chelsea.png"), photo("coffee.png")])
    mean = torch.tensor(E.MEAN).view(1, 3, 1, 1)
    std = torch.tensor(E.STD).view(1, 3, 1, 1)
    with torch.no_grad():
        head = extractor(images, ["head"])["head"]
        logits = model.classifier(head.mean((2, 3)))
        expected = model((images - mean) / std)
    assert logits.argmax(1).tolist() == expected.argmax(1).tolist()
    for ours, theirs in zip(logits, expected):
        assert torch.corrcoef(torch.stack([ours, theirs]))[0, 1] > 0.9


def test_stem_pads_by_reflection(state_dict, extractor):
    """A uniform image has uniform stem features: the image border shows as no edge.

    The classifier's stem, with TF "SAME" padding, pads this even-sized image with
    zeros at the bottom and right only, which shows in its outer rows and columns.
    """
    grey = torch.full((1, 3, 32, 48), 0.3)
    with torch.no_grad():
        stem = extractor(grey, ["stem"])["stem"]
        model = E.pretrained_model(state_dict)
        same = model.bn1(model.conv_stem((grey - E.MEAN[0]) / E.STD[0]))
    torch.testing.assert_close(stem, stem[..., :1, :1].expand_as(stem))
    assert not torch.allclose(same, same[..., :1, :1].expand_as(same), atol=1e-3)


def test_out_of_range_pixels_are_seen_clamped(extractor):
    """The network sees the image as it will be saved, and pixels outside [0, 1] get
    no gradient from it."""
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 1.6 - 0.3
    image.requires_grad_(True)
    outside = (image < 0) | (image > 1)
    assert 0 < outside.float().mean() < 0.5
    features = extractor(image, ["block1_1"])["block1_1"]
    with torch.no_grad():
        clamped = extractor(image.clamp(0, 1), ["block1_1"])["block1_1"]
    # Clamped after normalisation rather than before: equal up to rounding.
    torch.testing.assert_close(features, clamped, rtol=1e-4, atol=1e-4)
    features.square().mean().backward()
    assert image.grad[outside].abs().max() == 0
    assert (image.grad[~outside] != 0).float().mean() > 0.99


def test_mapping_ignores_the_order_of_the_state_dict(state_dict):
    items = list(state_dict.items())
    random.Random(0).shuffle(items)
    mapped = E.mapped_timm_state_dict(state_dict)
    shuffled = E.mapped_timm_state_dict(dict(items))
    assert list(mapped) == list(shuffled)
    for key in mapped:
        assert torch.equal(mapped[key], shuffled[key]), key


def test_missing_tensor_is_named(state_dict):
    broken = {k: v for k, v in state_dict.items() if k != "_blocks.7._bn1.running_var"}
    with pytest.raises(WeightsFormatError, match=r"missing: _blocks\.7\._bn1\.running_var"):
        E.mapped_timm_state_dict(broken)


def test_wrong_shape_is_named(state_dict):
    broken = dict(state_dict)
    broken["_blocks.2._project_conv.weight"] = torch.zeros(24, 96, 3, 3)
    expected = r"wrong shapes: _blocks\.2\._project_conv\.weight \(24, 96, 3, 3\)"
    with pytest.raises(WeightsFormatError, match=expected) as error:
        E.mapped_timm_state_dict(broken)
    assert "unexpected" not in str(error.value)


def test_unexpected_tensor_is_named(state_dict):
    broken = {**state_dict, "_blocks.16._bn0.weight": torch.zeros(8)}
    with pytest.raises(WeightsFormatError, match=r"unexpected: _blocks\.16\._bn0\.weight"):
        E.mapped_timm_state_dict(broken)


def test_batchnorm_counters_are_optional(state_dict):
    weights = {k: v for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}
    assert len(weights) == 247
    E.mapped_timm_state_dict(weights)


@pytest.mark.parametrize("height, width", [(64, 96), (65, 97)])
def test_named_layers_strides_and_channels(extractor, height, width):
    blocks = [f"block{s}_{i}" for s, n in enumerate([1, 2, 2, 3, 3, 4, 1]) for i in range(n)]
    assert extractor.layer_names == ["stem", *blocks, "head"]
    expected = {  # name: (stride, channels)
        "stem": (2, 32),
        "block0_0": (2, 16),
        "block1_1": (4, 24),
        "block2_1": (8, 40),
        "block3_2": (16, 80),
        "block4_2": (16, 112),
        "block5_3": (32, 192),
        "block6_0": (32, 320),
        "head": (32, 1280),
    }
    with torch.no_grad():
        features = extractor(torch.rand(1, 3, height, width), expected)
    for name, (stride, channels) in expected.items():
        # TF "SAME" sizes, ceil(size / stride), which the symmetric padding keeps.
        size = (-(-height // stride), -(-width // stride))
        assert features[name].shape == (1, channels, *size), name


def test_default_layers_exist(extractor):
    extractor.check_layers([*LITE0.content_layers, *LITE0.style_layers])


def test_truncated_keeps_the_prefix(extractor):
    short = extractor.truncated(["stem", "block2_1"])
    names = extractor.layer_names
    assert short.layer_names == names[: names.index("block2_1") + 1]
    image = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(short(image, ["block2_1"]), extractor(image, ["block2_1"]))


def test_frozen_and_gradient_reaches_the_image(extractor):
    assert not any(p.requires_grad for p in extractor.parameters())
    extractor.train()
    assert not any(m.training for m in extractor.modules())
    image = torch.rand(1, 3, 48, 48, requires_grad=True)
    features = extractor(image, ["stem", "block3_2"])
    (features["stem"].square().mean() + features["block3_2"].square().mean()).backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_features_are_not_modified_by_later_layers(extractor):
    """In-place activations must not overwrite a feature that was already returned."""
    image = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        together = extractor(image, extractor.layer_names)
        for name in extractor.layer_names:
            torch.testing.assert_close(together[name], extractor(image, [name])[name])


def test_pooling_is_ignored(state_dict):
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        a = lite0(state_dict, pooling="avg")(image, ["block1_1"])
        b = lite0(state_dict, pooling="max")(image, ["block1_1"])
    torch.testing.assert_close(a, b)
