"""The README's mask example: a photo, its mask, and the result with a style per region,
made by a real `snakemake --cores 2` run from a pairs sheet.

    .venv/bin/python bench/mask_example.py --size 384 --steps 200

Derives data/masks/rocket.png from data/content/rocket.jpg (the blue sky white, the
rest black, its edges blurred: soft), runs the workflow on the sheet
`rocket.jpg  rocket.png  white=cafe_terrace_at_night.png; black=none` into
bench/out/mask_example/, prints the pair's summary row (its per-region scores), and
writes photo | mask | result to docs/img/mask_example.jpg.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parent.parent
PHOTO = REPO / "data" / "content" / "rocket.jpg"
MASK = REPO / "data" / "masks" / "rocket.png"
STYLE_CELL = "white=cafe_terrace_at_night.png; black=none"
OUT = REPO / "bench" / "out" / "mask_example"


def make_mask() -> None:
    """The sky: blue above red and green and not bright; specks removed, edges blurred."""
    rgb = np.asarray(Image.open(PHOTO).convert("RGB")).astype(float)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    sky = (blue > red + 15) & (blue > green) & (rgb.sum(-1) < 600)
    mask = Image.fromarray((sky * 255).astype(np.uint8)).filter(ImageFilter.MedianFilter(5))
    MASK.parent.mkdir(parents=True, exist_ok=True)
    mask.filter(ImageFilter.GaussianBlur(2)).convert("RGB").save(MASK)


def run(size: int, steps: int) -> pd.Series:
    OUT.mkdir(parents=True, exist_ok=True)
    sheet = OUT / "pairs.tsv"
    sheet.write_text(f"content\tmask\tstyle\nrocket.jpg\trocket.png\t{STYLE_CELL}\n")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(
        content_dir=str(REPO / "data" / "content"),
        style_dir=str(REPO / "data" / "style"),
        mask_dir=str(MASK.parent),
        pairs=str(sheet),
        results=str(OUT / "results"),
        size=size,
        steps=steps,
    )
    (OUT / "config.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "--configfile", str(OUT / "config.yaml")]
    command += ["-s", str(REPO / "Snakefile"), "-d", str(OUT), "--cores", "2"]
    subprocess.run(command, check=True)
    summary = pd.read_csv(OUT / "results" / "summary.tsv", sep="\t", keep_default_na=False)
    return summary.iloc[0]


def picture(row: pd.Series, height: int = 256) -> Path:
    images = [Image.open(p).convert("RGB") for p in (PHOTO, MASK, OUT / row.output)]
    images = [im.resize((round(im.width * height / im.height), height)) for im in images]
    labels = ["photo", "mask (soft edges)", STYLE_CELL]
    sheet = Image.new("RGB", (sum(im.width for im in images), height + 24), "white")
    left = 0
    for image, label in zip(images, labels):
        sheet.paste(image, (left, 24))
        ImageDraw.Draw(sheet).text((left + 4, 6), label, fill="black")
        left += image.width
    path = REPO / "docs" / "img" / "mask_example.jpg"
    sheet.save(path, quality=88)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    make_mask()
    row = run(args.size, args.steps)
    print(row.to_string())
    print(f"picture: {picture(row)}")


if __name__ == "__main__":
    main()
