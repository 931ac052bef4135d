"""A pair that fails inside its job, through the real workflow: the run goes on, ends
with exit status 0, a summary and a gallery that show the failure, and a warning that
says how many pairs failed and where to read why."""

import re

import pytest

from conftest import run_snakemake, tiny_workflow
from nst.tsv import read_rows

pytestmark = pytest.mark.slow


def test_a_pair_that_fails_in_its_job_is_listed_and_the_run_completes(tmp_path, vgg19_file):
    tiny_workflow(tmp_path, vgg19_file, contents=2, styles=2, steps=2, shard_size=64)
    # A folder where one pair's record must go: writing it fails (not a full disk).
    (tmp_path / "results" / "records" / "style1" / "photo 0.json").mkdir(parents=True)
    done = run_snakemake(tmp_path)
    output = done.stdout + done.stderr
    assert re.search(r"1 pair\(s\) failed: results/failed.tsv says why", output), output

    results = tmp_path / "results"
    summary = {row["pair"]: row for row in read_rows(results / "summary.tsv")}
    assert len(summary) == 4
    assert [key for key, row in summary.items() if row["status"] != "ok"] == ["style1/photo 0"]
    failed = read_rows(results / "failed.tsv")
    assert [row["pair"] for row in failed] == ["style1/photo 0"]
    assert "writing its image and record failed: IsADirectoryError" in failed[0]["message"]
    assert "run again to retry this pair" in failed[0]["message"]
    assert "1 pair(s) failed" in (tmp_path / "logs" / "summary.log").read_text()

    page = (results / "gallery" / "index.html").read_text(encoding="utf-8")
    assert re.search(r'class="pair failed"[^>]*data-pair="style1/photo 0"', page)
    assert "IsADirectoryError" in page
    review = (results / "gallery" / "review.html").read_text(encoding="utf-8")
    assert "Failed pairs (1)" in review and "style1.jpg × photo 0.png" in review
    for key in ("style0/photo 0", "style0/photo 1", "style1/photo 1"):
        assert (results / "stylized" / f"{key}.png").is_file()
