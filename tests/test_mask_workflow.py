"""Masks from a pairs sheet through the real workflow (snakemake --cores 2)."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import run_snakemake, tiny_workflow, update_config

pytestmark = pytest.mark.slow


def halves(path, left=(255, 255, 255), right=(0, 0, 0), size=(15, 20)):
    array = np.zeros((*size, 3), np.uint8)
    array[:, : size[1] // 2] = left
    array[:, size[1] // 2 :] = right
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def records(workdir):
    return {p: p.stat().st_mtime_ns for p in (workdir / "results" / "records").rglob("*.json")}


def test_masked_pairs_from_a_sheet_and_a_changed_mask_redoes_exactly_its_pairs(
    tmp_path, vgg19_file
):
    workdir = tiny_workflow(tmp_path, vgg19_file, contents=3, styles=2)
    masks = workdir / "in" / "masks"
    halves(masks / "m0.png")  # 20x15: resized to the 40x30 photos
    halves(masks / "m1.png")
    (workdir / "pairs.tsv").write_text(
        "content\tmask\tstyle\n"
        "photo 0.png\tm0.png\twhite=style0.jpg; black=style1.jpg\n"
        "photo 1.png\tm1.png\twhite=style0.jpg; black=none\n"
        "photo 2.png\t\tstyle1.jpg\n"
    )
    update_config(workdir, pairs="pairs.tsv", mask_dir="in/masks")
    run_snakemake(workdir, "--cores", "2")
    summary = pd.read_csv(workdir / "results" / "summary.tsv", sep="\t", keep_default_na=False)
    assert list(summary.status) == ["ok"] * 3
    rows = {row.content: row for row in summary.itertuples()}
    assert rows["photo 0.png"].mask == "m0.png" and rows["photo 2.png"].mask == ""
    assert rows["photo 0.png"].region_scores.count("=") == 2
    assert rows["photo 1.png"].region_scores.startswith("ffffff=")
    assert (workdir / "results" / "stylized" / "m1@ffffff=style0,000000=none").is_dir()
    # The gallery's detail view gets each masked pair's mask (from mask_dir) and photo.
    page = (workdir / "results" / "gallery" / "index.html").read_text(encoding="utf-8")
    views = json.loads(re.search(r'id="pair-data"[^>]*>(.*?)</script>', page, re.S)[1])
    overlays = {pair: view["overlay"] for pair, view in views.items()}
    assert overlays["m1@ffffff=style0,000000=none/photo 1"]["mask"].endswith("in/masks/m1.png")
    assert overlays["style1/photo 2"] is None

    before = records(workdir)
    halves(masks / "m1.png", left=(0, 0, 0), right=(255, 255, 255))  # the other way round
    run_snakemake(workdir, "--cores", "2")
    after = records(workdir)
    changed = [p.parent.name for p in after if after[p] != before[p]]
    assert changed == ["m1@ffffff=style0,000000=none"]

    # A colour of the mask that the sheet does not name stops the run before any job.
    halves(masks / "m0.png", right=(0, 255, 0))
    done = run_snakemake(workdir, "-n", check=False)
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert re.search(r"row 2: \d+% of mask \S*m0.png is colour 00ff00", said), said
