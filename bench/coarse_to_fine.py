"""Coarse-to-fine against single-scale: wall time to reach the same final loss.

    .venv/bin/python bench/coarse_to_fine.py --size 512 --steps 300

Runs one pair (chelsea x data/extra/style/ihc) twice with the backbone's default layers:
single-scale (`steps` L-BFGS steps at `size`), and coarse-to-fine as the workflow
does it (stages from 128 px growing by sqrt(2), `stage_steps` each, then up to
`steps` at `size`, each stage warm-started from the previous result).  Prints the
wall time at which each run's loss at full size first reaches the single-scale
run's final loss, and writes both images side by side to bench/out/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from nst import style_targets  # noqa: E402
from nst.backbones import build_backbone  # noqa: E402
from nst.catalog import network  # noqa: E402
from nst.images import load_image, save_png  # noqa: E402
from nst.losses import LossWeights  # noqa: E402
from nst.method import Method  # noqa: E402
from nst.outcome import TOTAL  # noqa: E402
from nst.runtime import tune_allocator  # noqa: E402
from nst.settings import stages  # noqa: E402
from nst.stages import Stage, Watcher  # noqa: E402
from nst.stylize import stylize  # noqa: E402


class Trace(Watcher):
    """(seconds, work, loss) at every step of the final stage, work in full-size step
    equivalents (pixels x steps so far / full-size pixels), which a busy machine does
    not distort the way it distorts seconds."""

    every = 1

    def __init__(self, full_pixels: int):
        self.full_pixels, self.done, self.rows = full_pixels, 0, []
        self.started = time.perf_counter()

    def start(self, stage, stages, hw, steps, tile) -> None:
        self.final, self.before, self.pixels = stage == stages - 1, self.done, hw[0] * hw[1]
        self.done += self.pixels * steps

    def progress(self, stage, step, terms) -> None:
        if self.final:
            work = (self.before + step * self.pixels) / self.full_pixels
            self.rows.append((time.perf_counter() - self.started, work, float(terms[0, TOTAL])))


def run(net, info, content, style_path, plan, device):
    """Optimise through the stages; returns the image and the final stage's Trace rows."""
    height, width = content.shape[-2:]
    ones = torch.ones(1, device=device)
    weights = LossWeights(ones, ones * info.style_weight, ones * info.tv_weight)
    staged = []
    for size, steps in plan:
        grams = style_targets.compute(net, style_path, list(info.style_layers), [size], device)
        grams = {k.split("/")[1]: v[None].to(device) for k, v in grams.items()}
        method = Method(info.content_layers, info.style_layers, steps=steps)
        staged.append(Stage(size, method, grams))
    trace = Trace(height * width)
    x = stylize(net, content, staged, weights, watcher=trace).image
    return x[0], trace.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--stage-steps", type=int, default=50)
    parser.add_argument("--backbone", default="vgg19")
    args = parser.parse_args()

    tune_allocator()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    info = network(args.backbone)
    net = build_backbone(
        info,
        info.default_file(),
        [*info.content_layers, *info.style_layers],
    ).to(device)
    content = load_image(REPO / "data/content/chelsea.png", args.size)[None].to(device)
    style = REPO / "data/extra/style/ihc.jpg"
    single_plan = [[args.size, args.steps]]
    c2f_plan = stages(
        args.size,
        args.steps,
        {"enabled": True, "start": 128, "factor": 2**0.5, "steps": args.stage_steps},
    )
    single, single_trace = run(net, info, content, style, single_plan, device)
    target = single_trace[-1][2]
    c2f, c2f_trace = run(net, info, content, style, c2f_plan, device)

    def reach(trace):
        return next(((t, w) for t, w, loss in trace if loss <= target), (float("nan"),) * 2)

    print(
        f"{args.backbone}, {args.size} px on {device}; "
        f"target = single-scale final loss {target:.4g}"
    )
    for name, plan, trace in (
        ("single-scale", single_plan, single_trace),
        ("coarse-to-fine", c2f_plan, c2f_trace),
    ):
        seconds, work = reach(trace)
        print(
            f"{name:<15} {plan}: reaches it at {seconds:6.1f} s ({work:6.1f} full-size "
            f"steps of work), ends {trace[-1][0]:6.1f} s ({trace[-1][1]:.1f} steps) "
            f"with loss {trace[-1][2]:.4g}"
        )
    out = REPO / "bench" / "out" / f"coarse_to_fine_{args.backbone}_{args.size}.png"
    save_png(torch.cat([single, c2f], dim=-1), out)
    print(f"side by side (single-scale | coarse-to-fine): {out}")


if __name__ == "__main__":
    main()
