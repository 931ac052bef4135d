"""GPU counting and the per-job GPU picker (scripts/nst/gpus.py), with fake GPUs:
CUDA_VISIBLE_DEVICES says how many there are, the locks are real flocks."""

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime

import pytest

from conftest import REPO, tiny_workflow
from nst import gpus

# A job as the workflow's scripts run it: claim a GPU, hold it a while, report.
HOLDER = textwrap.dedent(
    """
    import json, os, sys, time
    sys.path.insert(0, {scripts!r})
    from nst.gpus import claim_gpu
    lock_dir, hold, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    claim = claim_gpu("auto", lock_dir=lock_dir, log=lambda m: None, poll=0.02)
    start = time.time()
    print("claimed", flush=True)
    time.sleep(hold)
    record = {{"gpu": claim.gpu if claim else None, "start": start, "end": time.time(),
              "env": os.environ.get("CUDA_VISIBLE_DEVICES")}}
    with open(out, "w") as handle:
        json.dump(record, handle)
    """
).format(scripts=str(REPO / "scripts"))


def fake_env(visible: str | None, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    env.update(extra)
    return env


def holder(tmp_path, name, visible="0,1", hold=0.3, **extra):
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "locks"), str(hold), str(tmp_path / name)],
        env=fake_env(visible, **extra),
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def clean_env(monkeypatch):
    """No SLURM job, no CUDA_VISIBLE_DEVICES, and no claim left from another test."""
    for key in list(os.environ):
        if key.startswith("SLURM_"):
            monkeypatch.delenv(key)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    yield
    for claim in list(gpus._held):
        claim.release()


def test_counts_gpus_from_cuda_visible_devices_or_the_driver(tmp_path, monkeypatch):
    assert gpus.gpu_ids("auto", {"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert gpus.gpu_ids("auto", {"CUDA_VISIBLE_DEVICES": "GPU-a1b2,GPU-c3d4"}) == [
        "GPU-a1b2",
        "GPU-c3d4",
    ]
    assert gpus.visible_gpus("auto", {"CUDA_VISIBLE_DEVICES": ""}) == 0
    assert gpus.visible_gpus("auto", {"CUDA_VISIBLE_DEVICES": "0,-1,1"}) == 1  # CUDA stops at -1
    assert gpus.visible_gpus("cpu", {"CUDA_VISIBLE_DEVICES": "0,1"}) == 0
    proc = tmp_path / "gpus"
    for bus in ("0000:01:00.0", "0000:02:00.0", "0000:03:00.0"):
        (proc / bus).mkdir(parents=True)
    monkeypatch.setattr(gpus, "NVIDIA_PROC", proc)
    assert gpus.gpu_ids("auto", {}) == ["0", "1", "2"]
    monkeypatch.setattr(gpus, "NVIDIA_PROC", tmp_path / "no-driver")
    assert gpus.visible_gpus("auto", {}) == 0


def test_claims_one_gpu_and_points_cuda_at_it(tmp_path, clean_env, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,7")
    lines = []
    claim = gpus.claim_gpu("auto", lock_dir=tmp_path, log=lines.append)
    assert claim.gpu == "4" and os.environ["CUDA_VISIBLE_DEVICES"] == "4"
    assert claim.slot_file == tmp_path / "gpu-4.lock" and "GPU 4 of 2 claimed" in lines[0]
    assert gpus.claim_gpu("auto", lock_dir=tmp_path) is claim  # one per process
    claim.release()
    assert not gpus._held


@pytest.mark.parametrize("device", ["cpu", "cuda:1"])
def test_leaves_fixed_devices_alone(tmp_path, clean_env, monkeypatch, device):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert gpus.claim_gpu(device, lock_dir=tmp_path) is None
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_no_gpu_no_claim(tmp_path, clean_env, monkeypatch):
    monkeypatch.setattr(gpus, "NVIDIA_PROC", tmp_path / "no-driver")
    assert gpus.claim_gpu("auto", lock_dir=tmp_path) is None
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_inside_a_slurm_job_keeps_slurms_assignment(tmp_path, clean_env, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "1234")
    monkeypatch.setenv("SLURMD_NODENAME", "gpu07")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    lines = []
    assert gpus.claim_gpu("auto", lock_dir=tmp_path, log=lines.append) is None
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert lines == [
        "SLURM job 1234 on gpu07: GPUs as SLURM assigned them (CUDA_VISIBLE_DEVICES=3)"
    ]
    assert not list(tmp_path.iterdir())  # no lock taken


def test_concurrent_jobs_never_share_a_gpu(tmp_path):
    """Six jobs, two fake GPUs: at most two run at once, each on its own GPU."""
    jobs = [holder(tmp_path, f"job{i}.json", hold=0.4) for i in range(6)]
    for job in jobs:
        assert job.wait(timeout=60) == 0
    records = [json.loads((tmp_path / f"job{i}.json").read_text()) for i in range(6)]
    assert {r["gpu"] for r in records} == {"0", "1"}
    assert all(r["env"] == r["gpu"] for r in records)  # CUDA sees only the claimed GPU
    for gpu in ("0", "1"):
        spans = sorted((r["start"], r["end"]) for r in records if r["gpu"] == gpu)
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert start >= end, f"two jobs held GPU {gpu} at once: {spans}"
    # All six took turns: the run took at least three rounds of 0.4 s.
    assert max(r["end"] for r in records) - min(r["start"] for r in records) >= 3 * 0.4 - 0.05


def test_a_killed_jobs_gpu_is_free_again(tmp_path):
    first = holder(tmp_path, "first.json", visible="0", hold=60)
    assert first.stdout.readline().strip() == "claimed"
    second = holder(tmp_path, "second.json", visible="0", hold=0)
    time.sleep(1.0)
    assert second.poll() is None, "the second job must wait while the GPU is held"
    os.kill(first.pid, signal.SIGKILL)  # no clean-up code runs: the kernel drops the flock
    first.wait()
    assert second.wait(timeout=30) == 0
    assert json.loads((tmp_path / "second.json").read_text())["gpu"] == "0"


def test_a_slurm_job_does_not_wait_for_local_slots(tmp_path):
    """Inside SLURM the lock files are not used, even when a local job holds them."""
    first = holder(tmp_path, "first.json", visible="0", hold=60)
    assert first.stdout.readline().strip() == "claimed"
    try:
        inside = holder(tmp_path, "slurm.json", visible="0", hold=0, SLURM_JOB_ID="99")
        assert inside.wait(timeout=30) == 0
        record = json.loads((tmp_path / "slurm.json").read_text())
        assert record["gpu"] is None and record["env"] == "0"
    finally:
        first.kill()
        first.wait()


def test_gives_up_after_a_timeout(tmp_path, clean_env, monkeypatch):
    first = holder(tmp_path, "first.json", visible="0", hold=60)
    assert first.stdout.readline().strip() == "claimed"
    try:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
        lines = []
        with pytest.raises(TimeoutError, match="all 1 GPUs stayed busy"):
            gpus.claim_gpu(
                "auto", lock_dir=tmp_path / "locks", log=lines.append, poll=0.05, timeout=0.3
            )
        assert "held by other jobs" in lines[0]
    finally:
        first.kill()
        first.wait()


@pytest.mark.slow
def test_workflow_on_a_fake_two_gpu_workstation(tmp_path, vgg19_file):
    """Snakemake runs two GPU jobs at once on a machine with two (fake) GPUs, and each job
    claims a different one; --resources gpu=1 overrides the count."""
    from test_slurm import snakemake  # the same helper: config file first, output kept

    tiny_workflow(tmp_path, vgg19_file, contents=4, styles=1, steps=10, shard_size=1, log_every=5)
    env = {"CUDA_VISIBLE_DEVICES": "0,1", "NST_GPU_LOCK_DIR": str(tmp_path / "locks")}
    done = snakemake(tmp_path, "--cores", "4", env=env)
    text = done.stdout + done.stderr
    assert done.returncode == 0, text
    assert re.search(r"Provided resources: .*gpu\D+2\b", text), text
    spans = []
    for log in (tmp_path / "logs" / "stylize").glob("*.log"):
        lines = log.read_text().splitlines()
        claimed = [line for line in lines if "claimed (CUDA_VISIBLE_DEVICES=" in line]
        assert len(claimed) == 1, lines
        gpu = re.search(r"GPU (\S+) of 2 claimed", claimed[0]).group(1)
        stamps = [datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S") for line in lines]
        spans.append((gpu, min(stamps), max(stamps)))
    assert len(spans) == 4 and {gpu for gpu, _, _ in spans} == {"0", "1"}
    for a, b in itertools.combinations(spans, 2):
        if a[0] == b[0]:  # the same GPU: one job after the other (logs have 1 s resolution)
            assert a[2] <= b[1] or b[2] <= a[1], spans

    # One job is enough to see the count (the output as the rule names it, relative).
    one_shard = str(next((tmp_path / "results" / "shards").glob("*.tsv")).relative_to(tmp_path))
    done = snakemake(
        tmp_path, "--cores", "4", "--resources", "gpu=1", "--forcerun", one_shard, env=env
    )
    assert done.returncode == 0 and re.search(
        r"Provided resources: .*gpu\D+1\b", done.stdout + done.stderr
    )


def test_cuda_jobs_autotune_convolutions_cpu_jobs_do_not(monkeypatch):
    import torch

    from nst.runtime import pick_device

    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    assert pick_device("cpu") == "cpu"
    assert torch.backends.cudnn.benchmark is False
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == "cuda"
    assert torch.backends.cudnn.benchmark is True
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        pick_device("cuda:1")
