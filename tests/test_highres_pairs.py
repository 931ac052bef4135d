"""Highres pairs through the pair job (nst.shard): a whole-image stage at the base size,
then tiled refinement up to `size`, with the guarantees of any pair (reruns, resume,
determinism, results recorded per stage)."""

import json
from dataclasses import replace

import pytest
import torch
import yaml

from conftest import REPO, VGG19_TV, runner, write_image
from nst import style_targets
from nst.backbones import build_backbone
from nst.images import load_image
from nst.losses import gram_matrix
from nst.plan import Pair
from nst.settings import PairSettings


@pytest.fixture
def highres_setup(tmp_path, vgg19_file):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(size=96, steps=4, weights={"vgg19": {"source": "torchvision"}})
    config["highres"].update(enabled=True, base_size=48, tile=64, overlap=16, steps=3)
    settings = PairSettings.from_config(config, VGG19_TV, vgg19_file.name)
    assert settings.stages == ((48, 4),) and settings.refinement_sizes == (96,)
    targets = settings.style_targets()
    net = build_backbone(VGG19_TV, vgg19_file, targets.style_layers)
    style = write_image(tmp_path / "style" / "s.png", 64, 64, seed=9)
    cache = tmp_path / "cache" / "s.safetensors"
    grams = style_targets.compute(
        net, style, targets.style_layers, targets.style_sizes, torch.device("cpu")
    )
    style_targets.write(cache, grams, targets, style)

    def pair(i: int, folder: str = "out") -> Pair:
        content = write_image(tmp_path / "content" / f"c{i}.png", 60, 80, seed=i)
        return Pair(
            key=f"s/c{i}",
            content_name=content.name,
            style_name="s.png",
            content=str(content),
            styles=((str(style), str(cache), 1.0),),
            output=str(tmp_path / folder / f"c{i}.png"),
            record=str(tmp_path / folder / f"c{i}.json"),
            overrides={},
        )

    return settings, pair, vgg19_file


def test_a_highres_pair_is_refined_in_tiles_and_reruns_as_any_pair(highres_setup):
    settings, pair, weights = highres_setup
    lines = []
    report = runner(settings, weights, lines=lines).run([pair(0)])
    row = report.rows[0]
    assert report.ok == 1 and row.status == "ok", row.message
    assert load_image(pair(0).output).shape == (3, 72, 96)
    assert (row.width, row.height, row.steps) == (96, 72, 4 + 3)
    assert row.total_loss < row.initial_loss
    record = json.loads(open(pair(0).record).read())
    sizes = [r[0] for r in record["history"]["rows"]]
    assert sizes == [48] * 4 + [96] * 3  # the curve holds every stage and scale
    assert any("stage 2/2 at 96x72, tiles of 64 px" in line for line in lines)
    assert sum("step 3/3" in line for line in lines) == 1

    again = runner(settings, weights).run([pair(0), pair(1)])
    assert (again.reused, again.ok) == (1, 1)  # a finished print is kept, not redone
    runner(settings, weights).run([pair(0, "other")])  # deterministic for its seed
    assert open(pair(0).output, "rb").read() == open(pair(0, "other").output, "rb").read()
    more = replace(settings, highres=replace(settings.highres, steps=4))
    assert runner(more, weights).run([pair(0)]).reused == 0  # a refinement setting redoes it


def test_large_style_targets_are_the_untiled_grams(vgg19_file, tmp_path, monkeypatch):
    """Above STYLE_UNTILED_MAX the style's Grams come a tile at a time: the same numbers."""
    layers = ("conv1_1", "conv3_1", "conv5_1")
    net = build_backbone(VGG19_TV, vgg19_file, layers)
    style = write_image(tmp_path / "s.png", 200, 260, seed=3)
    untiled = style_targets.compute(net, style, layers, [256], torch.device("cpu"))
    monkeypatch.setattr(style_targets, "STYLE_UNTILED_MAX", 128)
    monkeypatch.setattr(style_targets, "STYLE_TILE", 128)
    monkeypatch.setattr(style_targets, "STYLE_TILE_OVERLAP", 64)
    tiled = style_targets.compute(net, style, layers, [256], torch.device("cpu"))
    image = load_image(style, 256)[None]
    with torch.no_grad():
        direct = {k: gram_matrix(v)[0] for k, v in net(image, list(layers)).items()}
    for layer in layers:
        torch.testing.assert_close(untiled[f"256/{layer}"], direct[layer])
        # conv5_1 sees further than 32 px of context: close, not exact.
        tolerance = 0.05 if layer == "conv5_1" else 1e-4
        error = (tiled[f"256/{layer}"] - direct[layer]).norm() / direct[layer].norm()
        assert error < tolerance, (layer, float(error))
