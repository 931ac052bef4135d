"""Masks (nst.masks): region weights from a label image, down the network, and the
guided style loss that reduces to the plain one for a single region."""

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import VGG19_TV, write_image
from nst.backbones import build_backbone
from nst.highres.tiled import layer_strides
from nst.losses import LossWeights, gatys_loss, gram_matrix, style_term
from nst.masks import Guided, at_layer, guided_targets, parse_colour, region_weights
from nst.pairs import SheetError, image_keys, pair_style_key, read_sheet


def test_region_weights_are_exact_for_label_colours_and_soft_between():
    mask = torch.zeros(3, 2, 4)
    mask[:, 0, 1] = 1.0  # white
    mask[:, 0, 2] = 0.25  # a grey edge pixel: a quarter white
    mask[0, 1, 0] = 1.0  # red
    mask[:, 1, 3] = torch.tensor([0.5, 0.0, 0.0])  # between black and red
    colours = [parse_colour("black"), parse_colour("white"), parse_colour("ff0000")]
    weights = region_weights(mask, colours)
    assert weights.shape == (3, 2, 4)
    torch.testing.assert_close(weights.sum(0), torch.ones(2, 4))
    torch.testing.assert_close(weights[:, 0, 1], torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(weights[:, 0, 2], torch.tensor([0.75, 0.25, 0.0]))
    torch.testing.assert_close(weights[:, 1, 0], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(weights[:, 1, 3], torch.tensor([0.5, 0.0, 0.5]), atol=2e-3, rtol=0)


def test_masks_have_the_features_shapes_at_every_layer_for_odd_sizes(vgg19_file):
    layers = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    net = build_backbone(VGG19_TV, vgg19_file, layers)
    strides = layer_strides(net, layers)
    assert [strides[k] for k in layers] == [1, 2, 4, 8, 16]
    for height, width in [(37, 53), (33, 17), (64, 31)]:
        with torch.no_grad():
            features = net(torch.rand(1, 3, height, width), layers)
        # Left half one region: at every layer its mean is the share of the window.
        mask = torch.zeros(1, height, width)
        mask[..., : width // 2] = 1
        for name, f in features.items():
            shape = tuple(f.shape[-2:])
            assert at_layer(mask, strides[name], shape).shape[-2:] == shape
            assert tuple(at_layer(mask, strides[name]).shape[-2:]) >= shape


def test_a_mask_of_ones_is_the_plain_loss_and_gradient():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 9, 11, dtype=torch.float64)
    features = {"a": torch.randn(2, 4, 9, 11).double(), "b": torch.randn(2, 5, 5, 6).double()}
    plain = {k: torch.randn(2, v.shape[1], v.shape[1]).double() for k, v in features.items()}
    ones = torch.ones(2, 1, 9, 11, dtype=torch.float64)
    strides = {"a": 1, "b": 2}
    guided = {
        k: guided_targets(g[:, None], ones, torch.ones(2, 1, dtype=torch.bool), strides[k])
        for k, g in plain.items()
    }
    weights = LossWeights(*(torch.tensor([1.0, 2.0]).double() for _ in range(3)))
    layers = {"a": 0.3, "b": 0.7}
    results = []
    for targets in (plain, guided):
        leaves = {k: v.clone().requires_grad_(True) for k, v in features.items()}
        terms = gatys_loss(
            image, leaves, {"a": features["a"]}, targets, {"a": 1.0}, layers, weights
        )
        terms.total.sum().backward()
        results.append((terms.style, [leaves[k].grad for k in layers]))
    torch.testing.assert_close(results[1][0], results[0][0])
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(b, a)


def test_each_region_is_matched_to_its_own_style_in_its_share():
    """Two halves with two styles: the guided loss is zero when each half's own Gram is
    its target, and counts each half by its area; a region without a style adds nothing."""
    torch.manual_seed(1)
    features = torch.randn(1, 3, 4, 8)
    left = torch.zeros(1, 1, 4, 8)
    left[..., :2] = 1  # a quarter of the image
    masks = torch.cat([left, 1 - left], dim=1)
    grams = torch.stack([gram_matrix(features[..., :2]), gram_matrix(features[..., 2:])], dim=1)
    has = torch.tensor([[True, True]])
    target = guided_targets(grams, masks, has, 1)
    torch.testing.assert_close(style_term(features, target), torch.zeros(1), atol=1e-6, rtol=0)
    other = Guided(grams.flip(1), masks, target.shares, 1)
    expected = (
        0.25 * ((gram_matrix(features[..., :2]) - grams[:, 1]) ** 2).mean()
        + 0.75 * ((gram_matrix(features[..., 2:]) - grams[:, 0]) ** 2).mean()
    )
    torch.testing.assert_close(style_term(features, other), expected[None])
    no_style = guided_targets(grams.flip(1), masks, torch.tensor([[True, False]]), 1)
    torch.testing.assert_close(
        style_term(features, no_style),
        0.25 * ((gram_matrix(features[..., :2]) - grams[:, 1]) ** 2).mean()[None],
    )


def write_mask(path, colours, size=(20, 30)):
    """Vertical bands of these (r, g, b) colours."""
    array = np.zeros((*size, 3), np.uint8)
    bands = np.array_split(np.arange(size[1]), len(colours))
    for band, colour in zip(bands, colours):
        array[:, band] = colour
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def sheet_folders(tmp_path):
    content, style, masks = tmp_path / "content", tmp_path / "style", tmp_path / "masks"
    write_image(content / "cat.png")
    for name in ("wave.png", "starry.png"):
        write_image(style / name)
    write_mask(masks / "sky.png", [(255, 255, 255), (0, 0, 0)])
    write_mask(masks / "three.png", [(255, 255, 255), (0, 0, 0), (0, 255, 0)])
    return tmp_path, content, style, masks


def read(folders, rows):
    root, content, style, masks = folders
    path = root / "pairs.tsv"
    path.write_text("content\tmask\tstyle\n" + "".join(f"{row}\n" for row in rows))
    return read_sheet(path, content, style, masks)


def test_a_sheet_row_maps_the_colours_of_its_mask_to_styles(sheet_folders):
    _, content, style, masks = sheet_folders
    plain, masked, blend = read(
        sheet_folders,
        [
            "cat.png\t\twave.png",
            "cat.png\tsky.png\tWhite=starry.png; black = none",
            "cat.png\tsky.png\tffffff=starry.png:3+wave.png:1;000000=wave.png",
        ],
    )
    assert plain.mask is None and plain.styles == ((style / "wave.png", 1.0),)
    assert masked.mask == masks / "sky.png"
    assert masked.regions == (("ffffff", ((style / "starry.png", 1.0),)), ("000000", ()))
    assert masked.styles == ((style / "starry.png", 1.0),)
    assert blend.regions[0] == (
        "ffffff",
        ((style / "starry.png", 0.75), (style / "wave.png", 0.25)),
    )
    keys = image_keys([masks / "sky.png", style / "starry.png", style / "wave.png"])
    assert pair_style_key(masked, keys) == "sky@ffffff=starry,000000=none"


@pytest.mark.parametrize(
    "row, message",
    [
        ("cat.png\tgone.png\twhite=wave.png", r"row 2: .*gone.png does not exist"),
        (
            "cat.png\tthree.png\twhite=wave.png; black=none",
            r"row 2: 3\d% of mask .*three.png is colour 00ff00 .*add `00ff00=<style>`",
        ),
        ("cat.png\tsky.png\twave.png", r"row 2: with a mask the style cell gives a style per"),
        ("cat.png\tsky.png\tpurple=wave.png", r"row 2: 'purple' is not a colour"),
        ("cat.png\tsky.png\twhite=none; black=none", r"row 2: .*gives no colour of the mask a"),
    ],
)
def test_mask_problems_name_the_row_before_any_job(sheet_folders, row, message):
    with pytest.raises(SheetError, match=message):
        read(sheet_folders, [row])
