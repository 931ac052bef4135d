"""Seconds to validate a big collection of real-size photos: first run and rerun.

    .venv/bin/python bench/validate_speed.py [--n 1000] [--dir /tmp/nst-photos] [--threads 4]
        [--size 384] [--full-decode]

Writes N 4000x3000 JPEGs (12 megapixels, quality 90) made from the sample photos in
data/content (a 2x2 mosaic of them, scaled up, plus pixel noise so that the files are
as big and as slow to decode as camera photos), then times nst.validate.validate as
the validate_inputs job calls it (same thread count): a first validation (empty cache)
and a rerun (every verdict from the cache).  With --dir the photos are kept there and
made only once.  Encoding a 12-megapixel photo takes about a second here, so only
DISTINCT different photos are made and the others are byte copies under their own
names (validation's cost depends on the bytes, not on which file they are in).
The photos are in the page cache (just written or read), so disk reads are not timed.
--full-decode turns JPEG draft mode off: what validation would cost if it decoded
every photo at full size.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, JpegImagePlugin

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from nst.validate import Limits, validate  # noqa: E402

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
WIDTH, HEIGHT = 4000, 3000
DISTINCT = 10
SAMPLES = ("chelsea.png", "coffee.png", "rocket.jpg")


def photo(seed: int) -> Image.Image:
    """A 4000x3000 picture with a photo's detail and noise: four sample photos, shuffled."""
    rng = np.random.default_rng(seed)
    canvas = Image.new("RGB", (WIDTH, HEIGHT))
    half = (WIDTH // 2, HEIGHT // 2)
    for quarter in range(4):
        name = SAMPLES[rng.integers(len(SAMPLES))]
        with Image.open(REPO / "data" / "content" / name) as sample:
            tile = sample.convert("RGB").resize(half, Image.Resampling.BICUBIC)
        if rng.random() < 0.5:
            tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        canvas.paste(tile, ((quarter % 2) * half[0], (quarter // 2) * half[1]))
    # Sensor-like noise: without it the upscaled samples compress to a third of a
    # camera photo's size and decode faster than real photos do.
    pixels = np.asarray(canvas, dtype=np.int16)
    pixels += rng.integers(-12, 13, size=pixels.shape, dtype=np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_photos(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"photo-{i:06d}.jpg" for i in range(n)]
    for i, path in enumerate(paths):
        if path.exists():
            continue
        if i < DISTINCT:
            photo(i).save(path, quality=90)
        else:
            shutil.copyfile(paths[i % DISTINCT], path)
    return paths


def timed_validation(
    paths: list[Path], limits: Limits, cache: Path, threads: int
) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all threads) of one validation."""
    start, cpu = time.perf_counter(), time.process_time()
    verdicts = validate({"content": paths}, limits, cache, threads=threads)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    rejected = [v for v in verdicts if not v.ok]
    if rejected:
        raise SystemExit(f"{len(rejected)} photos rejected, e.g. {rejected[0]}")
    return seconds, cpu


def report(label: str, times: tuple[float, float], n: int) -> None:
    """Wall time and its projection; CPU time too, which other users' load on a shared
    machine distorts less."""
    seconds, cpu = times
    per_file = seconds / n
    print(
        f"{label}: {seconds:.2f} s for {n} files ({per_file * 1000:.1f} ms/file), "
        f"projected 100,000: {per_file * 100_000 / 60:.1f} min; CPU {cpu / n * 1000:.1f} ms/file"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="photos (default 1000)")
    parser.add_argument("--dir", type=Path, help="keep the photos here between runs")
    parser.add_argument("--threads", type=int, default=4, help="as validate_inputs (4)")
    parser.add_argument("--size", type=int, default=CONFIG["size"], help="working long side")
    parser.add_argument("--full-decode", action="store_true", help="JPEG draft mode off")
    args = parser.parse_args()
    if args.full_decode:
        JpegImagePlugin.JpegImageFile.draft = lambda self, mode, size: None

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp) / "photos"
        start = time.perf_counter()
        paths = make_photos(folder, args.n)
        size_mb = sum(p.stat().st_size for p in paths[:DISTINCT]) / min(args.n, DISTINCT) / 1e6
        print(
            f"{args.n} photos {WIDTH}x{HEIGHT}, {size_mb:.1f} MB each, in {folder} "
            f"({time.perf_counter() - start:.0f} s to make or find); "
            f"{args.threads} threads, size {args.size}"
            + (", full decode" if args.full_decode else "")
        )
        for path in paths:  # into the page cache, as after a copy onto this machine
            path.read_bytes()
        limits = Limits(args.size, CONFIG["min_input_side"], CONFIG["max_input_megapixels"])
        cache = Path(tmp) / "validation-cache.json"
        report("first validation", timed_validation(paths, limits, cache, args.threads), args.n)
        report("rerun", timed_validation(paths, limits, cache, args.threads), args.n)


if __name__ == "__main__":
    main()
