"""Results deleted by hand are made again: planning finds images and records that a
manifest lists as done but that are gone, and reruns only their shards, where only
those pairs are computed.  A pair that failed (no image by design) reruns nothing."""

import pandas as pd
import pytest

from conftest import planned, run_snakemake, tiny_workflow

pytestmark = pytest.mark.slow


def test_a_deleted_result_is_made_again_and_nothing_else(tmp_path, vgg19_file):
    tiny_workflow(tmp_path, vgg19_file, contents=3, styles=2, steps=2, shard_size=64)
    results = tmp_path / "results"
    # One pair fails (a folder where its record must go): it has no image, by design.
    (results / "records" / "style1" / "photo 2.json").mkdir(parents=True)
    run_snakemake(tmp_path)
    assert planned(tmp_path) == {}  # the failed pair's missing files rerun nothing

    image = results / "stylized" / "style0" / "photo 1.png"
    record = results / "records" / "style0" / "photo 1.json"
    kept = {p: p.stat().st_mtime_ns for p in results.glob("records/*/*.json") if p.is_file()}
    image.unlink()
    record.unlink()
    (results / "records" / "style1" / "photo 0.json").unlink()  # a record alone, too
    del kept[record], kept[results / "records" / "style1" / "photo 0.json"]

    dry = run_snakemake(tmp_path, "-n")
    assert "2 result(s) listed as done lack their image or record" in dry.stdout + dry.stderr
    assert planned(tmp_path) == {"stylize_shard": 1, "summary": 1, "gallery": 1, "all": 1}
    run_snakemake(tmp_path)
    assert image.is_file() and record.is_file()
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # the others were not redone
    log = next((tmp_path / "logs" / "stylize").glob("*.log")).read_text()
    assert "6 pairs: 3 already done, 3 to run" in log  # the two gone and the failed one
    summary = pd.read_csv(results / "summary.tsv", sep="\t")
    assert (summary.status == "ok").sum() == 5
    assert planned(tmp_path) == {}  # and then nothing more to do
