"""Masked pairs through the pair job (nst.shard, nst.masks): each half of the photo takes
its own style, a region without one keeps the photo, and the scores are per region."""

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import REPO, VGG19_TV, runner, write_image
from nst import style_targets
from nst.backbones import build_backbone
from nst.images import load_image
from nst.plan import Pair
from nst.quality import Judge
from nst.settings import PairSettings


def stripes(path, size=64):
    """A style with hard, fine, saturated stripes."""
    x = np.arange(size)
    image = np.zeros((size, size, 3), np.uint8)
    image[:, x % 4 < 2] = (255, 0, 0)
    image[:, x % 4 >= 2] = (0, 0, 255)
    Image.fromarray(image).save(path)
    return path


def smooth(path, size=64):
    """A style of soft, pale gradients."""
    y, x = np.mgrid[0:size, 0:size] / size
    image = np.stack([0.8 + 0.1 * x, 0.8 + 0.1 * y, 0.7 + 0.1 * x * y], -1)
    Image.fromarray((image * 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def mask_setup(tmp_path, vgg19_file):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(size=64, steps=40, backbone="vgg19", weights={"vgg19": {"source": "torchvision"}})
    settings = PairSettings.from_config(config, VGG19_TV, vgg19_file.name)
    targets = settings.style_targets()
    net = build_backbone(VGG19_TV, vgg19_file, targets.style_layers)
    (tmp_path / "style").mkdir()
    styles = {}
    for name, make in (("a", stripes), ("b", smooth)):
        path = make(tmp_path / "style" / f"{name}.png")
        cache = tmp_path / "cache" / f"{name}.safetensors"
        grams = style_targets.compute(
            net, path, targets.style_layers, targets.style_sizes, torch.device("cpu")
        )
        style_targets.write(cache, grams, targets, path)
        styles[name] = (str(path), str(cache), 1.0)
    content = write_image(tmp_path / "content" / "c.png", 48, 64, seed=3)
    mask = np.zeros((24, 32, 3), np.uint8)  # half the photo's size: resized to it
    mask[:, :16] = 255
    (tmp_path / "masks").mkdir()
    Image.fromarray(mask).save(tmp_path / "masks" / "halves.png")

    def pair(right: str | None, name: str) -> Pair:
        regions = (("ffffff", (styles["a"],)), ("000000", (styles[right],) if right else ()))
        used = tuple(dict.fromkeys(s for _, blend in regions for s in blend))
        return Pair(
            key=f"m/{name}",
            content_name="c.png",
            style_name=name,
            content=str(content),
            styles=used,
            output=str(tmp_path / "out" / f"{name}.png"),
            record=str(tmp_path / "out" / f"{name}.json"),
            overrides={},
            mask=str(tmp_path / "masks" / "halves.png"),
            regions=regions,
        )

    return settings, vgg19_file, pair, styles, content


def test_each_half_takes_its_own_style_and_a_region_without_one_keeps_the_photo(mask_setup):
    settings, weights, pair, styles, content = mask_setup
    both, one = pair("b", "both"), pair(None, "left-only")
    report = runner(settings, weights).run([both, one])
    rows = {row.pair: row for row in report.rows}
    assert all(row.status == "ok" for row in rows.values()), rows
    assert rows["m/both"].mask == "halves.png"
    assert [r.split("=")[0] for r in rows["m/both"].region_scores.split("; ")] == [
        "ffffff",
        "000000",
    ]
    assert rows["m/left-only"].region_scores.startswith("ffffff=")
    assert "000000" not in rows["m/left-only"].region_scores

    photo = load_image(content, 64)
    result = load_image(both.output)
    left = torch.zeros(48, 64)
    left[:, :32] = 1
    judge = Judge("vgg19")
    size = settings.style_sizes[-1]
    for region, own, other in ((left, "a", "b"), (1 - left, "b", "a")):
        mine = judge.score_pair(result, photo, [(styles[own][0], 1.0)], size, region)
        theirs = judge.score_pair(result, photo, [(styles[other][0], 1.0)], size, region)
        assert mine.style < theirs.style, (own, mine, theirs)

    kept = load_image(one.output)
    changed = (kept - photo).abs()
    assert changed[..., 40:].mean() < 0.5 * changed[..., :24].mean()


def test_a_masked_highres_pair_is_refined_in_tiles_with_its_masks(mask_setup, vgg19_file):
    _, weights, pair, _, _ = mask_setup
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(size=96, steps=4, weights={"vgg19": {"source": "torchvision"}})
    config["highres"].update(enabled=True, base_size=48, tile=64, overlap=16, steps=2)
    settings = PairSettings.from_config(config, VGG19_TV, vgg19_file.name)
    lines = []
    report = runner(settings, weights, lines=lines).run([pair("b", "print")])
    row = report.rows[0]
    assert row.status == "ok", row.message
    assert (row.width, row.height, row.steps) == (96, 72, 4 + 2)
    assert row.region_scores.count("=") == 2
    assert any("tiles of 64 px" in line for line in lines)
