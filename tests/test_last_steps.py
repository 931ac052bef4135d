"""Faults of the last steps: Snakemake or the job killed (SIGKILL) while the summary or
the gallery is being written, and a full disk there.  No partial file is ever at a
final path, and the next run completes them."""

import errno
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from test_gallery import CONTENTS, STYLES, build, make_results

from conftest import (
    ONE_THREAD,
    REPO,
    run_snakemake,
    small_disk,
    snakemake_command,
    tiny_workflow,
)
from nst.gallery import GalleryError
from nst.summary import SummaryError, write_summary

HOOK = REPO / "tests" / "faults"


def parts(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".part")]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, vgg19_file):
    """A finished tiny run (2 contents x 1 style); each test works on a copy."""
    workdir = tiny_workflow(
        tmp_path_factory.mktemp("run"), vgg19_file, contents=2, styles=1, steps=2
    )
    run_snakemake(workdir)
    return workdir


@pytest.mark.slow
@pytest.mark.parametrize("target", ["summary.tsv", "index.html"])
@pytest.mark.parametrize("who", ["job", "snakemake"])
def test_a_kill_while_writing_the_last_steps_leaves_no_partial_file(
    finished, tmp_path, target, who
):
    workdir = tmp_path / "run"
    shutil.copytree(finished, workdir, symlinks=True)
    results = workdir / "results"
    final = results / target if target == "summary.tsv" else results / "gallery" / target
    rule = "summary" if target == "summary.tsv" else "gallery"
    command = snakemake_command(workdir, "--cores", "1", "--forcerun", rule)
    env = {**ONE_THREAD, "PYTHONPATH": str(HOOK), "NST_KILL_WRITING": target}
    if who == "snakemake":  # the hook kills the process group that Snakemake leads
        command = ["/bin/sh", "-c", 'NST_KILL_GROUP=$$ exec "$@"', "sh", *command]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    output, _ = process.communicate(timeout=300)
    if who == "snakemake":
        assert process.returncode == -9, output  # Snakemake itself was killed
    else:
        assert process.returncode != 0 and "Error in rule " + rule in output, output
    # What is at the final path is a complete file or nothing; the temporary is all
    # that is left of the write.
    assert not final.exists() or final.read_text().strip()
    assert parts(results), "the kill should land while the file is being written"

    if who == "snakemake":
        run_snakemake(workdir, "--unlock")
    run_snakemake(workdir)
    summary = pd.read_csv(results / "summary.tsv", sep="\t")
    assert len(summary) == 2 and set(summary.status) == {"ok"}
    index = (results / "gallery" / "index.html").read_text(encoding="utf-8")
    assert index.rstrip().endswith("</html>") and "photo 1.png" in index
    assert not parts(results)  # the next run removed the leftovers


def test_a_full_disk_while_writing_the_summary_is_a_clear_error(tmp_path):
    manifest = tmp_path / "shard.tsv"
    make_results(tmp_path, CONTENTS, STYLES)
    shutil.copy(tmp_path / "results" / "summary.tsv", manifest)
    with small_disk(tmp_path / "disk", free=0) as disk:
        with pytest.raises(SummaryError, match="disk full while writing .*: free some space"):
            write_summary([manifest], disk / "summary.tsv", disk / "failed.tsv", log=print)
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]  # nothing half-written
        (disk / "filler").unlink()  # space freed: the next run completes it
        write_summary([manifest], disk / "summary.tsv", disk / "failed.tsv", log=print)
        assert len(pd.read_csv(disk / "summary.tsv", sep="\t")) == 6


def test_a_full_disk_while_writing_the_gallery_is_a_clear_error(tmp_path):
    make_results(tmp_path, CONTENTS, STYLES)
    gallery = tmp_path / "results" / "gallery"
    with small_disk(gallery, free=40 * 1024, size=4 << 20) as disk:
        with pytest.raises(GalleryError, match="disk full while writing the gallery"):
            build(tmp_path)
        assert not parts(disk)
        for page in disk.glob("*.html"):  # pages written before the disk filled are whole
            assert page.read_text(encoding="utf-8").rstrip().endswith("</html>")
        (disk / "filler").unlink()
        report = build(tmp_path)
        assert len(report.collection.cells) == 6 and (disk / "index.html").is_file()
        assert (disk / "review.html").is_file() and not parts(disk)


def test_a_full_disk_is_told_apart_from_a_file_that_cannot_be_read():
    from nst.gallery.cache import _call

    def full(source, target, recipe):
        raise OSError(errno.ENOSPC, "No space left on device")

    def broken(source, target, recipe):
        raise OSError(errno.EIO, "Input/output error")

    assert "Input/output error" in _call((broken, "a.png", "t", "r"))[1]
    with pytest.raises(OSError, match="No space left"):
        _call((full, "a.png", "t", "r"))
