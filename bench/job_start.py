"""Seconds a pair job spends before its first step: Python, imports, weights.

    .venv/bin/python bench/job_start.py [--repeat 3] [--min-ms 30]

Every pair job is a fresh interpreter that Snakemake starts with its script preamble
(unpickling the job's `snakemake` object imports snakemake.script), then runs
scripts/stylize_shard.py: its imports (pandas, nst.shard and what that imports), then
the default network's weights (vgg19/original: sha256, torch.load, dequantisation),
and at the first pair's score the quality judge's (efficientnet_lite0).  Each phase is
timed in fresh interpreters, --repeat times (medians; files in the page cache, as for
every job but the first on a machine).  Then one `python -X importtime` of the same
imports lists each import that one of this project's modules (or the script) makes
and that costs over --min-ms, cumulative: what making it lazy would move out of the
job's start.  The first module to import a package pays for it, so the list follows
the script's import order.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"

# scripts/stylize_shard.py's imports, in its order, after Snakemake's preamble.
PREAMBLE = "import snakemake.script, snakemake.logging"
IMPORTS = "import pandas, nst.gpus, nst.io, nst.plan, nst.row, nst.runtime, nst.settings, nst.shard"

CHILD = f"""
import json, sys, time
sys.path.insert(0, {str(SCRIPTS)!r})
times = {{}}
start = time.perf_counter()
{PREAMBLE}
times["preamble"] = time.perf_counter() - start
start = time.perf_counter()
{IMPORTS}
times["imports"] = time.perf_counter() - start
import yaml
from nst.backbones import build_backbone
from nst.catalog import resolve_backbone
from nst.quality import JUDGES, judge_for

config = yaml.safe_load(open("config.yaml"))
resolved = resolve_backbone(config["backbone"], config["weights"] or {{}})
net = resolved.network
keep = {{*(config["content_layers"] or net.content_layers),
        *(config["style_layers"] or net.style_layers)}}
start = time.perf_counter()
build_backbone(net, resolved.file, keep, config["pooling"], resolved.sha256)
times["weights"] = time.perf_counter() - start
judge = judge_for(net.backbone)
start = time.perf_counter()
layers = JUDGES[judge.backbone]
build_backbone(judge, judge.default_file(), [*layers.content, *layers.style])
times["judge"] = time.perf_counter() - start
print(json.dumps(times))
"""


def interpreter_start() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def phases() -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD], check=True, capture_output=True, text=True, cwd=REPO
    )
    return json.loads(result.stdout.splitlines()[-1])


def costly_imports(min_ms: float) -> list[tuple[float, str, str]]:
    """(cumulative ms, importer, module) of the imports this project's code makes."""
    code = f"import sys; sys.path.insert(0, {str(SCRIPTS)!r}); {PREAMBLE}; {IMPORTS}"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    # "import time: self [us] | cumulative | <2 spaces per level>name", printed when a
    # module finishes loading, so a module's imports come before it, one level deeper.
    entries = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        entries.append((depth, int(cumulative) / 1000, name.strip()))
    costly = []
    for i, (depth, ms, name) in enumerate(entries):
        # The importer is the next entry one level up.
        parent = next((n for d, _, n in entries[i + 1 :] if d < depth), "the script")
        ours = parent == "the script" or parent.split(".")[0] == "nst"
        if ours and ms >= min_ms:
            costly.append((ms, parent, name))
    return sorted(costly, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--min-ms", type=float, default=30.0)
    args = parser.parse_args()

    phases()  # warm the page cache
    starts = [interpreter_start() for _ in range(args.repeat)]
    runs = [phases() for _ in range(args.repeat)]
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    print(
        f"python start: {statistics.median(starts):.2f} s, "
        f"snakemake preamble: {median['preamble']:.2f} s"
    )
    print(f"imports: {median['imports']:.2f} s, weights: {median['weights']:.2f} s")
    print(f"quality judge's weights (at the first score): {median['judge']:.2f} s")
    print(f"\nimports over {args.min_ms:g} ms (cumulative; -X importtime, one run):")
    for ms, parent, name in costly_imports(args.min_ms):
        print(f"  {ms / 1000:6.2f} s  {name:<40} imported by {parent}")


if __name__ == "__main__":
    main()
