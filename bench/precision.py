"""Mixed precision against fp32 at equal steps: speed, final loss and quality score.

    .venv/bin/python bench/precision.py --size 384 --steps 300

For each backbone with its default, real weights (VGG19 original, EfficientNet-Lite0)
it optimises one pair from data/ (chelsea x extra/style/ihc, the network's default layers and
weights, L-BFGS from the content) in fp32 and in bf16 autocast, and prints s/step,
the final total loss (evaluated in fp32 on the returned image), the held-out
quality score (nst.quality: style / content) and how far bf16's are from fp32's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "bench"))

from nst import style_targets  # noqa: E402
from nst.backbones import build_backbone  # noqa: E402
from nst.catalog import network  # noqa: E402
from nst.descent import content_targets, optimize  # noqa: E402
from nst.images import load_image  # noqa: E402
from nst.losses import LossWeights, gatys_loss  # noqa: E402
from nst.method import Method  # noqa: E402
from nst.quality import Judge, Score  # noqa: E402
from nst.runtime import tune_allocator  # noqa: E402

STYLE = REPO / "data/extra/style/ihc.jpg"


def run(backbone: str, size: int, steps: int, precision: str) -> tuple[float, float, Score]:
    """Median s/step, the final total loss (fp32) and the held-out quality score."""
    info = network(backbone)
    net = build_backbone(info, info.default_file(), [*info.content_layers, *info.style_layers])
    content = load_image(REPO / "data/content/chelsea.png", size)[None]
    grams = style_targets.compute(net, STYLE, list(info.style_layers), [size], torch.device("cpu"))
    grams = {k.split("/")[1]: v[None] for k, v in grams.items()}
    ones = torch.ones(1)
    weights = LossWeights(ones, ones * info.style_weight, ones * info.tv_weight)
    method = Method(info.content_layers, info.style_layers, steps=steps, precision=precision)
    stamps = []
    image = optimize(
        net,
        content,
        grams,
        weights,
        method,
        content,
        on_progress=lambda step, terms: stamps.append(time.perf_counter()),
        progress_every=1,
    ).image
    fp32 = Method(info.content_layers, info.style_layers)
    with torch.no_grad():
        features = net(image, fp32.layers)
        final = gatys_loss(
            image,
            features,
            content_targets(net, content, fp32),
            grams,
            info.content_layers,
            info.style_layers,
            weights,
        ).total.item()
    judge = Judge(backbone)
    score = judge.score(image[0], content[0], judge.reference([(str(STYLE), 1.0)], size))
    return statistics.median(b - a for a, b in zip(stamps[2:], stamps[3:])), final, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--backbones", nargs="+", default=["vgg19", "efficientnet_lite0"])
    args = parser.parse_args()
    tune_allocator()
    print(f"{args.size} px, {args.steps} L-BFGS steps, {torch.get_num_threads()} threads")
    print(
        f"{'backbone':>20} {'fp32 s/step':>12} {'bf16 s/step':>12} {'speed-up':>9} "
        f"{'fp32 loss':>11} {'bf16 loss':>11} {'difference':>11} "
        f"{'fp32 score':>13} {'bf16 score':>13}"
    )
    for backbone in args.backbones:
        fast32, loss32, score32 = run(backbone, args.size, args.steps, "fp32")
        fast16, loss16, score16 = run(backbone, args.size, args.steps, "bf16")
        print(
            f"{backbone:>20} {fast32:>12.3f} {fast16:>12.3f} {fast32 / fast16:>8.2f}x "
            f"{loss32:>11.4g} {loss16:>11.4g} {(loss16 - loss32) / loss32:>+10.2%} "
            f"{score32.style:>6.3f}/{score32.content:.3f} "
            f"{score16.style:>6.3f}/{score16.content:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
