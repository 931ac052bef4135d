"""The workflow on a real SLURM cluster, submitted by Snakemake's SLURM executor plugin
with profiles/slurm, as on an HPC login node.

The cluster is one node on this machine, started by tests/slurm/local_slurm.sh (it
installs Debian's SLURM packages if missing; needs root).  Without root or apt-get
the cluster tests are skipped, unless NST_REQUIRE_SLURM is set (CI sets it), which
makes that an error.  The dry-run tests at the top need no cluster.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ONE_THREAD, REPO, planned, snakemake_command, tiny_workflow

pytestmark = pytest.mark.slow

LOCAL_SLURM = REPO / "tests" / "slurm" / "local_slurm.sh"
SLURM_DIR = Path(os.environ.get("NST_SLURM_DIR", "/var/tmp/nst-slurm"))


# ---- a small workflow ------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path, vgg19_file):
    """3 photos x 2 styles at 32 px, 5 steps, 2 pairs per shard: 3 pair jobs (a photo's
    two styles share one, nst.shards)."""
    return tiny_workflow(tmp_path, vgg19_file)


def snakemake(workdir, *args, timeout=600, env=None):
    """Run Snakemake on the workdir; its output is also kept in workdir/snakemake-N.log.

    `timeout -k`: Snakemake ignores SIGTERM while jobs run, so it is killed 30 s later.
    """
    command = ["timeout", "-k", "30", str(timeout), *snakemake_command(workdir, *args)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout + 60,
        env={**ONE_THREAD, **(env or {})},
    )
    number = len(list(workdir.glob("snakemake-*.log"))) + 1
    (workdir / f"snakemake-{number}.log").write_text(done.stdout + done.stderr)
    return done


def output(done) -> str:
    return done.stdout + done.stderr


def job_blocks(text: str, rule: str) -> list[str]:
    """The dry-run's description of each job of a rule."""
    blocks = re.split(r"\n(?=\s*\[[A-Z][a-z]{2} [A-Z][a-z]{2} )", text)
    return [b for b in blocks if re.search(rf"^\s*(local)?rule {rule}:", b, re.M)]


def resources(block: str) -> dict:
    line = re.search(r"resources: (.*)", block).group(1)
    return dict(item.split("=", 1) for item in line.split(", "))


# ---- the profile, without a cluster -----------------------------------------------


def test_slurm_profile_asks_one_gpu_per_pair_job(workdir):
    """On a login node without GPUs, the SLURM profile still asks a GPU for every pair and
    style job (config gpus_per_job: auto), with memory and time for the shard, and packs
    pair jobs into groups; gpus_per_job: 0 makes them CPU jobs."""
    assert snakemake(workdir, "plan_shards", "--cores", "1").returncode == 0

    slurm_profile = str(REPO / "profiles" / "slurm")
    for how in ("--workflow-profile", "--profile"):
        done = snakemake(workdir, how, slurm_profile, "-n", env={"CUDA_VISIBLE_DEVICES": ""})
        text = output(done)
        assert done.returncode == 0, text
        pairs = job_blocks(text, "stylize_shard")
        styles = job_blocks(text, "style_targets")
        assert len(pairs) == 3 and len(styles) == 2, text
        for block in pairs + styles:
            res = resources(block)
            assert res["gpu"] == "1" and res["mem_mb"] == "6144" and res["runtime"] == "10", block
        assert "Group job stylize" in text

    done = snakemake(
        workdir, "--workflow-profile", slurm_profile, "-n", "--config", "gpus_per_job=0"
    )
    for block in job_blocks(output(done), "stylize_shard"):
        res = resources(block)
        assert res["gpu"] == "0" and int(res["mem_mb"]) < 6144, block


def test_profiles_combine_without_conflict():
    """`--profile profiles/slurm` runs with profiles/default applied after it, key by key:
    apart from `cores`, a key both set must have the same value there."""
    default = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    slurm = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert slurm["executor"] == "slurm"
    assert slurm["resources"] == {"gpu": 1} and slurm["set-resource-scopes"] == {"gpu": "local"}
    assert slurm["group-components"]["stylize"] >= 1
    clashes = {k for k in set(default) & set(slurm) if default[k] != slurm[k]}
    assert clashes == set(), clashes
    assert "resources" not in default  # the workflow sets the local GPU count itself


# ---- a cluster job as a cluster runs it, without a cluster ------------------------

# What Snakemake's executor plugins put on the command line of every job they submit,
# as far as it decides which jobs the job's own Snakemake runs (from snakemake-interface-
# executor-plugins' RealExecutor.format_job_exec and Snakemake's SpawnedJobArgsFactory;
# storage, deployment and logging options left out).  test_workflow_on_slurm checks
# that the jobs SLURM gets carry each of them.
SPAWNER_FLAGS = (
    *("--cores", "1", "--attempt", "1", "--force-use-threads", "--force"),
    *("--target-files-omit-workdir-adjustment", "--max-inventory-time", "0", "--retries", "0"),
    *("--nocolor", "--no-hooks", "--nolock", "--ignore-incomplete"),
    *("--rerun-triggers", "input", "software-env", "code", "params", "mtime"),
    *("--mode", "remote"),
)


def spawned(workdir: Path, rule: str, jobs: list[str], allowed_rules: bool):
    """These jobs of `rule` as a cluster node runs them: Snakemake in the work folder in
    remote mode, with the spawner's flags.  Snakemake since 9.6.2 adds --allowed-rules
    to every job; before, not to a job planned after a checkpoint (all of this
    workflow's shard and style jobs, in a run that plans), and a job without it once
    ran validation again (fixed in 3af904d)."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    command += ["--target-jobs", *(f"{rule}:{job}" for job in jobs)]
    command += ["--allowed-rules", rule] if allowed_rules else []
    command += [*SPAWNER_FLAGS, "--configfiles", str(workdir / "config.yaml")]
    return subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=600, env=ONE_THREAD
    )


@pytest.mark.parametrize("allowed_rules", [True, False], ids=["allowed-rules", "without"])
def test_cluster_jobs_run_as_spawned_on_a_planned_collection(workdir, allowed_rules):
    """The main process plans and submits; each job's Snakemake runs that job alone and
    leaves what the main process then takes as done."""
    assert snakemake(workdir, "plan_shards", "--cores", "1").returncode == 0
    styles = [f"style={path.stem}" for path in sorted((workdir / "in" / "style").iterdir())]
    done = spawned(workdir, "style_targets", styles, allowed_rules)
    assert done.returncode == 0, output(done)
    # What the main process makes itself before it submits the pair jobs.
    assert snakemake(workdir, "--cores", "1", "--omit-from", "stylize_shard").returncode == 0
    shards = sorted(path.stem for path in (workdir / "results/plan/shards").glob("*.json"))
    done = spawned(workdir, "stylize_shard", [f"shard={s}" for s in shards], allowed_rules)
    text = output(done)
    assert done.returncode == 0, text
    assert not re.search(r"rule (validate_inputs|plan_shards):", text), text
    assert all((workdir / "results" / "shards" / f"{s}.tsv").is_file() for s in shards)
    assert planned(workdir) == {"summary": 1, "gallery": 1, "all": 1}  # the jobs' work stands


# ---- the real cluster -------------------------------------------------------------


def slurm_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the local SLURM cluster needs root"
    if not shutil.which("apt-get") and not shutil.which("slurmctld"):
        return "the local SLURM cluster needs apt-get (Debian/Ubuntu) or SLURM installed"
    return None


def daemon_pids() -> list[int]:
    files = [SLURM_DIR / "slurmctld.pid", SLURM_DIR / "slurmd.pid", SLURM_DIR / "munge/munged.pid"]
    return [int(f.read_text()) for f in files if f.is_file() and f.read_text().strip()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A one-node SLURM cluster for this module's tests; stopped (by pid) afterwards."""
    reason = slurm_unavailable()
    if reason:
        if os.environ.get("NST_REQUIRE_SLURM"):
            pytest.fail(f"NST_REQUIRE_SLURM is set, but {reason}")
        pytest.skip(f"{reason} (set NST_REQUIRE_SLURM=1 to make this an error)")
    # One cluster per machine: a second test session waits for this one to finish.
    SLURM_DIR.parent.mkdir(parents=True, exist_ok=True)
    lock = open(SLURM_DIR.parent / "nst-slurm.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        started = subprocess.run(
            [str(LOCAL_SLURM), "start"], capture_output=True, text=True, timeout=900
        )
        pids = daemon_pids()
        try:
            assert started.returncode == 0, f"local SLURM did not start:\n{started.stderr}"
            cpus = int(subprocess.check_output(["sinfo", "-h", "-o", "%c"], text=True).split()[0])
            yield {"cpus": cpus}
        finally:
            stopped = subprocess.run(
                [str(LOCAL_SLURM), "stop"], capture_output=True, text=True, timeout=120
            )
            assert stopped.returncode == 0, stopped.stderr
            assert pids and not [p for p in pids if alive(p)], "a SLURM daemon outlived stop"
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def on_slurm(cluster, workdir, *args, timeout=600, env=None):
    """The workflow through the SLURM profile, with what this test cluster needs: squeue
    for job status (no accounting database here, so no sacct), a first status check after
    1 s instead of 40, and no more cores per job or group than the node has."""
    cpus = str(cluster["cpus"])
    return snakemake(
        workdir,
        "--workflow-profile",
        str(REPO / "profiles/slurm"),
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--cores",
        cpus,
        "--max-threads",
        cpus,
        "--local-cores",
        "1",
        "--verbose",  # prints each sbatch call
        *args,
        timeout=timeout,
        env=env,
    )


def sbatch_calls(text: str, part: int = 0) -> list[str]:
    """Each sbatch command line the plugin ran, without the job's own command (part 1:
    only that command, the --wrap)."""
    return [
        line.split("sbatch call: ", 1)[1].split(" --wrap=")[part]
        for line in text.splitlines()
        if "sbatch call: " in line
    ]


def option(call: str, name: str) -> str | None:
    found = re.search(rf"(?:^| ){re.escape(name)}[= ](\S+)", call)
    return found.group(1) if found else None


def slurm_jobs() -> dict[str, tuple[str, str]]:
    """Every job this cluster still remembers: id -> (state, comment)."""
    listing = subprocess.check_output(["squeue", "-h", "-t", "all", "-o", "%i|%T|%k"], text=True)
    return {
        i: (state, comment)
        for i, state, comment in (line.split("|", 2) for line in listing.splitlines())
    }


def test_workflow_on_slurm(cluster, workdir, vgg19_file):
    # ---- the weights download is a local rule: never a cluster job -----------------
    # (compute nodes may have no internet; the jobs read resources/weights/)
    from nst.io import sha256_file

    config_file = workdir / "config.yaml"
    own = config_file.read_text()
    config = yaml.safe_load(own)
    url, sha256 = vgg19_file.as_uri(), sha256_file(vgg19_file)
    config["weights"] = {"vgg19": {"source": "torchvision", "url": url, "sha256": sha256}}
    config_file.write_text(yaml.safe_dump(config))
    done = on_slurm(cluster, workdir, "fetch_weights")
    assert done.returncode == 0, output(done)
    assert "localrule download_weights:" in output(done) and not sbatch_calls(output(done))
    assert (workdir / "resources" / "weights" / "vgg19-dcbb9e9d.pth").is_file()
    config_file.write_text(own)  # the run below uses the test's weights file as it is

    # ---- a full run: every pair job is a SLURM job, asking a (fake) GPU -------------
    done = on_slurm(cluster, workdir)
    text = output(done)
    assert done.returncode == 0, text
    summary = pd.read_csv(workdir / "results" / "summary.tsv", sep="\t")
    assert len(summary) == 6 and set(summary.status) == {"ok"}
    assert all((workdir / path).is_file() for path in summary.output)
    assert (workdir / "results" / "gallery" / "index.html").is_file()

    calls = sbatch_calls(text)
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", text))
    jobs = slurm_jobs()
    assert len(calls) == len(submitted) == 3, calls  # 2 style jobs, 1 group of 3 pair jobs
    assert all(jobs[i][0] == "COMPLETED" for i in submitted)
    assert all(option(call, "--gpus") == "1" for call in calls)
    group = [c for c in calls if "--comment rule_stylize_stylize_shard" in c]
    assert len(group) == 1, calls
    # The group's jobs take turns on its one GPU: its time limit is their sum.
    assert option(group[0], "-t") == "30" and option(group[0], "--mem") == "6144"
    for rule in ("download_weights", "validate_inputs", "plan_shards", "summary", "gallery"):
        assert not [c for c in calls if f"--comment rule_{rule}" in c]
    # Each job runs with the flags test_cluster_jobs_run_as_spawned_on_a_planned_collection
    # gives it (--force-use-threads: not to a group).
    for wrap in sbatch_calls(text, part=1):
        options = set(re.findall(r"(?<= )--[a-z-]+", wrap))
        expected = {flag for flag in SPAWNER_FLAGS if flag.startswith("--")}
        assert expected - {"--force-use-threads"} <= options, wrap
        assert "--allowed-rules" in options and "--mode 'remote'" in wrap, wrap

    shards = sorted((workdir / "results" / "shards").glob("*.tsv"))
    assert len(shards) == 3
    for shard in shards:
        log = (workdir / "logs" / "stylize" / f"{shard.stem}.log").read_text()
        found = re.search(r"SLURM job (\d+) on \S+: .*CUDA_VISIBLE_DEVICES=0\)", log)
        assert found and found.group(1) in submitted, log
    stamps = {p: p.stat().st_mtime_ns for p in (workdir / "results").rglob("*") if p.is_file()}

    # ---- a rerun submits nothing ----------------------------------------------------
    done = on_slurm(cluster, workdir)
    assert done.returncode == 0 and "Nothing to be done" in output(done), output(done)
    assert sbatch_calls(output(done)) == []
    assert slurm_jobs().keys() == jobs.keys()

    # ---- a job that fails is reported as failed, retried with more memory and time ----
    # style1's style targets are asked for again, and each job that makes them is killed
    # as it writes them (the fault hook of tests/faults/, in the jobs' environment).
    cache = "results/cache/style_targets/style1.safetensors"
    (workdir / cache).unlink()
    kill = {"PYTHONPATH": str(REPO / "tests" / "faults"), "NST_KILL_WRITING": Path(cache).name}
    # (and as on a CPU-only cluster)
    done = on_slurm(cluster, workdir, "all", cache, "--config", "gpus_per_job=0", env=kill)
    text = output(done)
    assert done.returncode != 0, text
    assert "Error in rule style_targets" in text and "style=style1" in text
    failed = [c for c in sbatch_calls(text) if "rule_style_targets_wildcards_style1" in c]
    assert [option(c, "--mem") for c in failed] == ["2050", "4100", "8200"], failed
    assert [option(c, "-t") for c in failed] == ["10", "20", "40"], failed
    assert not [c for c in failed if "--gpus" in c]
    ids = re.findall(r"SLURM-job '(\d+)' failed, SLURM status is: 'FAILED'", text)
    assert len(ids) == 3 and all(slurm_jobs()[i][0] == "FAILED" for i in ids), text
    assert "style_targets.py' died with <Signals.SIGKILL: 9>" in text  # the job's log, shown
    # Nothing that does not need style1 was touched.
    for path, stamp in stamps.items():
        if path.exists() and "style1" not in str(path) and "shards" not in str(path):
            assert path.stat().st_mtime_ns == stamp, path
