"""How long Snakemake takes to plan a big collection (a dry run after validation).

    .venv/bin/python bench/dry_run.py --contents 10000 --styles 10 [--shard-size 16] [--cpu]

Makes tiny placeholder images in a temporary folder, validates them once (as a real
run would), then times `snakemake -n` and reports its peak memory.  The run is
planned as a GPU run (gpus_per_job: 1: shards sized for a GPU, as on a cluster)
unless --cpu; the default `shard_size: auto` sizes jobs by their work.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "scripts")]
from conftest import snakemake_command, write_image  # noqa: E402  (the tests' helpers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contents", type=int, default=10000)
    parser.add_argument("--styles", type=int, default=10)
    parser.add_argument("--shard-size", default="auto", help="a number, or auto")
    parser.add_argument("--cpu", action="store_true", help="plan CPU jobs (default: GPU jobs)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for role, count in (("content", args.contents), ("style", args.styles)):
            folder = work / role
            folder.mkdir()
            for i in range(count):
                # Patterned and 16 px: validation refuses flat or smaller style images.
                write_image(folder / f"{role}{i:05d}.png", 16, 16, seed=i)
        config = yaml.safe_load((REPO / "config.yaml").read_text())
        config.update(
            content_dir=str(work / "content"),
            style_dir=str(work / "style"),
            shard_size=args.shard_size if args.shard_size == "auto" else int(args.shard_size),
            gpus_per_job=0 if args.cpu else 1,
        )
        (work / "config.yaml").write_text(yaml.safe_dump(config))
        base = snakemake_command(work, "--cores", "2", "--quiet", "all")
        started = time.perf_counter()
        subprocess.run([*base, "--until", "validate_inputs"], check=True)
        validated = time.perf_counter() - started

        started = time.perf_counter()
        done = subprocess.run([*base, "-n"], check=True, capture_output=True, text=True)
        planned = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        jobs = next(
            (
                line.split()[1]
                for line in done.stdout.splitlines()
                if line.startswith("stylize_shard")
            ),
            "?",
        )

    pairs = args.contents * args.styles
    print(
        f"collection      {args.contents} x {args.styles} = {pairs} pairs,"
        f" shard_size {args.shard_size}, {'CPU' if args.cpu else 'GPU'} jobs"
    )
    print(f"validation      {validated:.1f} s (first run; later runs reuse the cache)")
    print(f"dry run         {planned:.1f} s, {jobs} shard jobs, peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
