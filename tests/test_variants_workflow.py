"""Variants, sweeps and the styles table through `snakemake` (nst.variants,
nst.style_settings): results kept side by side, style caches shared, an edited variant
redoes its pairs only, and per-style settings reach the images."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from PIL import Image

from conftest import planned, run_snakemake, tiny_workflow, update_config

pytestmark = pytest.mark.slow


def made(workdir) -> dict:
    """Each result image -> its date."""
    return {
        path.relative_to(workdir / "results"): path.stat().st_mtime_ns
        for path in (workdir / "results").rglob("stylized/*/*.png")
    }


def settings_of(image) -> dict:
    """The settings a result was made with, as its PNG says (nst.results.write_result)."""
    return json.loads(Image.open(image).text["nst:settings"])


def test_two_variants_share_caches_keep_apart_and_rerun_alone(tmp_path, vgg19_file):
    variants = {"base": {}, "strong": {"style_weight": 1e4}}
    workdir = tiny_workflow(tmp_path, vgg19_file, contents=2, variants=variants)
    run_snakemake(workdir)
    results = workdir / "results"
    summary = pd.read_csv(results / "summary.tsv", sep="\t")
    assert len(summary) == 2 * 2 * 2 and set(summary.status) == {"ok"}
    assert sorted(set(summary.variant)) == ["base", "strong"]
    assert not (results / "stylized").exists()  # every result sits in its variant's folder
    for variant in variants:
        assert len(list((results / "variants" / variant / "stylized").rglob("*.png"))) == 4
    assert len(list((results / "cache" / "style_targets").glob("*.safetensors"))) == 2
    strong = results / "variants" / "strong" / "stylized" / "style0" / "photo 0.png"
    assert settings_of(strong)["style_weight"] == 1e4
    assert (results / "gallery" / "compare.html").is_file()

    before = made(workdir)
    update_config(workdir, variants={"base": {}, "strong": {"style_weight": 2e4}})
    assert "style_targets" not in planned(workdir)
    run_snakemake(workdir)
    after = made(workdir)
    changed = {path for path in after if after[path] != before[path]}
    assert changed == {path for path in before if path.parts[1] == "strong"}
    assert settings_of(strong)["style_weight"] == 2e4


def test_a_sweep_makes_its_grid_on_the_chosen_photos(tmp_path, vgg19_file):
    sweep = {"contents": ["photo 1.png"], "style_weight": [1e3, 1e4], "tv_weight": [0, 1]}
    workdir = tiny_workflow(tmp_path, vgg19_file, sweep=sweep)
    run_snakemake(workdir)
    summary = pd.read_csv(workdir / "results" / "summary.tsv", sep="\t")
    assert set(summary.content) == {"photo 1.png"}
    assert len(summary) == 4 * 2  # the grid x the styles
    assert set(summary.variant) == {
        f"style_weight={s},tv_weight={t}" for s in (1000.0, 10000.0) for t in (0, 1)
    }


def test_the_styles_table_reaches_its_pairs_and_the_sheet_overrides_it(tmp_path, vgg19_file):
    workdir = tiny_workflow(tmp_path, vgg19_file, contents=2, styles=2)
    (workdir / "styles.tsv").write_text("style\tstyle_weight\nstyle0.jpg\t1234\n")
    (workdir / "pairs.tsv").write_text(
        "content\tstyle\tstyle_weight\n"
        "photo 0.png\tstyle0.jpg\t\n"
        "photo 1.png\tstyle0.jpg\t99\n"
        "photo 0.png\tstyle1.jpg\t\n"
    )
    update_config(workdir, pairs="pairs.tsv", style_settings="styles.tsv")
    run_snakemake(workdir)
    stylized = workdir / "results" / "stylized"
    weights = {
        name: settings_of(stylized / name)["style_weight"]
        for name in ("style0/photo 0.png", "style0/photo 1.png", "style1/photo 0.png")
    }
    assert weights["style0/photo 0.png"] == 1234.0
    assert weights["style0/photo 1.png"] == 99.0  # the sheet's own value wins
    assert weights["style1/photo 0.png"] not in (1234.0, 99.0)

    # A new weight in the table redoes that style's pairs that take it, nothing else.
    before = made(workdir)
    (workdir / "styles.tsv").write_text("style\tstyle_weight\nstyle0.jpg\t4321\n")
    run_snakemake(workdir)
    after = made(workdir)
    assert {p for p in after if after[p] != before[p]} == {
        p for p in before if p.as_posix() == "stylized/style0/photo 0.png"
    }

    (workdir / "styles.tsv").write_text("style\tstyle_weight\nnope.jpg\tx\n")
    failed = run_snakemake(workdir, check=False)
    assert failed.returncode != 0
    assert "nope.jpg" in failed.stderr + failed.stdout
