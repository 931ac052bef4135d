"""A fuzz test of the input path: several hundred files made by mutating valid JPEG,
PNG, WebP, TIFF and GIF files (truncations, flipped bytes, changed header fields and
chunk lengths, appended garbage), seeded and so the same on every run.  Each goes
through validation, in a worker process with a time limit; a few of the accepted ones
are then stylised.  Every file must be accepted (and then make an image) or rejected
with a reason: nothing may crash or hang."""

from __future__ import annotations

import io
import multiprocessing
import random
import struct
from dataclasses import replace
from pathlib import Path

from PIL import Image

from conftest import pattern_image, runner
from nst.plan import Pair
from nst.validate import Limits, check_file

SEED = 13
PER_FORMAT = 60  # 5 formats: 300 files
SECONDS_PER_FILE = 20  # far above the few milliseconds a decode takes
LIMITS = Limits(size=32, min_side=16, max_megapixels=200)
FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "tif": "TIFF", "gif": "GIF"}


def valid_file(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pattern_image(48, 64, seed=1)).save(buffer, format=FORMATS[fmt])
    return buffer.getvalue()


def _header_field(data: bytearray, rng: random.Random, fmt: str) -> str:
    """Overwrite a size or length field of the format's header with a random value."""
    if fmt == "png":  # IHDR width/height, or the length of a random chunk
        offset = rng.choice([16, 20, 8, 33])
        data[offset : offset + 4] = struct.pack(">I", rng.choice([0, 1, 2**31 - 1, 65535, 10**6]))
        return f"png field at {offset}"
    if fmt == "jpg":  # the frame's height and width (SOF0) or a segment length
        marker = data.find(b"\xff\xc0") if rng.random() < 0.5 else data.find(b"\xff\xdb")
        offset = marker + rng.choice([2, 5, 7])
        data[offset : offset + 2] = struct.pack(">H", rng.choice([0, 1, 0xFFFF, 30000]))
        return f"jpeg field at {offset}"
    offset = rng.randrange(4, min(40, len(data) - 4))  # RIFF/IFD/GIF header sizes
    data[offset : offset + 4] = struct.pack("<I", rng.choice([0, 1, 0xFFFFFFFF, 10**7]))
    return f"{fmt} header bytes at {offset}"


def mutate(data: bytes, rng: random.Random, fmt: str) -> tuple[bytes, str]:
    data = bytearray(data)
    kind = rng.choice(["truncate", "flip", "header", "append", "flip+truncate"])
    if kind == "truncate":
        cut = rng.randrange(0, len(data))
        return bytes(data[:cut]), f"truncated at {cut}"
    if kind == "flip":
        count = rng.choice([1, 2, 8, 64])
        for _ in range(count):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data), f"{count} bits flipped"
    if kind == "header":
        return bytes(data), _header_field(data, rng, fmt)
    if kind == "append":
        extra = rng.randbytes(rng.choice([1, 100, 10_000]))
        return bytes(data) + extra, f"{len(extra)} bytes appended"
    data[rng.randrange(len(data))] ^= 0xFF
    return bytes(data[: rng.randrange(len(data) // 2, len(data))]), "flipped and truncated"


def make_corpus(folder: Path) -> dict[Path, str]:
    folder.mkdir()
    rng = random.Random(SEED)
    corpus = {}
    for fmt in FORMATS:
        valid = valid_file(fmt)
        for n in range(PER_FORMAT):
            data, how = mutate(valid, rng, fmt)
            path = folder / f"{fmt}-{n:03d}.{fmt}"
            path.write_bytes(data)
            corpus[path] = how
    return corpus


def validate_one(path: str) -> tuple[str, str]:
    """('accepted' | 'rejected' | 'crashed', detail) of one file."""
    try:
        verdict = check_file(Path(path), "content", LIMITS)
    except Exception as err:  # check_file must turn every bad file into a verdict
        return "crashed", f"{type(err).__name__}: {err}"
    if verdict.ok:
        return "accepted", ""
    return ("rejected", verdict.reason) if verdict.reason else ("crashed", "no reason given")


def test_mutated_images_are_accepted_or_rejected_never_crash_or_hang(tmp_path, shard_setup, capsys):
    corpus = make_corpus(tmp_path / "fuzz")
    assert len(corpus) == 5 * PER_FORMAT
    outcomes = {}
    # Pool's exit terminates its workers, so a decode that hangs cannot hang the test.
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pending = {path: pool.apply_async(validate_one, (str(path),)) for path in corpus}
        for path, result in pending.items():
            try:
                outcomes[path] = result.get(timeout=SECONDS_PER_FILE)
            except multiprocessing.TimeoutError:
                outcomes[path] = ("hung", f"no verdict in {SECONDS_PER_FILE} s")
                break
    counts = {
        kind: sum(1 for k, _ in outcomes.values() if k == kind)
        for kind in ("accepted", "rejected", "crashed", "hung")
    }
    with capsys.disabled():
        print(f"\nfuzz (seed {SEED}, {len(corpus)} files): {counts}")
    bad = {p.name: (corpus[p], *o) for p, o in outcomes.items() if o[0] in ("crashed", "hung")}
    assert not bad, bad
    assert counts["accepted"] >= 10 and counts["rejected"] >= 50  # the corpus tests both

    # A few accepted files, one per format where there is one, make an image.
    settings, pairs, weights, _ = shard_setup
    accepted = {}
    for path, (kind, _) in outcomes.items():
        if kind == "accepted":
            accepted.setdefault(path.suffix, path)
    template = pairs[0]
    fuzzed = [
        Pair(
            **{
                **template.__dict__,
                "key": f"s/{path.stem}",
                "content_name": path.name,
                "content": str(path),
                "output": str(tmp_path / "out" / f"{path.stem}.png"),
                "record": str(tmp_path / "rec" / f"{path.stem}.json"),
            }
        )
        for path in accepted.values()
    ]
    rows = runner(replace(settings, size=32, stages=((32, 2),)), weights).run(fuzzed).rows
    assert len(rows) == len(fuzzed) >= 3
    for row, pair in zip(rows, fuzzed):
        assert row.status == "ok" or row.message, row  # an image, or a reason
        assert row.status != "ok" or Path(pair.output).is_file()
    with capsys.disabled():
        made = sum(row.status == "ok" for row in rows)
        print(f"stylised {made} of {len(rows)} accepted mutants ({', '.join(accepted)})")
