"""Settings checked before any job (nst.preflight): the layer names known without a
network match the networks built, and each problem names its setting and the fix.
(tests/test_bad_settings.py runs the same settings through the workflow.)"""

from __future__ import annotations

import pytest
import torch
import yaml
from torchvision import models

from conftest import REPO, VGG19_TV
from nst.backbones import build_backbone, resnet, vgg
from nst.backbones.efficientnet import layers as efficientnet_layers
from nst.catalog import network
from nst.layer_names import LAYER_NAMES
from nst.preflight import SettingsError, check
from nst.settings import PairSettings

LITE0 = network("efficientnet_lite0")


def test_layer_names_are_those_of_the_networks_built(vgg19_file):
    vgg19 = build_backbone(VGG19_TV, vgg19_file, ["pool5"])
    built = {
        "vgg19": vgg19.layer_names,
        "vgg16": [name for name, _ in vgg.layers("vgg16", models.vgg16().state_dict())],
        "resnet50": [n for n, _ in resnet.layers("resnet50", models.resnet50().state_dict())],
        "efficientnet_lite0": [
            name
            for name, _ in efficientnet_layers(
                "efficientnet_lite0", torch.load(LITE0.default_file(), weights_only=True)
            )
        ],
    }
    assert {name: list(names) for name, names in LAYER_NAMES.items()} == built


def problems(tmp_path, gpus=0, memory_mb=None, **changes) -> str:
    """check()'s message for the repository's config with `changes` (in tmp_path)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    (tmp_path / "content").mkdir(exist_ok=True)
    (tmp_path / "style").mkdir(exist_ok=True)
    config.update(content_dir=str(tmp_path / "content"), style_dir=str(tmp_path / "style"))
    config.update({"results": str(tmp_path / "results"), **changes})
    settings = PairSettings.from_config(config, VGG19_TV, "w.pth")
    weights = tmp_path / "w.pth"
    weights.touch()
    try:
        check(config, settings, weights, gpus, memory_mb)
    except SettingsError as err:
        return str(err)
    return ""


def test_good_settings_pass(tmp_path):
    assert problems(tmp_path, memory_mb=64e3) == ""


def test_a_size_beyond_max_input_megapixels_names_both(tmp_path):
    found = problems(tmp_path, size=100000)
    assert (
        "size 100000 with style_scale 1.0 makes images up to 100000x100000 px (10,000 "
        "megapixels), above max_input_megapixels 200: lower size" in found
    )
    assert problems(tmp_path, size=10000, max_input_megapixels=100) == ""
    assert "30000x30000 px" in problems(tmp_path, size=10000, style_scale=3.0)


def test_a_size_beyond_memory_says_what_would_fit(tmp_path):
    found = problems(tmp_path, memory_mb=5e3, size=1024)
    assert "size 1024: a job needs about 8.3 GB of memory (nst.resources), more than the " in found
    assert "5.0 GB here; lower size, enable highres" in found
    tiled = {"enabled": True, "tile": 256, "base_size": 256}
    assert problems(tmp_path, memory_mb=5e3, size=1024, highres=tiled) == ""
    assert problems(tmp_path, gpus=1, memory_mb=5e3, size=1024) == ""  # in GPU memory
    assert problems(tmp_path, size=1024) == ""  # a cluster: its scheduler places jobs


@pytest.mark.parametrize("key", ["content_layers", "style_layers"])
def test_unknown_layers_are_named_with_the_known_ones(tmp_path, key):
    found = problems(tmp_path, **{key: {"conv4_2": 1.0, "nope_1": 1.0}})
    assert f"{key}: vgg19 has no layer nope_1; name some of conv1_1, relu1_1," in found
    assert f"pool5 (or {key}: null for the network's own)" in found


def test_path_settings_of_the_wrong_kind(tmp_path):
    (tmp_path / "a file").write_text("x")
    (tmp_path / "a folder").mkdir()
    file, folder, nothing = (str(tmp_path / n) for n in ("a file", "a folder", "nothing"))
    expected = {
        "content_dir": (file, f"content_dir: {file} is a file, not a folder; point content_dir"),
        "style_dir": (nothing, f"style_dir: {nothing} does not exist; point style_dir at"),
        "pairs": (folder, f"pairs: {folder} is a folder; give the path of the pairs sheet"),
        "init": (nothing, f"init: {nothing} is not a file; use content, noise or the path"),
        "results": (file, f"results: {file} is a file; point results at a folder"),
    }
    for key, (value, message) in expected.items():
        assert message in problems(tmp_path, **{key: value}), key
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(content_dir=".", style_dir=".")
    settings = PairSettings.from_config(config, VGG19_TV, "w.pth")
    with pytest.raises(SettingsError, match=r"weights.vgg19.file: \S+a folder is a folder"):
        check(config, settings, tmp_path / "a folder", 0, None)
