"""The bad-input matrix through the real workflow: one run over a folder holding every
kind of bad file and hostile name at once, then the runs that must stop (strict, empty
folders, a folder of only bad files, a bad pairs sheet) with a clear message."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from PIL import Image
from test_bad_inputs import IGNORED_FILES, NASTY_NAMES, make_bad, symlink, write

from conftest import REPO, planned, run_snakemake, write_config, write_image
from nst.row import SUMMARY_COLUMNS
from nst.tsv import read_rows
from nst.validate import IGNORED

pytestmark = pytest.mark.slow


def configure(workdir: Path, vgg19_file: Path, **changes) -> None:
    write_config(
        workdir,
        **{
            "content_dir": "in/content",
            "style_dir": "in/style",
            "backbone": "vgg19",
            "weights": {"vgg19": {"source": "torchvision", "file": str(vgg19_file)}},
            "size": 32,
            "steps": 2,
            "shard_size": 64,
            "log_every": 1,
            **changes,
        },
    )


def no_pwned(*folders: Path) -> None:
    for folder in folders:
        found = list(folder.glob("**/PWNED"))
        assert not found, f"a file name reached a shell: {found}"


STYLE = "style 'one' $(touch PWNED).jpg"


def test_one_run_over_every_bad_file_and_hostile_name(tmp_path, vgg19_file):
    content, style = tmp_path / "in" / "content", tmp_path / "in" / "style"
    good = [write_image(content / name, 40, 48, seed=i).name for i, name in enumerate(NASTY_NAMES)]
    good.append(symlink(content / "link to holiday.png", "my holiday photo.png").name)
    frames = [Image.new("RGB", (48, 40), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(content / "anim.gif", save_all=True, append_images=frames[1:])
    portrait = Image.new("RGB", (48, 40), (0, 128, 0))
    exif = portrait.getexif()
    exif[0x0112] = 6
    portrait.save(content / "portrait.jpg", exif=exif.tobytes())
    good += ["anim.gif", "portrait.jpg"]
    bad = make_bad(content)
    write_image(content / os.fsdecode(b"caf\xe9.png"))  # a Latin-1 name from an old system
    bad[os.fsdecode(b"caf\xe9.png")] = "not valid UTF-8"  # written as caf\xe9.png
    for name, data in IGNORED_FILES.items():
        write(content / name, data)
    write_image(style / STYLE, 40, 40, seed=20)
    write(style / ".DS_Store", b"\0\0\0\1Bud1")
    # Styles with nothing to transfer: rejected, their pairs never made.
    no_texture = {"dot.png": r"1x1: a style image needs at least 16 px", "flat.jpg": "flat colour"}
    Image.new("RGB", (1, 1), (200, 30, 30)).save(style / "dot.png")
    Image.new("RGB", (64, 48), (30, 90, 200)).save(style / "flat.jpg")
    configure(tmp_path, vgg19_file)

    done = run_snakemake(tmp_path, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    results = tmp_path / "results"

    # Every good file made its pair, each with its own output; every row of the summary
    # is one line of as many cells as columns, whatever the names hold (nst.tsv).
    summary = read_rows(results / "summary.tsv")
    lines = (results / "summary.tsv").read_text(encoding="utf-8").split("\n")
    assert len(lines) == len(summary) + 2 and lines[-1] == ""
    assert {line.count("\t") for line in lines[:-1]} == {len(SUMMARY_COLUMNS) - 1}
    assert "new\\nline.png" in lines[1 + [r["content"] for r in summary].index("new\nline.png")]
    assert sorted(row["content"] for row in summary) == sorted(good)
    assert {row["status"] for row in summary} == {"ok"} and {r["style"] for r in summary} == {STYLE}
    outputs = [row["output"] for row in summary]
    assert len(set(outputs)) == len(good)
    assert len({o.casefold() for o in outputs}) == len(good)  # distinct on any file system
    for output in outputs:
        assert (tmp_path / output).is_file() and (tmp_path / output).stat().st_size > 0

    # Every bad file is named with its reason; hidden and system files are ignored.
    rejected = {
        Path(row["path"]).name: row for row in read_rows(results / "inputs" / "rejected.tsv")
    }
    for name, reason in bad.items():
        assert rejected[name]["role"] == "content"
        assert rejected[name]["action"] and rejected[name]["action"] != IGNORED
        assert re.search(reason, rejected[name]["reason"]), (name, rejected[name])
    for name in IGNORED_FILES:
        assert rejected[name]["action"] == IGNORED
    assert rejected[".DS_Store"]["action"] == IGNORED
    for name, reason in no_texture.items():
        assert rejected[name]["role"] == "style" and re.search(reason, rejected[name]["reason"])
    assert not set(rejected) & set(good)

    # Accepted files: size as displayed, notes on what was done.
    accepted = {
        Path(row["path"]).name: row for row in read_rows(results / "inputs" / "accepted.tsv")
    }
    assert set(accepted) == {*good, STYLE}
    assert accepted["anim.gif"]["note"] == "2 frames: the first is used"
    assert (accepted["portrait.jpg"]["width"], accepted["portrait.jpg"]["height"]) == ("40", "48")
    assert (accepted["a.jpg"]["width"], accepted["a.jpg"]["height"]) == ("48", "40")

    no_pwned(tmp_path, REPO, Path.cwd())


def test_strict_stops_on_a_rejection_but_not_on_ignored_files(tmp_path, vgg19_file):
    write_image(tmp_path / "in" / "content" / "ok.png")
    write_image(tmp_path / "in" / "style" / "ok.png")
    for name, data in IGNORED_FILES.items():
        write(tmp_path / "in" / "content" / name, data)
    configure(tmp_path, vgg19_file, strict=True)
    target = "results/inputs/accepted.tsv"
    done = run_snakemake(tmp_path, target, check=False)
    assert done.returncode == 0, done.stdout + done.stderr  # ignored files are not errors

    make_bad(tmp_path / "in" / "content", ["truncated.jpg", "download.png"])
    done = run_snakemake(tmp_path, target, check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "strict: true and 2 input file(s) were rejected" in output
    assert "in/content/truncated.jpg: the image data is damaged or truncated" in output
    assert "in/content/download.png: not an image Pillow can read: an HTML page" in output
    assert not (tmp_path / target).exists()


def test_a_folder_of_only_bad_files_is_an_error_naming_them(tmp_path, vgg19_file):
    write_image(tmp_path / "in" / "style" / "ok.png")
    make_bad(tmp_path / "in" / "content", ["zero bytes.jpg", "notes.jpg", "drawing.svg"])
    write(tmp_path / "in" / "content" / ".DS_Store", b"\0")
    configure(tmp_path, vgg19_file)
    done = run_snakemake(tmp_path, check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "no usable content image among 4 file(s)" in output
    assert "in/content/zero bytes.jpg: not an image Pillow can read: empty file (0 bytes)" in output
    assert "in/content/notes.jpg: not an image Pillow can read: a text file" in output
    assert "in/content/drawing.svg: SVG is a vector format (render it to PNG first)" in output
    assert "in/content/.DS_Store: hidden file (ignored; nothing to do)" in output
    assert not (tmp_path / "results" / "summary.tsv").exists()


@pytest.mark.parametrize(
    "setup, message",
    [
        ("empty", "the content folder in/content is empty; put content images there"),
        ("missing", "content_dir: in/content does not exist; point content_dir at the folder"),
    ],
    ids=["empty", "missing"],
)
def test_folder_problems_stop_the_dry_run(tmp_path, vgg19_file, setup, message):
    write_image(tmp_path / "in" / "style" / "ok.png")
    if setup == "empty":
        (tmp_path / "in" / "content").mkdir()
        (tmp_path / "in" / "content" / "subfolder").mkdir()  # folders are not inputs
    configure(tmp_path, vgg19_file)
    done = run_snakemake(tmp_path, "-n", check=False)
    assert done.returncode != 0 and message in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()


def test_a_bad_pairs_sheet_stops_the_dry_run_with_every_row_named(tmp_path, vgg19_file):
    for name in ("cat.png", "dog.png"):
        write_image(tmp_path / "in" / "content" / name)
    for name in ("wave.png", "starry.png"):
        write_image(tmp_path / "in" / "style" / name)
    (tmp_path / "pairs.tsv").write_text(
        "content\tstyle\tstyle_weight\n"
        "cat.png\twave.png\t\n"
        "unknown.png\twave.png\t\n"
        "cat.png\twave.png\t\n"
        "dog.png\twave.png:x+starry.png\t\n"
        "dog.png\tstarry.png\tmuch\n"
        "../../etc/passwd\twave.png\t\n"
    )
    configure(tmp_path, vgg19_file, pairs="pairs.tsv")
    done = run_snakemake(tmp_path, "-n", check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "pairs sheet pairs.tsv has problems:" in output
    assert "row 3: in/content/unknown.png does not exist" in output
    assert "row 4: duplicates row 2 (same content and style)" in output
    assert "row 5: blend weight 'x' of 'wave.png' is not a number" in output
    assert "row 6: style_weight 'much' is not a number" in output
    assert "row 7: '../../etc/passwd': give a file name inside in/content" in output
    assert "Traceback" not in done.stderr and "SheetError" not in output
    assert "validate_inputs" not in output  # no job was planned, let alone run
    assert not (tmp_path / "results").exists()


def test_sheet_rows_naming_a_rejected_file_are_skipped_with_a_warning(tmp_path, vgg19_file):
    write_image(tmp_path / "in" / "content" / "cat.png")
    write(tmp_path / "in" / "content" / "notes.png", b"shopping list\n")
    write_image(tmp_path / "in" / "style" / "wave.png")
    (tmp_path / "pairs.tsv").write_text("content\tstyle\ncat.png\twave.png\nnotes.png\twave.png\n")
    configure(tmp_path, vgg19_file, pairs="pairs.tsv")
    run_snakemake(tmp_path, "--until", "plan_shards")
    done = run_snakemake(tmp_path, "-n")
    output = done.stdout + done.stderr
    assert "1 row(s) of pairs.tsv skipped: they name a file listed in " in output
    assert "results/inputs/rejected.tsv (notes.png x wave.png)" in output
    assert planned(tmp_path)["stylize_shard"] == 1
