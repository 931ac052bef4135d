"""Resolved settings: what reaches the rules as params."""

import json
import re

import pytest
import yaml
from snakemake.utils import validate

from conftest import REPO
from nst.catalog import network
from nst.method import Method
from nst.settings import PairSettings, stages

VGG19 = network("vgg19")


def config(**changes):
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data.update(changes)
    validate(data, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return data


def settings(**changes) -> PairSettings:
    return PairSettings.from_config(config(**changes), VGG19, "w.bin")


def test_the_default_network_is_the_original_vgg19_with_its_defaults_filled_in():
    s = settings()
    assert (s.backbone, s.source) == ("vgg19", "original")
    assert s.content_layers == {"conv4_2": 1.0}
    assert set(s.style_layers) == {"conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"}
    assert s.style_weight == VGG19.style_weight and s.learning_rate == 1.0


def test_a_config_with_only_the_schema_defaults_gives_the_same_settings():
    data = {}
    validate(data, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    assert PairSettings.from_config(data, VGG19, "w.bin") == settings()


def test_zero_weights_stay_zero():
    s = settings(style_weight=0, tv_weight=0, content_weight=0)
    assert (s.style_weight, s.tv_weight, s.content_weight) == (0.0, 0.0, 0.0)


def test_writing_a_default_explicitly_changes_nothing():
    explicit = settings(style_weight=VGG19.style_weight, content_layers={"conv4_2": 1.0})
    assert settings() == explicit


def test_params_round_trip_as_plain_json():
    s = settings(coarse_to_fine={"enabled": True, "start": 128, "factor": 2.0, "steps": 5})
    params = s.to_params()
    assert yaml.safe_load(yaml.safe_dump(params)) == params  # plain values only
    assert PairSettings.from_params(params) == s
    with pytest.raises(KeyError, match="not a pair setting: colour"):
        PairSettings.from_params({**params, "colour": 1})


def test_style_cache_settings_ignore_loss_weights_but_not_layers():
    base = settings()
    heavier = settings(style_weight=5e6, tv_weight=0.1)
    assert base != heavier and base.style_targets() == heavier.style_targets()
    assert settings(style_layers={"conv1_1": 1.0}).style_targets() != base.style_targets()
    assert settings(style_scale=0.5).style_targets().style_sizes == (base.size // 2,)


def test_the_weights_source_is_part_of_every_fingerprinted_setting():
    original = settings()
    retrained = PairSettings.from_config(config(), network("vgg19", "torchvision"), "w.pth")
    assert original.style_targets() != retrained.style_targets()
    assert retrained.style_weight != original.style_weight  # each network has its own


def test_coarse_to_fine_stages():
    assert stages(512, 300, None) == ((512, 300),)
    plan = stages(512, 300, {"enabled": True, "start": 128, "factor": 2**0.5, "steps": 50})
    assert plan == ((128, 50), (181, 50), (256, 50), (362, 50), (512, 300))


def test_pair_overrides_apply_to_the_last_stage():
    base = settings()
    own = base.with_overrides({"steps": 10, "style_weight": 2})
    assert own.stages[-1] == (base.size, 10) and own.steps == 10 and own.style_weight == 2.0
    assert base.steps == 300
    with pytest.raises(KeyError, match="not a per-pair setting: pooling"):
        base.with_overrides({"pooling": "avg"})


def test_the_method_is_built_from_the_settings():
    s = settings(optimizer="adam", lbfgs_history=7)
    method = Method.from_settings(s, steps=12, precision="bf16", lr_scale=0.5)
    assert method.optimizer == "adam" and method.learning_rate == pytest.approx(0.01)
    assert method.steps == 12 and method.precision == "bf16" and method.lbfgs_history == 7
    assert method.style_layers == s.style_layers


def test_auto_precision_is_bf16_only_where_it_pays():
    from nst.runtime import resolve_precision

    original, retrained = network("vgg19", "original"), network("vgg19", "torchvision")
    lite0 = network("efficientnet_lite0")
    assert resolve_precision("fp32", "cpu", retrained.auto_bf16) == "fp32"
    assert resolve_precision("bf16", "cpu", lite0.auto_bf16) == "bf16"
    # Measured: bf16 moves the original VGG19's loss by 1.4-1.6% and its style score by 5%.
    assert resolve_precision("auto", "cpu", original.auto_bf16) == "fp32"
    assert resolve_precision("auto", "cpu", lite0.auto_bf16) == "fp32"
    native = (
        " avx512_bf16" in open("/proc/cpuinfo").read()
        or " amx_bf16" in open("/proc/cpuinfo").read()
    )
    assert resolve_precision("auto", "cpu", retrained.auto_bf16) == ("bf16" if native else "fp32")


def highres(**changes) -> dict:
    return {**config()["highres"], "enabled": True, **changes}


def test_highres_optimises_the_whole_image_at_its_base_and_refines_above():
    s = settings(size=4096, highres=highres())
    assert s.stages == ((512, 300),) and s.size == 4096 and s.steps == 300
    assert s.refinement_sizes == (1024, 2048, 4096)
    assert s.style_sizes == (512, 1024, 2048, 4096)
    # The Grams of every scale are cached with the style, so changing the mode redoes them.
    assert s.style_targets().style_sizes == s.style_sizes
    assert s.highres.tile == 512 and s.highres.steps == 100
    coarse = settings(
        size=2048,
        highres=highres(),
        coarse_to_fine={"enabled": True, "start": 128, "factor": 2.0, "steps": 50},
    )
    assert coarse.stages == ((128, 50), (256, 50), (512, 300)) and coarse.refinement_sizes == (
        1024,
        2048,
    )
    # A sheet's steps are the whole-image stage's.
    assert s.with_overrides({"steps": 40}).stages == ((512, 40),)


def test_highres_that_changes_nothing_is_left_out_of_the_params():
    """Disabled, or enabled at a size no larger than its base: the same settings and
    params as without it (upgrading to this version or enabling it reruns nothing)."""
    plain = settings(size=384)
    assert settings(size=384, highres=highres()) == plain
    assert "highres" not in plain.to_params()
    assert settings(size=1024, highres=highres(enabled=False)) == settings(size=1024)


def test_highres_params_round_trip_and_every_key_changes_them():
    s = settings(size=2048, highres=highres(tile="auto", memory_budget=6.0))
    params = s.to_params()
    assert json.loads(json.dumps(params)) == params
    assert PairSettings.from_params(params) == s
    for key, value in [("tile", 256), ("overlap", 64), ("steps", 10), ("learning_rate", 0.02)]:
        other = settings(size=2048, highres=highres(**{key: value}))
        assert other.to_params() != settings(size=2048, highres=highres()).to_params(), key
    with pytest.raises(ValueError, match="overlap"):
        settings(size=2048, highres=highres(tile=128, overlap=100))


def test_config_comments_name_where_defaults_live_and_those_places_exist():
    """config.yaml's comments point to the file that owns a default (and to the docs)
    rather than copying its value, so what they name must exist: each file, and each
    UPPER_CASE or CamelCase name given beside a file must be defined in it."""
    text = (REPO / "config.yaml").read_text()
    comments = "\n".join(line.split("#", 1)[1] for line in text.splitlines() if "#" in line)
    files = set(re.findall(r"\b((?:scripts|docs|workflow)/[\w/.-]+\.(?:py|md|yaml))", comments))
    assert {"scripts/nst/catalog.py", "scripts/nst/settings.py"} <= files
    for name in files:
        assert (REPO / name).is_file(), f"config.yaml names {name}, which does not exist"
    for symbol, name in re.findall(r"\(([A-Z][A-Za-z_]+)(?: in |, )([\w/.]+\.py)\)", comments):
        assert re.search(rf"^(class |def )?{symbol}\b", (REPO / name).read_text(), re.M), (
            f"config.yaml says {symbol} is in {name}"
        )
