"""Seconds per optimisation step: this project against a plain reference, and the CPU's floor.

    .venv/bin/python bench/step_speed.py [--sizes 128 256 384 512] [--steps 8] [--precision fp32]

For each size it runs, each in a fresh process (so allocator settings and peak
memory are those of one configuration): this project's step (nst.stylize with
VGG19's default Gatys layers, L-BFGS), and bench/reference.py (the PyTorch
tutorial's way, fp32, default allocator).  It also measures the best fp32 3x3
convolution rate of this machine, which gives the floor: GFLOP per step / rate.
VGG19 has random weights here (the speed does not depend on their values).
Prints a table; timings are medians over the steps after two warm-up steps.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "bench"))
WEIGHTS = REPO / "bench" / "out" / "vgg19-random.pth"
LAYERS_CONTENT = {"conv4_2": 1.0}
LAYERS_STYLE = {f"conv{i}_1": 1.0 for i in range(1, 6)}


def images(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return (
        torch.rand(1, 3, size, size, generator=generator),
        torch.rand(1, 3, size, size, generator=generator),
    )


def make_weights() -> None:
    """A random VGG19 in torchvision's format, made once (the speed does not depend on it)."""
    if not WEIGHTS.exists():
        from torchvision import models

        WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
        torch.save(models.vgg19().state_dict(), WEIGHTS)


def conv_rate() -> float:
    """Best GFLOP/s of an fp32 3x3 convolution (VGG's shapes) on this machine."""
    best = 0.0
    with torch.no_grad():
        for channels, size in ((64, 256), (128, 128), (256, 64), (512, 32)):
            conv = torch.nn.Conv2d(channels, channels, 3, padding=1)
            x = torch.rand(1, channels, size, size)
            flops = 2 * channels * channels * 9 * size * size
            for _ in range(2):
                conv(x)
            runs = []
            for _ in range(5):
                started = time.perf_counter()
                conv(x)
                runs.append(time.perf_counter() - started)
            best = max(best, flops / min(runs) / 1e9)
    return best


def step_flops(net, x, content_targets, grams) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    from nst.losses import LossWeights, gatys_loss

    ones = torch.ones(1)
    x = x.clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        features = net(x, sorted(set(LAYERS_CONTENT) | set(LAYERS_STYLE)))
        terms = gatys_loss(
            x,
            features,
            content_targets,
            grams,
            LAYERS_CONTENT,
            LAYERS_STYLE,
            LossWeights(ones, ones * 1e6, ones * 0),
        )
        terms.total.sum().backward()
    return counter.get_total_flops() / 1e9


def worker_ours(size: int, steps: int, precision: str) -> dict:
    from nst.backbones import build_backbone
    from nst.catalog import network
    from nst.descent import content_targets, optimize
    from nst.losses import LossWeights, gram_matrix
    from nst.method import Method
    from nst.runtime import tune_allocator

    tune_allocator()
    # torchvision's layout: the random file has the original's architecture and speed.
    net = build_backbone(network("vgg19", "torchvision"), WEIGHTS, [*LAYERS_CONTENT, *LAYERS_STYLE])
    content, style = images(size)
    with torch.no_grad():
        grams = {k: gram_matrix(v) for k, v in net(style, list(LAYERS_STYLE)).items()}
    method = Method(LAYERS_CONTENT, LAYERS_STYLE, steps=steps, precision=precision)
    stamps = []
    ones = torch.ones(1)
    optimize(
        net,
        content,
        grams,
        LossWeights(ones, ones * 1e6, ones * 1e-3),
        method,
        content,
        on_progress=lambda step, terms: stamps.append(time.perf_counter()),
        progress_every=1,
    )
    # Counted after the timing: FlopCounterMode's module hooks slow down later steps.
    flops = step_flops(net, content, content_targets(net, content, method), grams)
    return {
        "gflop": flops,
        "seconds": statistics.median(b - a for a, b in zip(stamps[2:], stamps[3:])),
    }


def worker_reference(size: int, steps: int) -> dict:
    import reference

    content, style = images(size)
    model, content_losses, style_losses = reference.build(
        torch.load(WEIGHTS, weights_only=True), content, style
    )
    x = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([x], max_iter=1)
    closure = reference.closure_factory(model, content_losses, style_losses, x, optimizer)
    stamps = []
    for _ in range(steps):
        optimizer.step(closure)
        stamps.append(time.perf_counter())
    return {"seconds": statistics.median(b - a for a, b in zip(stamps[2:], stamps[3:]))}


def run_worker(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", *args], capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(f"worker {' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 384, 512])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="only this project (e.g. for sizes where the reference runs out of memory)",
    )
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 4 and not args.worker:
        parser.error("--steps must be at least 4 (two warm-up steps, then timed ones)")

    if args.worker:
        kind, *rest = args.worker
        if kind == "rate":
            result = {"gflops": conv_rate()}
        elif kind == "ours":
            result = worker_ours(int(rest[0]), int(rest[1]), rest[2])
        else:
            result = worker_reference(int(rest[0]), int(rest[1]))
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    make_weights()
    rate = run_worker("rate")["gflops"]
    print(f"machine: {torch.get_num_threads()} threads, best fp32 3x3 conv rate {rate:.0f} GFLOP/s")
    print(
        f"{'size':>5} {'GFLOP':>7} {'ours s/step':>12} {'floor':>7} {'of floor':>9} "
        f"{'reference':>10} {'speed-up':>9} {'ours MB':>8} {'ref MB':>8}"
    )
    for size in args.sizes:
        ours = run_worker("ours", str(size), str(args.steps), args.precision)
        ref = (
            {"seconds": float("nan"), "peak_mb": float("nan")}
            if args.no_reference
            else run_worker("reference", str(size), str(args.steps))
        )
        floor = ours["gflop"] / rate
        print(
            f"{size:>5} {ours['gflop']:>7.1f} {ours['seconds']:>12.3f} {floor:>7.3f} "
            f"{floor / ours['seconds']:>9.0%} {ref['seconds']:>10.3f} "
            f"{ref['seconds'] / ours['seconds']:>8.2f}x {ours['peak_mb']:>8.0f} "
            f"{ref['peak_mb']:>8.0f}"
        )


if __name__ == "__main__":
    main()
