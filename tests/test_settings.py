"""Resolved settings: what reaches the rules as params."""

import yaml
from snakemake.utils import validate

from conftest import REPO
from nst.settings import pair_settings, stages, style_target_settings, with_overrides


def config(**changes):
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data.update(changes)
    validate(data, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return data


def test_backbone_defaults_are_filled_in():
    settings = pair_settings(config(), "vgg19", "vgg19-dcbb9e9d.pth")
    assert settings["content_layers"] == {"conv4_2": 1.0}
    assert set(settings["style_layers"]) == {"conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"}
    assert settings["style_weight"] == 1e6 and settings["learning_rate"] == 1.0


def test_writing_a_default_explicitly_changes_nothing():
    implicit = pair_settings(config(), "vgg19", "w.pth")
    explicit = pair_settings(
        config(style_weight=1e6, content_layers={"conv4_2": 1.0}), "vgg19", "w.pth"
    )
    assert implicit == explicit


def test_style_cache_settings_ignore_loss_weights_but_not_layers():
    base = pair_settings(config(), "vgg19", "w.pth")
    heavier = pair_settings(config(style_weight=5e6, tv_weight=0.1), "vgg19", "w.pth")
    assert base != heavier
    assert style_target_settings(base) == style_target_settings(heavier)
    fewer = pair_settings(config(style_layers={"conv1_1": 1.0}), "vgg19", "w.pth")
    assert style_target_settings(fewer) != style_target_settings(base)
    scaled = pair_settings(config(style_scale=0.5), "vgg19", "w.pth")
    assert style_target_settings(scaled)["style_sizes"] == [base["size"] // 2]


def test_coarse_to_fine_stages():
    assert stages(512, 300, None) == [[512, 300]]
    plan = stages(512, 300, {"enabled": True, "start": 128, "factor": 2**0.5, "steps": 50})
    assert plan == [[128, 50], [181, 50], [256, 50], [362, 50], [512, 300]]


def test_pair_overrides_apply_to_the_last_stage():
    base = pair_settings(config(), "vgg19", "w.pth")
    own = with_overrides(base, {"steps": 10, "style_weight": 2.0})
    assert own["stages"][-1][1] == 10 and own["style_weight"] == 2.0
    assert base["stages"][-1][1] == base["steps"]


def test_auto_precision_is_bf16_only_where_it_pays():
    from nst.runtime import resolve_precision

    assert resolve_precision("fp32", "cpu", "vgg19") == "fp32"
    assert resolve_precision("bf16", "cpu", "efficientnet_lite0") == "bf16"
    assert resolve_precision("auto", "cpu", "efficientnet_lite0") == "fp32"
    native = (
        " avx512_bf16" in open("/proc/cpuinfo").read()
        or " amx_bf16" in open("/proc/cpuinfo").read()
    )
    assert resolve_precision("auto", "cpu", "vgg19") == ("bf16" if native else "fp32")
