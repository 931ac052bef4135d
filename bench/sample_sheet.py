"""The README's picture from a finished run: the photos across the top, the paintings down
the side, every result in between, and the settings that made them printed above (read
from the images' own `nst:settings` text chunk).

    .venv/bin/snakemake --cores 4                                   # make run
    .venv/bin/python bench/sample_sheet.py results docs/img/samples.jpg
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

GAP = 6  # px between cells
HEADER = 26  # px of the settings line

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from nst.tsv import read_rows  # noqa: E402


def caption(settings: dict) -> str:
    return (
        f"{settings['backbone']}/{settings['source']}, {settings['size']} px, "
        f"at most {settings['stages'][-1][1]} {settings['optimizer']} steps "
        f"from the {settings['init']}; "
        f"content {settings['content_weight']:g}, style {settings['style_weight']:g}, "
        f"tv {settings['tv_weight']:g}; {settings['pooling']} pool"
    )


def fitted(path: Path, tile: int) -> Image.Image:
    """The picture scaled, up or down, to fit a tile x tile cell."""
    with Image.open(path) as picture:
        return ImageOps.contain(picture.convert("RGB"), (tile, tile), Image.Resampling.LANCZOS)


def sample_sheet(results: Path, tile: int) -> tuple[Image.Image, str]:
    """The sheet of a run's results folder and its caption.  The paths its tables hold
    are relative to the folder the run ran in: run this from there."""
    done = [row for row in read_rows(results / "summary.tsv") if row["status"] == "ok"]
    if not done:
        raise SystemExit(f"{results / 'summary.tsv'} lists no finished pair")
    originals = {
        Path(row["path"]).name: Path(row["path"])
        for row in read_rows(results / "inputs" / "accepted.tsv")
    }
    contents = sorted({row["content"] for row in done})
    styles = sorted({row["style"] for row in done})
    with Image.open(done[0]["output"]) as first:
        text = caption(json.loads(first.text["nst:settings"]))
    step = tile + GAP
    sheet = Image.new(
        "RGB", (step * (len(contents) + 1), HEADER + step * (len(styles) + 1)), "white"
    )
    draw = ImageDraw.Draw(sheet)
    draw.text((6, 6), text, fill=(34, 34, 34), font=ImageFont.load_default(14))
    draw.text(
        (8, HEADER + tile // 2 - 16),
        "photos across,\npaintings down",
        fill=(120, 120, 120),
        font=ImageFont.load_default(14),
    )

    def paste(picture: Image.Image, column: int, row: int) -> None:
        x = column * step + (tile - picture.width) // 2
        y = HEADER + row * step + (tile - picture.height) // 2
        sheet.paste(picture, (x, y))

    for column, name in enumerate(contents, 1):
        paste(fitted(originals[name], tile), column, 0)
    for row, name in enumerate(styles, 1):
        paste(fitted(originals[name], tile), 0, row)
    for result in done:
        paste(
            fitted(Path(result["output"]), tile),
            contents.index(result["content"]) + 1,
            styles.index(result["style"]) + 1,
        )
    return sheet, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the run's results folder")
    parser.add_argument("out", type=Path, help="the picture to write (.jpg or .png)")
    parser.add_argument("--tile", type=int, default=256, help="cell side in px")
    args = parser.parse_args()
    sheet, text = sample_sheet(args.results, args.tile)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=88)
    print(f"{args.out}: {sheet.width}x{sheet.height}; {text}")


if __name__ == "__main__":
    main()
