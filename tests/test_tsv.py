r"""The workflow's tables (nst.tsv): one line per row whatever a name holds, so `cut -f`
works, and names read back exactly by the summary, the gallery and pandas."""

from __future__ import annotations

import csv
import os
import subprocess

import pandas as pd

from conftest import write_image
from nst.gallery.model import load_collection
from nst.row import SUMMARY_COLUMNS
from nst.summary import write_summary
from nst.tsv import read_frame, read_rows, write_table

NAMES = [
    "tab\there.png",
    "new\nline.png",
    "carriage\rreturn.png",
    "back\\slash\\n.png",  # a backslash and an n: not a newline
    'it\'s "quoted".png',
    '"starts with a quote".png',
    os.fsdecode(b"caf\xe9.png"),  # not UTF-8 (a rejected file's path)
    "plain.png",
]


def rows():
    return [
        {"pair": f"s/{i}", "content": name, "style": "s.png", "steps": i, "status": "ok"}
        for i, name in enumerate(NAMES)
    ]


def test_every_row_is_one_line_and_cut_gives_each_column(tmp_path):
    path = tmp_path / "t.tsv"
    write_table(path, ["pair", "content", "style", "steps", "status"], rows())
    data = path.read_bytes()
    data.decode("utf-8")  # valid UTF-8, even with the Latin-1 name
    assert data.count(b"\n") == len(NAMES) + 1 and b"\r" not in data
    cut = subprocess.run(["cut", "-f", "2,4", str(path)], capture_output=True, text=True)
    assert cut.stdout.splitlines() == [
        "content\tsteps",
        "tab\\there.png\t0",
        "new\\nline.png\t1",
        "carriage\\rreturn.png\t2",
        "back\\\\slash\\\\n.png\t3",
        'it\'s "quoted".png\t4',
        '"starts with a quote".png\t5',
        "caf\\xe9.png\t6",
        "plain.png\t7",
    ]


def test_names_come_back_exactly(tmp_path):
    path = tmp_path / "t.tsv"
    write_table(path, ["pair", "content", "steps", "message"], rows())
    assert [row["content"] for row in read_rows(path)] == NAMES
    assert read_rows(path)[0] == {"pair": "s/0", "content": NAMES[0], "steps": "0", "message": ""}
    frame = read_frame(path)
    assert list(frame.content) == NAMES and list(frame.steps) == list(range(len(NAMES)))
    assert frame.message.isna().all()
    # Plain pandas, as documented: every row, names with their escapes as written.
    plain = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE)
    assert len(plain) == len(NAMES) and plain.content[1] == "new\\nline.png"


def test_the_summary_and_the_gallery_read_the_names_exactly(tmp_path):
    manifest = tmp_path / "shards" / "a.tsv"
    shard = [
        {**row, "output": str(tmp_path / f"{i}.png"), "message": "two\nlines"}
        for i, row in enumerate(rows())
    ]
    write_table(manifest, SUMMARY_COLUMNS, shard)
    for row in shard:
        write_image(tmp_path / row["output"])
    summary, failed = tmp_path / "summary.tsv", tmp_path / "failed.tsv"
    write_summary([manifest], summary, failed, log=lambda line: None)
    assert sorted(row["content"] for row in read_rows(summary)) == sorted(NAMES)
    assert {row["message"] for row in read_rows(summary)} == {"two\nlines"}
    collection = load_collection(summary, None, tmp_path)
    assert {entry.name for entry in collection.contents} == set(NAMES)
    assert len(collection.cells) == len(NAMES) and all(c.ok for c in collection.cells.values())
