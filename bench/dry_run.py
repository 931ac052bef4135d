"""How long Snakemake takes to plan a big collection, and what a cluster job pays.

    .venv/bin/python bench/dry_run.py --contents 10000 --styles 10 [--variants N]
                                      [--shard-size auto] [--cpu] [--dir DIR] [--profile FILE]

Makes tiny placeholder images (in --dir, kept and reused between runs, or in a
temporary folder), validates them once as a real run would, then times, each with
its peak memory:
  dry run         `snakemake -n` with nothing done yet;
  no-op rerun     `snakemake -n` with every output in place (made by --touch);
  remote job      one shard job's Snakemake run with the flags a cluster spawner adds
                  (--mode remote --target-jobs ...), up to where its script would start
                  (-n);
  reference       a minimal Snakefile with one job per shard manifest (no checkpoint,
                  the manifest as each job's only input, a shell command), for the
                  per-job ratio;
  same directives the reference with a shard job's directives: three inputs (one made
                  by a rule), a script, a log, threads, params and three resources
                  computed per attempt, as the workflow's own shard jobs have.  What
                  Snakemake itself costs for such a job, with nothing of this workflow.
Planned as a GPU run (gpus_per_job: 1, shards sized for a GPU, as on a cluster)
unless --cpu.  --variants N names N variants (nst.variants), each with its own style
weight: N times the pairs.  --profile writes a cProfile of the dry run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "scripts")]
from conftest import snakemake_command, write_image  # noqa: E402  (the tests' helpers)

DRY = ("--cores", "2", "-n")  # the timed dry runs, of this workflow and of the reference
ONE_JOB_PER_MANIFEST = """
SHARDS = sorted(p[:-4] for p in __import__("os").listdir("manifests"))

rule all:
    input: expand("done/{shard}", shard=SHARDS)
"""
REFERENCE = (
    ONE_JOB_PER_MANIFEST
    + """
rule job:
    input: "manifests/{shard}.tsv"
    output: "done/{shard}"
    shell: "touch {output}"
"""
)
SAME_DIRECTIVES = (
    ONE_JOB_PER_MANIFEST
    + """
rule style_set:
    input: "weights.bin"
    output: "style_set.json"
    shell: "touch {output}"

def mem_mb(wildcards, attempt):
    return 4000 * attempt

def runtime(wildcards, attempt):
    return 10 * attempt

def max_batch(wildcards, attempt):
    return 16 // attempt

rule job:
    input: plan="manifests/{shard}.tsv", weights="weights.bin", style_set="style_set.json"
    output: "done/{shard}"
    log: "logs/{shard}.log"
    threads: 2
    retries: 2
    resources: gpu=1, mem_mb=mem_mb, runtime=runtime, max_batch=max_batch
    params: settings={"size": 384, "steps": 300, "layers": ["conv1_1", "conv2_1"]}
    script: "job.py"
"""
)


def timed(command: list[str], **kwargs) -> tuple[float, float, subprocess.CompletedProcess]:
    """Seconds and peak RSS (MB) of a command (GNU time's figure for the one process)."""
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True, **kwargs
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    peak_mb = int(done.stderr.strip().splitlines()[-1]) / 1024
    return seconds, peak_mb, done


def jobs_of(output: str, rule: str) -> int:
    return next(
        (int(line.split()[1]) for line in output.splitlines() if line.startswith(rule + " ")), 0
    )


def make_collection(work: Path, contents: int, styles: int) -> None:
    for role, count in (("content", contents), ("style", styles)):
        folder = work / role
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            path = folder / f"{role}{i:05d}.png"
            if not path.exists():  # patterned and 16 px: validation refuses flat or smaller
                write_image(path, 16, 16, seed=i)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contents", type=int, default=10000)
    parser.add_argument("--styles", type=int, default=10)
    parser.add_argument("--variants", type=int, default=0, help="variants of every pair")
    parser.add_argument("--shard-size", default="auto", help="a number, or auto")
    parser.add_argument("--cpu", action="store_true", help="plan CPU jobs (default: GPU jobs)")
    parser.add_argument("--dir", type=Path, help="keep the collection here between runs")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the dry run here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = (args.dir or Path(tmp)).resolve()
        make_collection(work, args.contents, args.styles)
        # A kept folder starts over, except for validation's cache (a real rerun's state).
        for old in ("results/shards", "results/plan", "results/cache", "results/gallery"):
            shutil.rmtree(work / old, ignore_errors=True)
        shutil.rmtree(work / ".snakemake", ignore_errors=True)
        config = yaml.safe_load((REPO / "config.yaml").read_text())
        config.update(
            content_dir=str(work / "content"),
            style_dir=str(work / "style"),
            shard_size=args.shard_size if args.shard_size == "auto" else int(args.shard_size),
            gpus_per_job=0 if args.cpu else 1,
            variants={f"v{i}": {"style_weight": 10 * (i + 1)} for i in range(args.variants)},
        )
        (work / "config.yaml").write_text(yaml.safe_dump(config))
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        base = snakemake_command(work, "--cores", "2", "--quiet", "all")
        validated, _, _ = timed([*base, "--until", "plan_shards"], env=env)

        # The dry runs as a user types them, every job printed (to a pipe), here and in
        # the reference alike: `--quiet` alone would skip the per-job printing.
        dry = snakemake_command(work, *DRY)
        profile = ["-m", "cProfile", "-o", str(args.profile)] if args.profile else []
        planned, planned_mb, done = timed([sys.executable, *profile, *dry[1:]], env=env)
        jobs = jobs_of(done.stdout, "stylize_shard")

        mark_all_done(work, base, env)
        rerun, rerun_mb, done = timed(dry, env=env)
        left = jobs_of(done.stdout, "stylize_shard")

        shard = next((work / "results" / "shards").glob("*.tsv")).stem
        remote = snakemake_command(
            work,
            *("--cores", "2", "--quiet", "all", "--mode", "remote", "--force", "--nolock"),
            *("--ignore-incomplete", "--max-inventory-time", "0", "-n"),
            *("--target-jobs", f"stylize_shard:shard={shard}"),
        )
        remote_s, remote_mb, _ = timed(remote, env=env)

        reference_s, reference_jobs = reference(work, env, REFERENCE)
        same_s, _ = reference(work, env, SAME_DIRECTIVES)

    pairs = args.contents * args.styles * max(1, args.variants)
    per_job = 1000 * planned / max(1, jobs)
    per_reference_job = 1000 * reference_s / max(1, reference_jobs)
    per_same_job = 1000 * same_s / max(1, reference_jobs)
    print(
        f"collection      {args.contents} x {args.styles}"
        f"{f' x {args.variants} variants' if args.variants else ''} = {pairs} pairs,"
        f" shard_size {args.shard_size}, {'CPU' if args.cpu else 'GPU'} jobs"
    )
    print(f"validate, plan  {validated:.1f} s (the two jobs before any shard job)")
    print(f"dry run         {planned:.1f} s, {jobs} shard jobs, peak RSS {planned_mb:.0f} MB")
    print(f"no-op rerun     {rerun:.1f} s, {left} shard jobs left, peak RSS {rerun_mb:.0f} MB")
    print(f"remote job      {remote_s:.1f} s before its script starts, peak RSS {remote_mb:.0f} MB")
    print(f"reference       {reference_s:.1f} s for {reference_jobs} jobs (minimal Snakefile)")
    print(f"same directives {same_s:.1f} s for {reference_jobs} jobs (a shard job's directives)")
    print(
        f"per job         {per_job:.1f} ms, reference {per_reference_job:.1f} ms: "
        f"{per_job / per_reference_job:.2f}x; same directives {per_same_job:.1f} ms: "
        f"{per_job / per_same_job:.2f}x"
    )


def mark_all_done(work: Path, base: list[str], env: dict) -> None:
    """Every planned output made (empty) and dated in order, as after a finished run."""
    listing = subprocess.run(
        [*(part for part in base if part != "--quiet"), "-n"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    for line in listing.splitlines():
        if line.strip().startswith("output:"):
            for name in line.split(":", 1)[1].split(","):
                path = work / name.strip()
                if path.suffix:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.touch()
                else:  # directory() outputs of the gallery
                    path.mkdir(parents=True, exist_ok=True)
    for manifest in (work / "results" / "shards").glob("*.tsv"):
        manifest.write_text("pair\tstatus\n")
    subprocess.run([*base, "--touch"], check=True, capture_output=True, env=env)


def reference(work: Path, env: dict, snakefile: str) -> tuple[float, int]:
    """A dry run of a minimal Snakefile over this run's shard manifests (one job each)."""
    folder = work / "reference"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "manifests").mkdir(parents=True)
    shards = sorted((work / "results" / "shards").glob("*.tsv"))
    for manifest in shards:
        (folder / "manifests" / manifest.name).write_text(manifest.read_text())
    (folder / "weights.bin").write_bytes(b"")
    (folder / "job.py").write_text("")
    (folder / "Snakefile").write_text(snakefile)
    command = [sys.executable, "-m", "snakemake", "-s", str(folder / "Snakefile")]
    seconds, _, _ = timed([*command, "-d", str(folder), *DRY], env=env)
    return seconds, len(shards)


if __name__ == "__main__":
    main()
