"""Pairs per hour through the whole workflow, and what each job costs besides optimising.

    .venv/bin/python bench/shard_throughput.py --pairs 8 --size 128 --steps 50

Runs the real workflow twice on the same pairs, once with one pair per job
(shard_size 1) and once with all pairs in one job, after the style targets are
cached.  For each it prints the wall time of the pair jobs, pairs/hour, the time
spent optimising (from the job logs), and the remainder per pair: process start,
imports, model load, image I/O.  VGG19 uses random weights in torchvision's format.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "scripts")]
from conftest import snakemake_command, write_image  # noqa: E402  (the tests' helpers)


def run(work: Path, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run(snakemake_command(work, "--quiet", "all", *args), check=True)
    return time.perf_counter() - started


def optimising_seconds(work: Path) -> float:
    """Sum of the 'done N pair(s) in X s' lines of the pair jobs' logs."""
    total = 0.0
    for log in (work / "logs" / "stylize").glob("*.log"):
        total += sum(
            float(s) for s in re.findall(r"done \d+ pair\(s\) in ([\d.]+) s", log.read_text())
        )
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--cores", default="2")
    args = parser.parse_args()

    print(
        f"{args.pairs} pairs, {args.size} px, {args.steps} steps, {args.backbone}, "
        f"--cores {args.cores}"
    )
    print(
        f"{'shard_size':>10} {'jobs':>5} {'wall s':>8} {'pairs/h':>8} {'optimising s':>13} "
        f"{'overhead s/pair':>16}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for i in range(args.pairs):
            write_image(work / "content" / f"photo{i}.png", 300, 400, seed=i)
        write_image(work / "style" / "style.png", 256, 256, seed=99)
        config = yaml.safe_load((REPO / "config.yaml").read_text())
        config.update(
            content_dir="content",
            style_dir="style",
            size=args.size,
            steps=args.steps,
            backbone=args.backbone,
        )
        if args.backbone.startswith("vgg"):
            import torch
            from torchvision import models

            weights = work / "vgg.pth"
            torch.save(getattr(models, args.backbone)().state_dict(), weights)
            config["weights"] = {args.backbone: {"file": str(weights)}}
        for shard_size in (1, args.pairs):
            config["shard_size"] = shard_size
            (work / "config.yaml").write_text(yaml.safe_dump(config))
            for folder in ("results", "logs"):
                subprocess.run(["rm", "-rf", str(work / folder)], check=True)
            run(work, "--cores", args.cores, "--until", "style_targets")
            wall = run(work, "--cores", args.cores)
            jobs = len(list((work / "logs" / "stylize").glob("*.log")))
            busy = optimising_seconds(work)
            print(
                f"{shard_size:>10} {jobs:>5} {wall:>8.1f} {args.pairs * 3600 / wall:>8.0f} "
                f"{busy:>13.1f} {(wall - busy) / args.pairs:>16.2f}"
            )


if __name__ == "__main__":
    main()
