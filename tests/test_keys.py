"""Output names that no other file can take or change (nst.keys): a style file whose name
reads as a blend and the blend itself never share a pair id, and adding or removing
files renames nothing that was made, whatever order the files arrive in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import planned, run_snakemake, tiny_workflow, write_image
from nst.keys import KeyBook, key_book_path
from nst.pairs import folded
from nst.plan import make_plan

BLEND = "a.png:0.5+b.png:0.5"
LOOKALIKE = "a@0.5+b@0.5.png"  # a style file named as the blend's key reads


def collection(root: Path, contents: list[str], styles: list[str], sheet: list[str] | None):
    """Files in root/content and root/style, and a config for make_plan (with a sheet of
    `content<TAB>style` rows when `sheet` is given)."""
    for i, name in enumerate(contents):
        if not (root / "content" / name).exists():
            write_image(root / "content" / name, seed=i)
    for i, name in enumerate(styles):
        if not (root / "style" / name).exists():
            write_image(root / "style" / name, seed=10 + i)
    config = {
        "content_dir": str(root / "content"),
        "style_dir": str(root / "style"),
        "results": str(root / "results"),
        "pairs": "",
    }
    if sheet is not None:
        (root / "pairs.tsv").write_text("content\tstyle\n" + "".join(f"{r}\n" for r in sheet))
        config["pairs"] = str(root / "pairs.tsv")
    return config


def plan_keys(config: dict, book: KeyBook) -> dict[str, tuple[str, str]]:
    """Pair id -> (content name, style name) of a plan made with `book`."""
    folders = [Path(config["content_dir"]), Path(config["style_dir"])]
    accepted = {path: (64, 48) for folder in folders for path in folder.iterdir()}
    plan = make_plan(config, accepted, 8, 64, book)
    pairs = {key: (pair["content_name"], pair["style_name"]) for key, pair in plan.pairs.items()}
    assert len({folded(pair["output"]) for pair in plan.pairs.values()}) == len(pairs)
    return pairs


def test_a_style_file_named_like_a_blend_keeps_apart_from_it_file_first(tmp_path):
    book = KeyBook()
    config = collection(tmp_path, ["cat.png"], ["a.png", "b.png", LOOKALIKE], None)
    assert plan_keys(config, book)["a@0.5+b@0.5/cat"] == ("cat.png", LOOKALIKE)
    config = collection(tmp_path, ["cat.png"], [], [f"cat.png\t{BLEND}", f"cat.png\t{LOOKALIKE}"])
    assert plan_keys(config, book) == {
        "a@0.5+b@0.5/cat": ("cat.png", LOOKALIKE),  # kept: its results stay its own
        "a@0.5+b@0.5_blend/cat": ("cat.png", BLEND),
    }


def test_a_style_file_named_like_a_blend_keeps_apart_from_it_blend_first(tmp_path):
    book = KeyBook()
    config = collection(tmp_path, ["cat.png"], ["a.png", "b.png"], [f"cat.png\t{BLEND}"])
    assert plan_keys(config, book) == {"a@0.5+b@0.5/cat": ("cat.png", BLEND)}
    config = collection(
        tmp_path, ["cat.png"], [LOOKALIKE], [f"cat.png\t{BLEND}", f"cat.png\t{LOOKALIKE}"]
    )
    assert plan_keys(config, book) == {
        "a@0.5+b@0.5/cat": ("cat.png", BLEND),  # kept
        "a@0.5+b@0.5_png/cat": ("cat.png", LOOKALIKE),
    }


def test_both_at_once_get_distinct_ids(tmp_path):
    rows = [f"cat.png\t{BLEND}", f"cat.png\t{LOOKALIKE}"]
    config = collection(tmp_path, ["cat.png"], ["a.png", "b.png", LOOKALIKE], rows)
    assert set(plan_keys(config, KeyBook())) == {"a@0.5+b@0.5/cat", "a@0.5+b@0.5_blend/cat"}


@pytest.mark.parametrize("first, second", [("x.png", "x.jpg"), ("x.jpg", "x.png")])
def test_a_file_added_beside_one_of_the_same_stem_renames_nothing(tmp_path, first, second):
    book = KeyBook()
    config = collection(tmp_path, [first, "y.png"], ["s.png"], None)
    before = plan_keys(config, book)
    assert before["s/x"] == (first, "s.png")
    collection(tmp_path, [second], [], None)
    after = plan_keys(config, book)
    assert {k: after[k] for k in before} == before  # every earlier pair keeps its id
    assert after[f"s/x_{Path(second).suffix[1:]}"] == (second, "s.png")
    (tmp_path / "content" / first).unlink()  # and removing one renames the other neither
    assert plan_keys(config, book)[f"s/x_{Path(second).suffix[1:]}"] == (second, "s.png")


def test_keys_live_in_results_and_hand_edited_bad_keys_are_undone(tmp_path):
    path = key_book_path(tmp_path / "results")
    book = KeyBook()
    book.files("content", [Path("x.png"), Path("y.png")])
    book.save(path)
    data = json.loads(Path(path).read_text())
    assert data["content"] == {"x.png": "x", "y.png": "y"}
    data["content"]["y.png"] = "X"  # now x.png and y.png share a key on a case-folding disk
    Path(path).write_text(json.dumps(data))
    again = KeyBook.load(path)  # the first name in sorted order keeps the key
    assert again.files("content", [Path("x.png"), Path("y.png")]) == {
        Path("x.png"): "x",
        Path("y.png"): "y",
    }
    data["content"]["y.png"] = "../../elsewhere"  # not one path component
    Path(path).write_text(json.dumps(data))
    assert KeyBook.load(path).files("content", [Path("y.png")]) == {Path("y.png"): "y"}
    Path(path).write_text("{damaged")
    assert KeyBook.load(path).files("content", [Path("y.png")]) == {Path("y.png"): "y"}


def test_pruned_names_free_their_keys():
    book = KeyBook()
    book.files("content", [Path("x.png")])
    assert book.files("content", [Path("x.jpg")]) == {Path("x.jpg"): "x_jpg"}
    assert book.keep_only("content", {"x.jpg"}) == ["x.png"]
    assert book.files("content", [Path("x.gif")]) == {Path("x.gif"): "x"}


# ---- through the workflow ------------------------------------------------------------


def outputs(workdir: Path) -> dict[Path, int]:
    made = [p for kind in ("stylized", "records") for p in (workdir / "results" / kind).rglob("*")]
    return {p: p.stat().st_mtime_ns for p in made if p.is_file()}


@pytest.mark.slow
def test_the_blend_never_overwrites_the_lookalike_file(tmp_path, vgg19_file):
    """The case reported: a sheet naming both gave one summary row, and with the blend alone
    the blend overwrote the file's result."""
    tiny_workflow(tmp_path, vgg19_file, contents=1, styles=0, steps=2, shard_size=64)
    for i, name in enumerate(["a.png", "b.png", LOOKALIKE]):
        write_image(tmp_path / "in" / "style" / name, 40, 40, seed=10 + i)
    run_snakemake(tmp_path)  # every content x style, the lookalike among them
    made = outputs(tmp_path)
    lookalike = tmp_path / "results" / "stylized" / "a@0.5+b@0.5" / "photo 0.png"
    assert lookalike in made

    (tmp_path / "pairs.tsv").write_text(
        f"content\tstyle\nphoto 0.png\t{BLEND}\nphoto 0.png\t{LOOKALIKE}\n"
    )
    run_snakemake(tmp_path, "--config", "pairs=pairs.tsv")
    summary = (tmp_path / "results" / "summary.tsv").read_text().splitlines()
    assert len(summary) == 3, summary  # the header and both pairs
    assert outputs(tmp_path)[lookalike] == made[lookalike]  # neither redone nor overwritten
    assert (tmp_path / "results" / "stylized" / "a@0.5+b@0.5_blend" / "photo 0.png").is_file()


@pytest.mark.slow
def test_adding_x_jpg_beside_a_finished_x_png_makes_only_its_pairs(tmp_path, vgg19_file):
    tiny_workflow(tmp_path, vgg19_file, contents=2, styles=1, steps=2, shard_size=64)
    run_snakemake(tmp_path)
    made = outputs(tmp_path)
    write_image(tmp_path / "in" / "content" / "photo 0.jpg", 30, 40, seed=9)
    run_snakemake(tmp_path, "--until", "plan_shards")
    assert planned(tmp_path)["stylize_shard"] == 1
    run_snakemake(tmp_path)
    after = outputs(tmp_path)
    assert {p: after[p] for p in made} == made  # nothing renamed, nothing redone
    new = set(after) - set(made)
    assert {p.relative_to(tmp_path / "results").as_posix() for p in new} == {
        "stylized/style0/photo 0_jpg.png",
        "records/style0/photo 0_jpg.json",
    }
    log = next((tmp_path / "logs" / "stylize").glob("*.log")).read_text()
    assert "3 pairs: 2 already done, 1 to run" in log


def test_a_masked_pair_keeps_its_folder_when_a_style_file_named_like_it_arrives(tmp_path):
    from PIL import Image

    (tmp_path / "masks").mkdir()
    Image.new("RGB", (64, 48), "white").save(tmp_path / "masks" / "m.png")
    book = KeyBook()
    row = "cat.png\tm.png\twhite=s.png; black=none"
    config = collection(tmp_path, ["cat.png"], ["s.png"], [])
    (tmp_path / "pairs.tsv").write_text(f"content\tmask\tstyle\n{row}\n")
    config.update(pairs=str(tmp_path / "pairs.tsv"), mask_dir=str(tmp_path / "masks"))
    masked = ("cat.png", "m.png: ffffff=s.png:1; 000000=none")
    assert plan_keys(config, book) == {"m@ffffff=s,000000=none/cat": masked}
    lookalike = "m@ffffff=s,000000=none.png"
    collection(tmp_path, [], [lookalike], None)
    (tmp_path / "pairs.tsv").write_text(f"content\tmask\tstyle\n{row}\ncat.png\t\t{lookalike}\n")
    assert plan_keys(config, book) == {
        "m@ffffff=s,000000=none/cat": masked,  # kept: its results stay its own
        "m@ffffff=s,000000=none_png/cat": ("cat.png", lookalike),
    }
