"""File names up to the file system's limit (255 bytes, multi-byte UTF-8 included):
every path made from them (images, records, style caches, atomic_write's temporaries,
thumbnails) fits, keys stay unique and stable, and the full names are what the
summary and the gallery show."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_snakemake, tiny_workflow, write_image
from nst.catalog import network
from nst.io import KEY_BYTES, NAME_MAX, atomic_write, fitting_key, remove_stale_parts
from nst.pairs import image_keys, read_sheet, style_key
from nst.plan import make_plan
from nst.settings import PairSettings
from nst.tsv import read_rows

# 244, 255, 255 and 255 bytes; the stems of the last two differ only in case.
LONG = ["é" * 120 + ".png", "x" * 251 + ".png", "A" * 251 + ".png", "a" * 251 + ".jpg"]


def size(text: str) -> int:
    return len(text.encode("utf-8"))


def test_a_key_that_fits_is_short_whole_characters_and_stable():
    assert fitting_key("photo 1") == "photo 1"
    assert fitting_key("x" * KEY_BYTES) == "x" * KEY_BYTES  # at the limit: unchanged
    key = fitting_key("é" * 120)  # 240 bytes
    assert size(key) <= KEY_BYTES and key.startswith("é" * 80)
    assert key.encode("utf-8").decode("utf-8") == key  # no character cut in half
    assert fitting_key("é" * 120) == key  # the same name, the same key, in every run
    # Names that differ only after the cut still get different keys.
    assert fitting_key("x" * 300 + "1") != fitting_key("x" * 300 + "2")
    assert size(fitting_key("€" * 100, 50)) <= 50


def test_long_names_get_unique_keys_that_fit_every_file_made_from_them(tmp_path):
    paths = [tmp_path / name for name in [*LONG, "short.png"]]
    keys = image_keys(paths)
    assert keys[paths[-1]] == "short"
    folded = {key.casefold() for key in keys.values()}
    assert len(folded) == len(paths)  # unique even on a case-insensitive file system
    for key in keys.values():
        assert size(key) <= KEY_BYTES
        assert "/" not in key
        for suffix in (".png", ".json", ".safetensors", ".webp"):
            assert size(f".{key}{suffix}.abcdefgh.part") <= NAME_MAX
    assert image_keys(reversed(paths)) == keys  # stable whatever the listing order


def test_a_blend_of_long_styles_has_a_key_that_fits(tmp_path):
    content, style = tmp_path / "content", tmp_path / "style"
    write_image(content / LONG[0])
    for name in LONG[1:3]:
        write_image(style / name)
    sheet = tmp_path / "pairs.tsv"
    sheet.write_text(
        f"content\tstyle\n{LONG[0]}\t{LONG[1]}:0.5+{LONG[2]}:0.5\n"
        f"{LONG[0]}\t{LONG[1]}:0.3+{LONG[2]}:0.7\n"
    )
    keys = image_keys([style / LONG[1], style / LONG[2]])
    blends = [style_key(pair.styles, keys) for pair in read_sheet(sheet, content, style)]
    assert all(size(key) <= KEY_BYTES for key in blends)
    assert len({*blends, *keys.values()}) == 4  # neither blend takes a single style's key


def test_plan_paths_are_bounded_and_keep_the_full_names(tmp_path):
    content, style = tmp_path / "content", tmp_path / "style"
    for name in LONG:
        write_image(content / name)
    for name in LONG[:2]:
        write_image(style / name.replace(".png", ".jpg"))
    results = tmp_path / "results"
    config = {
        "content_dir": str(content),
        "style_dir": str(style),
        "results": str(results),
        "pairs": None,
    }
    accepted = {path: (64, 48) for path in [*content.iterdir(), *style.iterdir()]}
    defaults = yaml.safe_load((REPO / "config.yaml").read_text())
    settings = PairSettings.from_config(defaults, network("vgg19"), "w.bin")
    plan = make_plan(config, accepted, 4, settings.size)
    assert len(plan.pairs) == len(LONG) * 2
    assert {p["content_name"] for p in plan.pairs.values()} == set(LONG)
    for pair in plan.pairs.values():
        for path in (pair["output"], pair["record"]):
            relative = Path(path).relative_to(results)
            assert all(size(part) <= NAME_MAX for part in relative.parts)
            # Bounded whatever the input names: PATH_MAX holds for any results folder
            # shorter than 4096 - this.
            assert size(str(relative)) <= 2 * KEY_BYTES + len("stylized//.json")
        for _, cache, _ in pair["styles"]:
            assert size(Path(cache).name) <= NAME_MAX


def _die_while_writing(path: str) -> None:
    with atomic_write(path) as handle:
        handle.write(b"half an image")
        handle.flush()
        os._exit(9)  # killed: no clean-up runs


def test_atomic_write_and_its_clean_up_work_at_the_longest_name(tmp_path):
    longest = tmp_path / ("é" * 125 + "x.png")  # 255 bytes
    neighbour = tmp_path / ("é" * 125 + "y.png")  # shares the first 250 bytes
    with atomic_write(longest) as handle:
        handle.write(b"done")
    assert longest.read_bytes() == b"done"
    context = multiprocessing.get_context("fork")
    left = {}  # final path -> the temporary its killed writer left
    for path in (longest, neighbour):
        before = set(tmp_path.iterdir())
        writer = context.Process(target=_die_while_writing, args=(str(path),))
        writer.start()
        writer.join()
        assert writer.exitcode == 9
        (left[path],) = set(tmp_path.iterdir()) - before
        assert left[path].name.endswith(".part") and size(left[path].name) <= NAME_MAX
    assert remove_stale_parts([longest]) == 1  # only its own temporary, not the neighbour's
    assert not left[longest].exists() and left[neighbour].exists()
    assert remove_stale_parts([neighbour]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [longest.name]
    assert longest.read_bytes() == b"done"


@pytest.mark.slow
def test_the_workflow_runs_over_names_of_255_bytes(tmp_path, vgg19_file):
    tiny_workflow(tmp_path, vgg19_file, contents=1, styles=1, steps=2, shard_size=64)
    for n, name in enumerate(LONG[:2]):
        write_image(tmp_path / "in" / "content" / name, 30, 40, seed=20 + n)
    long_style = "ü" * 125 + "s.jpg"  # 255 bytes
    write_image(tmp_path / "in" / "style" / long_style, 40, 40, seed=30)
    run_snakemake(tmp_path)

    results = tmp_path / "results"
    rows = read_rows(results / "summary.tsv")
    assert len(rows) == 3 * 2 and {r["status"] for r in rows} == {"ok"}
    assert {r["content"] for r in rows} == {"photo 0.png", *LONG[:2]}
    assert {r["style"] for r in rows} == {"style0.jpg", long_style}
    assert all(Path(tmp_path / r["output"]).is_file() for r in rows)
    for path in results.rglob("*"):
        assert size(path.name) <= NAME_MAX
        assert not path.name.endswith(".part")
    index = (results / "gallery" / "index.html").read_text(encoding="utf-8")
    assert all(name in index for name in [*LONG[:2], long_style])
    thumbs = list((results / "gallery" / "assets" / "thumbs").rglob("*.webp"))
    assert len(thumbs) == 3 + 2 + 6  # contents, styles, pairs
