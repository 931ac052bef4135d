"""Tuning the loss weights of a network on the sample pairs, judged by a held-out network.

    .venv/bin/python bench/tune.py --size 192 --steps 150 --style-weights 5 20 80

For every combination of the given settings it stylises the six sample pairs
(data/content x data/style, L-BFGS from the content), prints per pair and on
average the held-out quality scores (nst.quality: style score, lower = closer
to the style; content score, lower = more of the photo kept) and the seconds,
and writes a contact sheet per combination (rows: styles, columns: contents)
to bench/out/tune/.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from nst import style_targets  # noqa: E402
from nst.backbones import build_backbone  # noqa: E402
from nst.catalog import network  # noqa: E402
from nst.images import load_image  # noqa: E402
from nst.losses import LossWeights  # noqa: E402
from nst.quality import Judge  # noqa: E402
from nst.runtime import tune_allocator  # noqa: E402
from nst.stylize import Method, optimize  # noqa: E402

CONTENTS = sorted((REPO / "data" / "content").iterdir())
STYLES = sorted((REPO / "data" / "style").iterdir())
OUT = REPO / "bench" / "out" / "tune"


def to_pil(image: torch.Tensor) -> Image.Image:
    array = (image.clamp(0, 1).permute(1, 2, 0) * 255).round().byte().numpy()
    return Image.fromarray(array)


def sheet(images: dict[tuple[str, str], torch.Tensor], tile: int) -> Image.Image:
    """Rows: styles; columns: contents; each image fitted into a tile x tile cell."""
    canvas = Image.new("RGB", (tile * len(CONTENTS), tile * len(STYLES)), "white")
    for (r, s), (c, p) in itertools.product(enumerate(STYLES), enumerate(CONTENTS)):
        picture = to_pil(images[s.name, p.name])
        picture.thumbnail((tile, tile))
        canvas.paste(picture, (c * tile + (tile - picture.width) // 2, r * tile))
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="vgg19")
    parser.add_argument("--source", default=None, help="weights source (default: the backbone's)")
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--style-weights", type=float, nargs="+", default=None)
    parser.add_argument("--tv-weights", type=float, nargs="+", default=None)
    parser.add_argument("--content-weights", type=float, nargs="+", default=[1.0])
    parser.add_argument("--pooling", nargs="+", default=["max"])
    args = parser.parse_args()

    tune_allocator()
    info = network(args.backbone, args.source)
    judge = Judge(info.backbone)
    OUT.mkdir(parents=True, exist_ok=True)
    grid = itertools.product(
        args.style_weights or [info.style_weight],
        args.tv_weights or [info.tv_weight],
        args.content_weights,
        args.pooling,
    )
    print(f"{info.key}, {args.size} px, {args.steps} L-BFGS steps; judge {judge.network.key}")
    print(f"{'style_w':>8} {'tv_w':>7} {'cont_w':>6} {'pool':>4}  {'pair':<28} "
          f"{'style':>6} {'content':>7} {'s':>5}")  # fmt: skip
    for style_weight, tv_weight, content_weight, pooling in grid:
        layers = [*info.content_layers, *info.style_layers]
        net = build_backbone(info, info.default_file(), layers, pooling)
        method = Method(info.content_layers, info.style_layers, steps=args.steps)
        weights = LossWeights(
            torch.tensor([content_weight]), torch.tensor([style_weight]), torch.tensor([tv_weight])
        )
        label = f"{style_weight:>8g} {tv_weight:>7g} {content_weight:>6g} {pooling:>4}"
        images, scores = {}, []
        for style in STYLES:
            targets = style_targets.compute(
                net, style, list(info.style_layers), [args.size], torch.device("cpu")
            )
            grams = {k.split("/")[1]: v[None] for k, v in targets.items()}
            reference = judge.reference([(str(style), 1.0)], args.size)
            for content in CONTENTS:
                photo = load_image(content, args.size)[None]
                started = time.perf_counter()
                result = optimize(net, photo, grams, weights, method, photo).image
                seconds = time.perf_counter() - started
                images[style.name, content.name] = result[0]
                score = judge.score(result[0], photo[0], reference)
                scores.append(score)
                pair = f"{style.stem[:12]} x {content.stem[:12]}"
                print(f"{label}  {pair:<28} {score.style:>6.3f} {score.content:>7.3f} "
                      f"{seconds:>5.1f}", flush=True)  # fmt: skip
        mean_style = statistics.mean(s.style for s in scores)
        mean_content = statistics.mean(s.content for s in scores)
        print(f"{label}  {'MEAN':<28} {mean_style:>6.3f} {mean_content:>7.3f}", flush=True)
        name = f"sw{style_weight:g}_tv{tv_weight:g}_cw{content_weight:g}_{pooling}"
        sheet(images, args.size).save(OUT / f"{info.backbone}_{info.source}_{name}.jpg", quality=88)
        sheet(images, args.size).save(OUT / f"{info.backbone}_{info.source}_{name}.png")


if __name__ == "__main__":
    main()
