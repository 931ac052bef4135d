"""Results that no current pair owns (a deleted photo's, a replaced style's) are listed
by `snakemake prune --cores 1` and deleted only by `snakemake prune_remove --cores 1`,
as the README's "Resuming" says; what current pairs own is never touched."""

import json

import pytest

from conftest import planned, run_snakemake, tiny_workflow, write_image
from nst.tsv import read_rows

pytestmark = pytest.mark.slow


def files(results):
    return {p: p.stat().st_mtime_ns for p in results.rglob("*") if p.is_file()}


def test_prune_lists_first_and_removes_only_when_asked(tmp_path, vgg19_file):
    tiny_workflow(tmp_path, vgg19_file, contents=2, styles=2, steps=2, shard_size=64)
    run_snakemake(tmp_path)
    (tmp_path / "in" / "content" / "photo 1.png").unlink()  # a photo deleted
    (tmp_path / "in" / "style" / "style1.jpg").unlink()  # a style replaced by another
    write_image(tmp_path / "in" / "style" / "new style.jpg", 40, 40, seed=30)
    run_snakemake(tmp_path)
    results = tmp_path / "results"
    gone = {
        "stylized/style0/photo 1.png",
        "records/style0/photo 1.json",
        *(f"stylized/style1/photo {i}.png" for i in (0, 1)),
        *(f"records/style1/photo {i}.json" for i in (0, 1)),
        "cache/style_targets/style1.safetensors",
    }
    assert all((results / path).is_file() for path in gone)  # left behind by the runs
    before = files(results)

    done = run_snakemake(tmp_path, "prune")
    text = done.stdout + done.stderr
    listed = {
        line.split(" ", 2)[2].removeprefix("results/")
        for line in (tmp_path / "logs" / "prune.log").read_text().splitlines()
    }
    assert gone <= listed, listed
    # The rest of the list: the style set that had style1's cache (now another).
    assert {path.split("/")[1] for path in listed - gone} == {"style_sets"}, listed
    assert f"prune: {len(listed)} file(s) (" in text and "results/stylized/style1/" in text
    assert "`snakemake prune_remove --cores 1` removes them" in text
    assert files(results) == before  # only listed

    summary = read_rows(results / "summary.tsv")
    owned = {row["output"] for row in summary}
    assert not {f"results/{path}" for path in listed} & owned
    run_snakemake(tmp_path, "prune_remove")
    after = files(results)
    assert {p.relative_to(results).as_posix() for p in set(before) - set(after)} == listed
    kept = [p for p in after if p.name != "keys.json"]  # the keys of gone names: forgotten
    assert {p: after[p] for p in kept} == {p: before[p] for p in kept}  # nothing else touched
    assert not (results / "stylized" / "style1").exists()  # emptied folders go too
    keys = json.loads((results / "inputs" / "keys.json").read_text())
    assert "photo 1.png" not in keys["content"] and "style1.jpg" not in keys["style"]
    assert planned(tmp_path) == {}  # what is current is complete: nothing to redo
    done = run_snakemake(tmp_path, "prune")
    assert "prune: 0 file(s) (0.0 MB) no current pair owns" in done.stdout + done.stderr
