"""The sample images: every file in data/ is the one data/SOURCES.md describes (sha256),
and data/fetch_samples.py makes the paintings again from Debian's gcompris-qt-data."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DATA = Path(__file__).resolve().parent.parent / "data"
BUNDLES = Path("/usr/share/gcompris-qt/rcc")
# A table row of SOURCES.md: the file first, the sha256 of what ships last; painting
# rows also hold the sha256 of the file inside the bundle just before it.
ROW = re.compile(
    r"^\| `(?P<file>[^`]+)` \|.*?(?:`(?P<bundle>[0-9a-f]{64})` \| )?`(?P<sha>[0-9a-f]{64})` \|$"
)


def listed() -> dict[str, re.Match]:
    rows = (ROW.match(line) for line in (DATA / "SOURCES.md").read_text().splitlines())
    return {row["file"]: row for row in rows if row}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_sample_is_listed_with_the_sha256_of_what_ships():
    rows = listed()
    images = {
        str(p.relative_to(DATA))
        for p in DATA.rglob("*")
        if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"}
    }
    assert images == set(rows), "every image in data/ has its row in data/SOURCES.md"
    assert {name for name in rows if name.startswith("style/")} == {
        "style/cafe_terrace_at_night.png",
        "style/church_at_auvers.png",
    }
    for name, row in rows.items():
        assert sha256(DATA / name) == row["sha"], f"data/{name} differs from data/SOURCES.md"


@pytest.mark.skipif(not BUNDLES.is_dir(), reason="gcompris-qt-data is not installed")
def test_fetch_samples_makes_the_shipped_paintings_again(tmp_path):
    # The command data/SOURCES.md gives.
    subprocess.run(
        [sys.executable, str(DATA / "fetch_samples.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    paintings = {name: row for name, row in listed().items() if name.startswith("style/")}
    assert {f"style/{p.name}" for p in tmp_path.iterdir()} == set(paintings)
    sys.path.insert(0, str(DATA))
    try:
        from fetch_samples import PAINTINGS
        from rcc import Bundle
    finally:
        sys.path.remove(str(DATA))
    for name, row in paintings.items():
        bundle, path = PAINTINGS[Path(name).name]
        raw = Bundle(BUNDLES / bundle).read(path)
        assert hashlib.sha256(raw).hexdigest() == row["bundle"], name
        # Pixels, not bytes: another zlib may compress the same PNG differently.
        made, shipped = Image.open(tmp_path / Path(name).name), Image.open(DATA / name)
        assert made.size == shipped.size and np.array_equal(np.asarray(made), np.asarray(shipped))


def test_the_bundle_reader_refuses_other_files(tmp_path):
    sys.path.insert(0, str(DATA))
    try:
        from rcc import Bundle, RccError
    finally:
        sys.path.remove(str(DATA))
    (tmp_path / "x.rcc").write_bytes(b"PK\x03\x04" + bytes(40))
    with pytest.raises(RccError, match="not a Qt resource bundle"):
        Bundle(tmp_path / "x.rcc")
