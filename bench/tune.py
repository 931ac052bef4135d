"""Tuning the loss weights of a network on the sample pairs, judged by a held-out network.

    .venv/bin/python bench/tune.py --size 192 --steps 150 --style-weights 5 20 80

For every combination of the given settings it stylises the six sample pairs
(data/content x data/style, L-BFGS from the content), prints per pair and on
average the held-out quality scores (nst.quality: style score, lower = closer
to the style; content score, lower = more of the photo kept), the seconds and
how much the last third of the steps still lowered the loss,
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

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "scripts"), str(REPO / "bench")]

from sheet import contact_sheet  # noqa: E402

from nst import style_targets  # noqa: E402
from nst.backbones import build_backbone  # noqa: E402
from nst.catalog import network  # noqa: E402
from nst.descent import optimize  # noqa: E402
from nst.images import load_image  # noqa: E402
from nst.losses import LossWeights  # noqa: E402
from nst.method import Method  # noqa: E402
from nst.outcome import TOTAL  # noqa: E402
from nst.quality import Judge  # noqa: E402
from nst.runtime import tune_allocator  # noqa: E402

CONTENTS = sorted((REPO / "data" / "content").iterdir())
STYLES = sorted((REPO / "data" / "style").iterdir())
OUT = REPO / "bench" / "out" / "tune"


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
    parser.add_argument("--judge", default=None, help="judging backbone (default: held-out)")
    args = parser.parse_args()

    tune_allocator()
    info = network(args.backbone, args.source)
    judge = Judge(info.backbone, judge=network(args.judge) if args.judge else None)
    OUT.mkdir(parents=True, exist_ok=True)
    grid = itertools.product(
        args.style_weights or [info.style_weight],
        args.tv_weights or [info.tv_weight],
        args.content_weights,
        args.pooling,
    )
    print(f"{info.key}, {args.size} px, {args.steps} L-BFGS steps; judge {judge.network.key}")
    print(f"{'style_w':>8} {'tv_w':>7} {'cont_w':>6} {'pool':>4}  {'pair':<28} "
          f"{'style':>6} {'content':>7} {'s':>5} {'last 1/3':>7}")  # fmt: skip
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
                outcome = optimize(net, photo, grams, weights, method, photo)
                result, seconds = outcome.image, time.perf_counter() - started
                # How much the last third of the steps still lowered the loss.
                total = outcome.history[:, 0, TOTAL]
                last_third = float(1 - total[-1] / total[(2 * len(total)) // 3 - 1])
                images[style.name, content.name] = result[0]
                score = judge.score(result[0], photo[0], reference)
                scores.append(score)
                pair = f"{style.stem[:12]} x {content.stem[:12]}"
                print(f"{label}  {pair:<28} {score.style:>6.3f} {score.content:>7.3f} "
                      f"{seconds:>5.1f} {last_third:>+7.2%}", flush=True)  # fmt: skip
        mean_style = statistics.mean(s.style for s in scores)
        mean_content = statistics.mean(s.content for s in scores)
        print(f"{label}  {'MEAN':<28} {mean_style:>6.3f} {mean_content:>7.3f}", flush=True)
        name = f"sw{style_weight:g}_tv{tv_weight:g}_cw{content_weight:g}_{pooling}"
        caption = (
            f"{info.key}, {args.size} px, {args.steps} L-BFGS steps from the content; "
            f"content {content_weight:g}, style {style_weight:g}, tv {tv_weight:g}; {pooling} pool"
        )
        picture = contact_sheet(
            {(s.name, c.name): images[s.name, c.name] for s in STYLES for c in CONTENTS},
            args.size,
            caption,
        )
        picture.save(OUT / f"{info.backbone}_{info.source}_{name}.jpg", quality=88)
        picture.save(OUT / f"{info.backbone}_{info.source}_{name}.png")


if __name__ == "__main__":
    main()
