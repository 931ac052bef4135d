"""Where each stop rule would end each sample pair: replayed on runs without a stop.

    .venv/bin/python bench/stop_replay.py --sizes 384 --gains 0.5 0.6

A pair's iterates do not depend on when it stops, so the rule (nst.stopping.StopRule,
checked as the optimiser checks it) is replayed on the accepted losses of one 300-step
run without a stop per pair and gain, cached by bench/time_to_quality.py.  Per rule:
the mean work as a share of the reference's 300 steps, and the worst pair's final
loss against the reference's (docs/performance.md, "Steps per pair").  Quality scores
need the images and so the runs themselves (time_to_quality.py).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import time_to_quality as ttq  # noqa: E402

from nst.stopping import StopRule  # noqa: E402

TOLERANCES = (0.001, 0.002, 0.003, 0.005, 0.01)
WINDOWS = (10, 15, 20, 30)


def stop(losses: torch.Tensor, rule: StopRule) -> int:
    """The step at which `rule` ends a run with these accepted losses (the cap if never)."""
    for done in range(1, len(losses) + 1):
        if rule.checks(done) and bool(rule.converged(losses[:, None], done)[0]):
            return done
    return len(losses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[384])
    parser.add_argument("--gains", type=float, nargs="+", default=[ttq.defaults().pyramid_gain])
    parser.add_argument("--pairs", type=int, default=0, help="only the first N pairs (0: all)")
    args = parser.parse_args()

    net, info, pooling, device, combos = ttq.setup(ttq.REPO / "data", args.pairs)
    for gain in args.gains:
        nostop = replace(ttq.defaults(), pyramid_gain=gain, stop_tolerance=0.0)
        runs = []  # (reference's final loss, accepted losses of the run without a stop)
        for size in args.sizes:
            for content, style in combos:
                pair = ttq.Pair(content, style, size, net, info, pooling, device)
                reference, run = ttq.run(pair, ttq.Spec()), ttq.run(pair, nostop)
                losses = torch.tensor([loss for _, loss in run["trace"]], dtype=torch.float64)
                runs.append((reference["final"], losses))
        print(f"\ngain {gain}, sizes {args.sizes}, {len(runs)} runs: work, worst loss")
        for window in WINDOWS:
            cells = []
            for tolerance in TOLERANCES:
                rule = StopRule(tolerance, window)
                ends = [stop(losses, rule) for _, losses in runs]
                worst = max(float(ls[n - 1]) / ref - 1 for n, (ref, ls) in zip(ends, runs))
                work = sum(ends) / len(ends) / ttq.REFERENCE_STEPS
                cells.append(f"{tolerance:g}: {100 * work:5.1f}% {100 * worst:+6.2f}%")
            print(f"window {window:>2}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
