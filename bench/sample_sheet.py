"""The README's sample sheet from a finished run: every content x style result, with the
settings that made them (read from the images' own `nst:settings` text chunk).

    .venv/bin/python bench/sample_sheet.py results docs/img/vgg19_original_samples.jpg
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "bench"), str(REPO / "scripts")]

from sheet import contact_sheet  # noqa: E402

from nst.tsv import read_frame  # noqa: E402


def caption(settings: dict) -> str:
    return (
        f"{settings['backbone']}/{settings['source']}, {settings['size']} px, "
        f"{settings['stages'][-1][1]} {settings['optimizer']} steps from the {settings['init']}; "
        f"content {settings['content_weight']:g}, style {settings['style_weight']:g}, "
        f"tv {settings['tv_weight']:g}; {settings['pooling']} pool"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tile", type=int, default=256)
    args = parser.parse_args()
    summary = read_frame(args.results / "summary.tsv").sort_values(["style", "content"])
    done = summary[summary.status == "ok"]
    images = {
        (row.style, row.content): Image.open(row.output).convert("RGB")
        for row in done.itertuples()
    }
    settings = json.loads(Image.open(done.output.iloc[0]).text["nst:settings"])
    picture = contact_sheet(images, args.tile, caption(settings))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(args.out, quality=88)
    print(f"{len(images)} results -> {args.out}: {caption(settings)}")


if __name__ == "__main__":
    main()
