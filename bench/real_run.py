"""A real run at scale: Snakemake's own time per job, beside the jobs' own time.

    .venv/bin/python bench/real_run.py [--contents 400] [--styles 5]
                                       [--shard-size auto 16] [--dir /tmp/real_run]

Makes a throwaway collection in --dir (started over on every run): --contents x
--styles tiny patterned PNGs (40 x 30 px, each different), pairs made tiny (size 32,
2 steps, CPU, the default network: VGG19 `original`).  Then, once for each
--shard-size (by default `auto`, whatever it gives, and 16: about 16 pairs per job, as
nst.shards cuts them, 5 to 30 here, 155 jobs at 2,000 pairs), from nothing
(results/, logs/ and .snakemake/ removed, images kept), times `snakemake --cores 2` on
the whole workflow (validation, plan, style targets, pair jobs, summary, gallery) and
prints the wall time, the jobs by rule, the jobs' own time and what is left.

What is counted as a job's own time: the life of the job's process, the Python
interpreter that Snakemake starts for the rule's script (`python .snakemake/scripts/
tmpXXXX.<script>.py`), from the moment it appears in /proc to the moment it is gone:
its start-up, imports, weights and all its work, and its exit.  The rules have no
`benchmark:` and Snakemake 9 keeps no per-job statistics of its own (no --stats), so
this script watches /proc every --poll seconds (both ends to within half of that;
nothing in the workflow is wrapped or changed).  What is left of the wall time is
Snakemake's: its start (parsing, the DAG), picking and preparing each job, spawning it,
checking its outputs and writing its metadata afterwards, the checkpoint's re-plan, and
its exit.  The overhead per job is

    (wall - time during which at least one job process is alive) / jobs

which is (wall - sum of the jobs' own times) / jobs when the jobs run one at a time,
as pair jobs do here (on the CPU each takes every core Snakemake has); only the
one-thread style-target jobs may run two at once.  Also printed, as cross-checks:
Snakemake's own record in .snakemake/metadata/ (from the job's incomplete-marker to its
output's last write; it misses what a job does after writing its output, such as its
exit), and the pairs' own optimisation time (`seconds` in the shard manifests, as in
summary.tsv), which leaves a pair job's start-up, loading, scoring and writing.  A run
that fails, or this script stopped by a SIGTERM (Snakemake is then stopped too), still
prints the figures of the jobs that ran, marked INCOMPLETE, up to the last one's end.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from nst.tsv import read_rows  # noqa: E402  (the workflow's table format)

# The rules' scripts (workflow/rules/*.smk), by the rule that runs them.
RULE_OF_SCRIPT = {
    "validate_inputs": "validate_inputs",
    "plan_shards": "plan_shards",
    "style_targets": "style_targets",
    "stylize_shard": "stylize_shard",
    "summarize": "summary",
    "gallery": "gallery",
}


class JobWatch(threading.Thread):
    """Lives of the Python processes that run a rule's script from `scripts` (a job's
    .snakemake/scripts/ folder): (rule, start, end) in time.time() seconds."""

    def __init__(self, scripts: Path, poll: float):
        super().__init__(daemon=True)
        self.marker = str(scripts) + "/tmp"
        self.poll = poll
        self.lives: list[tuple[str, float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        seen: set[int] = set()
        young: dict[int, float] = {}  # pid -> first seen, until its command line is known
        live: dict[int, tuple[str, float]] = {}
        while True:
            stopping = self.done.is_set()
            now = time.time()
            pids = {int(name) for name in os.listdir("/proc") if name.isdigit()}
            for pid in pids - seen:
                young[pid] = now - self.poll / 2
            seen = pids  # a pid that has gone may come back as another process
            for pid, first in list(young.items()):
                rule = self.rule_of(pid) if pid in pids else None
                if rule:
                    live[pid] = (rule, first)
                # Forked processes show their parent's command line until they exec.
                if rule or pid not in pids or now - first > 2:
                    del young[pid]
            for pid, (rule, start) in list(live.items()):
                if pid not in pids:
                    self.lives.append((rule, start, now - self.poll / 2))
                    del live[pid]
            if stopping:
                return
            time.sleep(self.poll)

    def rule_of(self, pid: int) -> str | None:
        """The rule of a job's process; None for others, such as the shell Snakemake starts
        the interpreter with, or a process that a job forks (same command line)."""
        script = self.script_of(pid)
        if script is None:
            return None
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        return None if self.script_of(parent) else RULE_OF_SCRIPT.get(script, script)

    def script_of(self, pid: int) -> str | None:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            return None
        if not argv or "python" not in Path(argv[0]).name:
            return None
        for arg in argv[1:]:
            if arg.startswith(self.marker) and arg.endswith(".py"):
                return arg[:-3].rsplit(".", 1)[-1]
        return None


def write_image(path: Path, seed: int) -> None:
    """A 40 x 30 px picture of its own: a gradient of random colours plus noise (not
    tests/conftest.py's helper: importing conftest loads torch, 1 GB beside the run)."""
    rng = np.random.default_rng(seed)
    y, x, _ = np.mgrid[0:30, 0:40, 0:1] / 40
    image = rng.uniform(0, 1, 3) + rng.uniform(-1, 1, 3) * x + rng.uniform(-1, 1, 3) * y
    image = np.clip(image + rng.normal(0, 0.1, image.shape), 0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((image * 255).astype(np.uint8)).save(path)


def snakemake_command(work: Path, *args: str) -> list[str]:
    """As tests/conftest.py's: this workflow's Snakefile on the work folder and its
    config.yaml (--configfile first: it takes every word up to the next option)."""
    config = ["--configfile", str(work / "config.yaml")]
    return [sys.executable, "-m", "snakemake", *config, "-s", str(REPO / "Snakefile"), *args]


def make_collection(work: Path, contents: int, styles: int) -> None:
    """Patterned 40 x 30 px images, each its own seed: no two the same, none flat."""
    if work.exists() and any(work.iterdir()) and not (work / "content").is_dir():
        raise SystemExit(f"{work} is not empty and not this script's: pick another --dir")
    shutil.rmtree(work, ignore_errors=True)
    for role, count, offset in (("content", contents, 0), ("style", styles, 10**6)):
        for i in range(count):
            write_image(work / role / f"{role}{i:05d}.png", seed=offset + i)


def write_config(work: Path, shard_size: str) -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(
        content_dir=str(work / "content"),
        style_dir=str(work / "style"),
        results="results",  # in the work folder (snakemake -d)
        size=32,
        min_input_side=16,  # 40 x 30 at size 32 is 32 x 24
        steps=2,
        device="cpu",
        gpus_per_job=0,
        backbone="vgg19",
        weights={},  # VGG19's default source, `original`
        shard_size=shard_size if shard_size == "auto" else int(shard_size),
    )
    (work / "config.yaml").write_text(yaml.safe_dump(config))


def metadata_jobs(work: Path) -> list[tuple[str, float, float]]:
    """Snakemake's own record of each job: (rule, incomplete-marker's date, last output's
    date), its outputs' records grouped by job."""
    jobs: dict[int, list] = {}
    folder = work / ".snakemake" / "metadata"
    for path in folder.iterdir() if folder.is_dir() else []:
        record = json.loads(path.read_text())
        name = base64.urlsafe_b64decode(path.name + "=" * (-len(path.name) % 4)).decode()
        key = record.get("job_hash") or hash(name)
        job = jobs.setdefault(key, [record["rule"], record["starttime"], record["endtime"]])
        job[1] = min(job[1], record["starttime"])
        job[2] = max(job[2], record["endtime"])
    return [tuple(job) for job in jobs.values()]


def busy_time(lives: list[tuple[str, float, float]]) -> float:
    """Seconds during which at least one of the intervals is open."""
    total, reach = 0.0, float("-inf")
    for _, start, end in sorted(lives, key=lambda life: life[1]):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def gaps(lives: list[tuple[str, float, float]], begin: float, finish: float) -> list[float]:
    """The idle stretches: before the first job, between jobs, after the last."""
    out, reach = [], begin
    for _, start, end in sorted(lives, key=lambda life: life[1]):
        out.append(max(0.0, start - reach))
        reach = max(reach, end)
    return [*out, max(0.0, finish - reach)]


def pair_seconds(work: Path) -> tuple[int, int, float]:
    """Pairs in the shard manifests (what the summary is made of; also after a run that
    stopped early), of them ok, and the sum of their `seconds`."""
    rows = []
    for manifest in (work / "results" / "shards").glob("*.tsv"):
        rows += read_rows(manifest)
    ok = [row for row in rows if row["status"] == "ok"]
    return len(rows), len(ok), sum(float(row["seconds"] or 0) for row in rows)


def by_rule(lives: list[tuple[str, float, float]]) -> dict[str, tuple[int, float]]:
    out: dict[str, list] = defaultdict(lambda: [0, 0.0])
    for rule, start, end in lives:
        out[rule][0] += 1
        out[rule][1] += end - start
    return {rule: tuple(value) for rule, value in out.items()}


def real_run(work: Path, shard_size: str, poll: float) -> bool:
    """Times one run from nothing and prints its figures; False if it did not finish."""
    for old in ("results", "logs", ".snakemake", "snakemake.log"):
        path = work / old
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    write_config(work, shard_size)
    command = snakemake_command(work, "-d", str(work), "--cores", "2", "all")
    watch = JobWatch(work / ".snakemake" / "scripts", poll)
    watch.start()
    stopped = []  # a SIGTERM to this script alone: Snakemake is stopped, the part run reported
    with open(work / "snakemake.log", "w") as log:
        begin = time.time()
        snakemake = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        signal.signal(
            signal.SIGTERM, lambda *_: stopped.append(True) or snakemake.send_signal(signal.SIGTERM)
        )
        returncode = snakemake.wait()
        finish = time.time()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    watch.done.set()
    watch.join()
    complete = returncode == 0 and not stopped
    if not complete:
        # Only what ran: Snakemake's shutdown after a failure or a signal is not counted.
        finish = max((end for _, _, end in watch.lives), default=finish)
        print(
            f"\nINCOMPLETE: snakemake exited with {returncode}"
            f"{' after a SIGTERM' if stopped else ''} (see {work / 'snakemake.log'});"
            " the figures below are those of the jobs that ran, up to the last one's end"
        )

    wall = finish - begin
    lives = watch.lives
    jobs = len(lives)
    rules = by_rule(lives)
    recorded = by_rule(metadata_jobs(work))
    busy = busy_time(lives)
    own = sum(end - start for _, start, end in lives)
    idle = gaps(lives, begin, finish)
    between = idle[1:-1]
    half = len(between) // 2
    pairs, ok, optimising = pair_seconds(work)
    stylize_n, stylize_s = rules.get("stylize_shard", (0, 0.0))

    print(f"\n== shard_size {shard_size}: {pairs} pairs ({ok} ok), {jobs} jobs, --cores 2")
    print(f"started {time.strftime('%H:%M:%S', time.localtime(begin))}")
    print(f"{'rule':16} {'jobs':>5} {'own s':>9} {'mean s':>8}   metadata: jobs, s")
    for rule, (count, seconds) in sorted(rules.items(), key=lambda item: -item[1][0]):
        m_count, m_seconds = recorded.get(rule, (0, 0.0))
        print(
            f"{rule:16} {count:5d} {seconds:9.1f} {seconds / count:8.2f}"
            f"   {m_count:5d} {m_seconds:9.1f}"
        )
    print(f"wall                    {wall:9.1f} s")
    print(
        f"jobs' own time, summed  {own:9.1f} s (process lives; metadata:"
        f" {sum(s for _, s in recorded.values()):.1f} s)"
    )
    print(f"jobs running (union)    {busy:9.1f} s")
    print(
        f"Snakemake's share       {wall - busy:9.1f} s = {idle[0]:.1f} before the first job"
        f" + {sum(between):.1f} between jobs + {idle[-1]:.1f} after the last"
    )
    if between:
        print(
            f"gap between jobs        median {1000 * statistics.median(between):.0f} ms,"
            f" max {1000 * max(between):.0f} ms ({len(between)} gaps);"
            f" median of the first half {1000 * statistics.median(between[: half or 1]):.0f} ms,"
            f" of the second {1000 * statistics.median(between[half:]):.0f} ms"
        )
    print(
        f"scheduling overhead per job = (wall - time with a job running) / jobs"
        f" = ({wall:.1f} - {busy:.1f}) / {jobs} = {1000 * (wall - busy) / max(1, jobs):.0f} ms"
    )
    print(
        f"  the same if no two jobs overlapped: (wall - sum of job times) / jobs"
        f" = ({wall:.1f} - {own:.1f}) / {jobs}"
        f" = {1000 * (wall - own) / max(1, jobs):.0f} ms"
    )
    if stylize_n:
        rest = stylize_s - optimising
        print(
            f"pair jobs               {stylize_s:.1f} s, optimising the pairs {optimising:.1f} s;"
            f" the rest (start-up, weights, reading, scoring, writing) {rest:.1f} s ="
            f" {rest / stylize_n:.2f} s per job, {1000 * rest / max(1, pairs):.0f} ms per pair"
        )
    print(f"per pair, all in        {1000 * wall / max(1, pairs):.0f} ms", flush=True)
    return complete


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contents", type=int, default=400)
    parser.add_argument("--styles", type=int, default=5)
    parser.add_argument(
        "--shard-size", nargs="+", default=["auto", "16"], help="numbers or auto, one run each"
    )
    parser.add_argument("--dir", type=Path, default=Path("/tmp/real_run"))
    parser.add_argument("--poll", type=float, default=0.01, help="seconds between /proc scans")
    args = parser.parse_args()

    work = args.dir.resolve()
    if work == REPO or REPO in work.parents:
        raise SystemExit("--dir must be outside the repository")
    started = time.time()
    make_collection(work, args.contents, args.styles)
    print(
        f"collection  {args.contents} x {args.styles} = {args.contents * args.styles} pairs"
        f" in {work}, 40 x 30 px, size 32, 2 steps, CPU, vgg19 original"
        f" ({time.time() - started:.1f} s to make)"
    )
    for shard_size in args.shard_size:
        if not real_run(work, shard_size, args.poll):
            raise SystemExit(1)


if __name__ == "__main__":
    main()
