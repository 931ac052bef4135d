"""Commands the README offers, run as a user would after a tiny run: `make dry-run`
(what would run, and why) and the gallery redraw from the results as they are.
(`make report` is run by tests/test_gallery.py.)"""

from __future__ import annotations

import pytest

from conftest import planned, run_snakemake, tiny_workflow, update_config

pytestmark = pytest.mark.slow


def test_dry_run_says_what_would_run_and_the_redraw_touches_only_the_gallery(tmp_path, vgg19_file):
    tiny_workflow(tmp_path, vgg19_file, contents=2, styles=1, steps=2, shard_size=64)
    run_snakemake(tmp_path)
    results = tmp_path / "results"
    index = results / "gallery" / "index.html"
    made = {p: p.stat().st_mtime_ns for p in (results / "stylized").rglob("*.png")}
    assert len(made) == 2

    # make dry-run: `snakemake --cores 4 -n`
    assert planned(tmp_path, "--cores", "4") == {}
    update_config(tmp_path, steps=3)  # changes every image: the pairs would run again
    dry = run_snakemake(tmp_path, "--cores", "4", "-n")
    assert planned(tmp_path, "--cores", "4") == {
        "stylize_shard": 1,
        "summary": 1,
        "gallery": 1,
        "all": 1,
    }
    assert "params" in dry.stdout + dry.stderr  # the reason: the settings changed
    assert {p: p.stat().st_mtime_ns for p in made} == made  # a dry run makes nothing

    # The redraw: the gallery from the results as they are, whatever the config says.
    before = index.stat().st_mtime_ns
    redraw = ("gallery", "--allowed-rules", "gallery", "--forcerun", "gallery")
    assert planned(tmp_path, *redraw) == {"gallery": 1}
    run_snakemake(tmp_path, *redraw)
    assert index.stat().st_mtime_ns > before
    assert {p: p.stat().st_mtime_ns for p in made} == made  # no pair was made again
    text = index.read_text(encoding="utf-8")
    assert "photo 0.png" in text and "photo 1.png" in text
