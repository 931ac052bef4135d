"""Variants (nst.variants): one collection under several settings, each in its own folder,
sharing style caches and seeds; a sweep is a grid of variants on chosen photos."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import write_image
from nst.keys import KeyBook
from nst.plan import Pair, make_plan, pair_variant, result_paths, write_plan
from nst.prune import remove, unowned
from nst.shard.tasks import pair_seed
from nst.summary import write_summary
from nst.tsv import read_rows, write_table
from nst.variants import (
    VariantError,
    check_contents,
    from_params,
    to_params,
    variants_from_config,
)


def collection(root: Path, sheet: str = "", **config) -> dict:
    """Two photos, two styles, and the plan's config with `config` (variants: as
    params) applied."""
    for i, name in enumerate(["a.png", "b.png"]):
        write_image(root / "content" / name, seed=i)
    for i, name in enumerate(["s.png", "t.png"]):
        write_image(root / "style" / name, seed=10 + i)
    if sheet:
        (root / "pairs.tsv").write_text(sheet)
    return {
        "content_dir": str(root / "content"),
        "style_dir": str(root / "style"),
        "results": str(root / "results"),
        "pairs": str(root / "pairs.tsv") if sheet else "",
        "variants": to_params(variants_from_config(config)),
    }


def plan_of(config: dict):
    folders = [Path(config["content_dir"]), Path(config["style_dir"])]
    accepted = {path: (64, 48) for folder in folders for path in folder.iterdir()}
    return make_plan(config, accepted, 4, 64, KeyBook())


def test_variants_keep_results_apart_and_share_style_caches(tmp_path):
    config = collection(tmp_path, variants={"base": {}, "strong": {"style_weight": 20}})
    pairs = plan_of(config).pairs
    assert len(pairs) == 2 * 2 * 2
    strong = pairs["strong/s/a"]
    assert strong["output"] == f"{tmp_path}/results/variants/strong/stylized/s/a.png"
    assert strong["record"] == f"{tmp_path}/results/variants/strong/records/s/a.json"
    assert strong["overrides"] == {"style_weight": 20.0} and strong["variant"] == "strong"
    assert pairs["base/s/a"]["overrides"] == {}
    # the style targets do not change with a variant: one cache per style for all
    assert pairs["base/s/a"]["styles"] == strong["styles"]
    assert len({p["output"] for p in pairs.values()}) == len(pairs)


def test_without_variants_the_plan_is_as_before(tmp_path):
    config = collection(tmp_path)
    plain = {key: value for key, value in config.items() if key != "variants"}
    assert plan_of(config) == plan_of(plain)
    pair = plan_of(config).pairs["s/a"]
    assert "variant" not in pair
    assert pair["output"] == f"{tmp_path}/results/stylized/s/a.png"


def test_a_variant_overrides_the_sheet_and_keeps_the_pairs_seed(tmp_path):
    sheet = "content\tstyle\tstyle_weight\ttv_weight\na.png\ts.png\t3\t0.5\n"
    config = collection(tmp_path, sheet, variants={"base": {}, "strong": {"style_weight": 20}})
    pairs = plan_of(config).pairs
    assert pairs["base/s/a"]["overrides"] == {"style_weight": 3.0, "tv_weight": 0.5}
    assert pairs["strong/s/a"]["overrides"] == {"style_weight": 20.0, "tv_weight": 0.5}
    settings = SimpleNamespace(seed=7)  # the run seed is all pair_seed reads
    seeds = {pair_seed(settings, Pair.from_dict(pairs[k])) for k in ("base/s/a", "strong/s/a")}
    alone = Pair.from_dict(plan_of(collection(tmp_path / "plain", sheet)).pairs["s/a"])
    assert seeds == {pair_seed(settings, alone)}  # variants differ by their settings only


def test_a_sweep_makes_exactly_its_grid_on_the_chosen_photos(tmp_path):
    sweep = {"contents": ["b.png"], "style_weight": [5, 10], "tv_weight": [0, 1e-5]}
    pairs = plan_of(collection(tmp_path, sweep=sweep)).pairs
    names = {"style_weight=5,tv_weight=0", "style_weight=5,tv_weight=1e-05"}
    names |= {"style_weight=10,tv_weight=0", "style_weight=10,tv_weight=1e-05"}
    assert {pair_variant(key) for key in pairs} == names
    assert {pair["content_name"] for pair in pairs.values()} == {"b.png"}
    assert len(pairs) == 4 * 2  # the grid x the styles, on one photo
    assert pairs["style_weight=10,tv_weight=1e-05/t/b"]["overrides"] == {
        "style_weight": 10.0,
        "tv_weight": 1e-05,
    }


def test_a_variant_may_keep_to_some_photos(tmp_path):
    variants = {"base": {}, "try": {"style_weight": 2, "contents": ["a.png"]}}
    pairs = plan_of(collection(tmp_path, variants=variants)).pairs
    assert sorted(key for key in pairs if key.startswith("try/")) == ["try/s/a", "try/t/a"]


def test_params_round_trip():
    variants = variants_from_config(
        {"variants": {"x": None, "y": {"seed": 3, "contents": ["a.png"]}}}
    )
    assert from_params(to_params(variants)) == variants


@pytest.mark.parametrize(
    "config, says",
    [
        ({"variants": {"fine": {"size": 512}}}, "size cannot change per variant"),
        ({"variants": {"fine": {"size": 512}}}, "with them and another `results:` folder"),
        ({"variants": {"a/b": {}}}, "a variant's name is a folder name"),
        ({"variants": {"x": {"style_weight": "lots"}}}, "style_weight 'lots' is not a number"),
        ({"variants": {"x": {"preserve_color": "red"}}}, "use none, luminance or histogram"),
        ({"variants": {"x": {"contents": "a.png"}}}, "contents is a list of photo file names"),
        ({"sweep": {"style_weight": [5, 10]}}, "sweep: list the photos to try it on"),
        (
            {"variants": {"style_weight=5": {}}, "sweep": {"contents": ["a"], "style_weight": 5}},
            "that variants: names too",
        ),
    ],
)
def test_bad_variants_say_what_to_fix(config, says):
    with pytest.raises(VariantError, match=None) as caught:
        variants_from_config(config)
    assert says in str(caught.value)


def test_photos_a_variant_names_must_exist():
    variants = variants_from_config({"sweep": {"contents": ["gone.png"], "seed": [1]}})
    with pytest.raises(VariantError, match="contents gone.png not in the content folder"):
        check_contents(variants, {"a.png"})


def test_the_summary_has_a_variant_column_only_with_variants(tmp_path):
    def summary(keys: list[str]) -> tuple[list[str], list[dict]]:
        manifest = tmp_path / "m.tsv"
        rows = [{"pair": k, "style": "s", "content": "a", "status": "ok"} for k in keys]
        write_table(manifest, ["pair", "style", "content", "status"], rows)
        write_summary([manifest], tmp_path / "summary.tsv", tmp_path / "failed.tsv", log=print)
        header = (tmp_path / "summary.tsv").read_text().splitlines()[0].split("\t")
        return header, read_rows(tmp_path / "summary.tsv")

    header, _ = summary(["s/a"])
    assert "variant" not in header
    header, rows = summary(["base/s/a", "strong/s/a"])
    assert header[:2] == ["pair", "variant"]
    assert [row["variant"] for row in rows] == ["base", "strong"]


def test_prune_owns_the_variants_results_and_removes_a_dropped_variants(tmp_path):
    config = collection(tmp_path, variants={"base": {}, "strong": {"style_weight": 20}})
    results = config["results"]
    write_plan(plan_of(config), results)
    for key in ("base/s/a", "strong/s/a"):
        for path in result_paths(results, key):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text("x")
    assert unowned(results) == []
    config["variants"] = to_params(variants_from_config({"variants": {"base": {}}}))
    write_plan(plan_of(config), results)
    gone = unowned(results)
    assert gone == sorted(result_paths(results, "strong/s/a"))
    remove(gone, results)
    assert not Path(results, "variants", "strong").exists()
    assert Path(result_paths(results, "base/s/a")[0]).is_file()
