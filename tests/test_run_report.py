"""The end-of-run report (nst.run_report): what the console says last, and the same on
the gallery's front page."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
from test_gallery import build, make_results

from nst.gallery import RunTables
from nst.run_report import IGNORED, RunFiles, console_lines, read_outcome

REJECTED = [  # path, role, reason, action, as validate_inputs writes them
    ("in/content/notes.txt", "content", "not an image", "remove it"),
    ("in/content/broken.jpg", "content", "truncated", "export it again"),
    ("in/style/tiny.png", "style", "too small", "use a larger image"),
    ("in/content/x.gif", "content", "truncated", "export it again"),
    ("in/content/.DS_Store", "content", "hidden file", IGNORED),
]


def write_rejected(results: Path, rows=REJECTED) -> Path:
    path = results / "inputs" / "rejected.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["path", "role", "reason", "action"]).to_csv(
        path, sep="\t", index=False
    )
    return path


def run_files(results: Path) -> RunFiles:
    return RunFiles(
        summary=results / "summary.tsv",
        failed=results / "failed.tsv",
        rejected=results / "inputs" / "rejected.tsv",
        gallery=results / "gallery" / "index.html",
    )


def test_the_outcome_counts_pairs_and_names_the_rejected_files(tmp_path):
    results = make_results(
        tmp_path, ["a.png", "b.png"], ["s.jpg", "t.jpg"], failed=[("s.jpg", "b.png")]
    )
    write_rejected(results)
    outcome = read_outcome(results / "summary.tsv", results / "inputs" / "rejected.tsv")
    assert (outcome.ok, outcome.failed, outcome.ignored) == (3, 1, 1)
    assert outcome.rejected == ("notes.txt", "broken.jpg", "tiny.png", "x.gif")
    assert outcome.rejected_names() == "notes.txt, broken.jpg, tiny.png and 1 more"
    empty = read_outcome(tmp_path / "none.tsv", tmp_path / "none.tsv")
    assert (empty.ok, empty.failed, empty.rejected, empty.ignored) == (None, None, None, 0)


def test_the_console_says_what_was_made_and_what_needs_a_look_last(tmp_path):
    results = make_results(tmp_path, ["a.png", "b.png"], ["s.jpg"], failed=[("s.jpg", "b.png")])
    write_rejected(results)
    gallery = results / "gallery" / "index.html"
    gallery.parent.mkdir()
    gallery.write_text("<html>")
    lines = console_lines(run_files(results))
    assert [level for level, _ in lines] == ["info", "info", "warning", "warning"]
    text = [line for _, line in lines]
    assert text[0] == "Pairs: 1 ok, 1 failed"
    assert text[1] == f"Gallery: {gallery} ({gallery.resolve().as_uri()})"
    assert text[2].startswith(f"1 pair(s) failed: {results / 'failed.tsv'} says why")
    assert text[3] == (
        "4 input file(s) rejected and skipped (notes.txt, broken.jpg, tiny.png and 1 more): "
        f"{results / 'inputs' / 'rejected.tsv'} says why and what to do "
        "(1 hidden or system file(s) ignored)"
    )

    write_rejected(results, REJECTED[-1:])  # only a hidden file: nothing to look at
    make_results(tmp_path, ["a.png", "b.png"], ["s.jpg"])
    lines = console_lines(run_files(results))
    assert {level for level, _ in lines} == {"info"}
    assert [line for _, line in lines][
        1
    ] == "Inputs: none rejected (1 hidden or system file(s) ignored)"


def test_after_an_error_an_earlier_runs_summary_and_gallery_are_called_so(tmp_path):
    results = make_results(tmp_path, ["a.png"], ["s.jpg"])
    write_rejected(results, [])
    gallery = results / "gallery" / "index.html"
    gallery.parent.mkdir()
    gallery.write_text("<html>")
    hour_ago = time.time() - 3600
    for path in (results / "summary.tsv", gallery):
        os.utime(path, (hour_ago, hour_ago))
    text = [line for _, line in console_lines(run_files(results), started=time.time() - 60)]
    assert text[0].startswith("The run stopped with errors")
    assert text[1] == (
        f"Pairs: not summarised in this run (an earlier run's {results / 'summary.tsv'}: "
        "1 ok, 0 failed)"
    )
    assert text[2] == "Inputs: none rejected"
    assert text[3].startswith(f"Gallery (an earlier run's): {gallery}")
    # Stopped before this run's validation finished (strict: true, say): the rejected
    # files listed are the last validation's.
    (results / "summary.tsv").unlink()
    gallery.unlink()
    write_rejected(results, REJECTED[:1])
    text = [line for _, line in console_lines(run_files(results), started=time.time() + 1)]
    assert text[1] == "Pairs: none summarised yet"
    assert text[2].endswith("says why and what to do (as an earlier run's validation found)")
    (results / "inputs" / "rejected.tsv").unlink()
    text = [line for _, line in console_lines(run_files(results), started=time.time())]
    assert text[1:] == ["Pairs: none summarised yet", "Inputs: not validated yet"]


def test_the_gallery_front_page_says_the_same_with_links(tmp_path):
    results = make_results(
        tmp_path, [f"p{n}.png" for n in range(4)], ["s.jpg"], failed=[("s.jpg", "p1.png")]
    )
    write_rejected(results)
    failed = results / "failed.tsv"
    failed.write_text("pair\tcontent\tstyle\tstatus\tmessage\n")
    run = RunTables(failed="results/failed.tsv", rejected="results/inputs/rejected.tsv")
    build(tmp_path, rows_per_page=2, run=run)
    front = (results / "gallery" / "index.html").read_text(encoding="utf-8")
    assert '3 pairs ok, 1 failed: <a href="../failed.tsv">failed.tsv</a> says why' in front
    assert (
        "4 input file(s) rejected and skipped\n(notes.txt, broken.jpg, tiny.png and 1 more): "
        '<a href="../inputs/rejected.tsv">rejected.tsv</a> says why and what to do'
    ) in front
    assert "(1 hidden or system file(s) ignored)" in front
    assert "rejected and skipped" not in (results / "gallery" / "page-2.html").read_text()
