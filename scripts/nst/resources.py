"""What a job asks a scheduler for: memory, wall time and batch caps, as pure functions.

Cluster schedulers enforce these limits (local runs ignore them), and the
workflow and every job it submits must compute the same values, so they depend
only on the settings and the job's pairs, never on the machine.  Each retry
(attempt 2, 3, ...) doubles memory and time and halves the batch cap, so a job
that ran out comes back with room.

Work is counted in megapixel-steps: pixels x steps of every stage of every
pair (the long side squared: an upper bound for any aspect ratio).  Measured on
CPU with VGG19 (128-512 px, one core of a busy machine): about 25 s per
megapixel-step and 4-5 kB per pixel on top of about 1 GB for torch and the
network.  GPU speed is an estimate (not measured here), 5-10x what VGG19's
arithmetic takes on an A100-class GPU.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

CPU_SECONDS_PER_MEGAPIXEL_STEP = 30
GPU_SECONDS_PER_MEGAPIXEL_STEP = 0.5
# Start-up: imports, CUDA, loading the weights and the style targets.
JOB_START_SECONDS = 180
# Host memory beside a GPU: torch, CUDA's libraries and the network.
GPU_JOB_HOST_MB = 6144
# On CPU: torch and the network, plus bytes per pixel of a pair (activations, L-BFGS).
CPU_JOB_BASE_MB = 2048
CPU_MB_PER_PIXEL = 6e-3
STYLE_MB_PER_PIXEL = 2e-3  # a style job: one forward pass per style size
SHORTEST_JOB_MINUTES = 10
# What a pair job is sized by (shard_size: auto): the expected, not the worst, speed.
# CPU: VGG19 ran 2.05 s/step at 512 px on 2 threads here (bench/step_speed.py), about
# 16 thread-seconds per megapixel-step.  GPU: not measured yet; 223 GFLOP per step at
# 384 px at about 40% of an A100-class GPU's TF32 rate gives about 0.02 s.
EXPECTED_CPU_THREAD_SECONDS_PER_MEGAPIXEL_STEP = 16.0
EXPECTED_GPU_SECONDS_PER_MEGAPIXEL_STEP = 0.02
MAX_PAIRS_PER_JOB = 2000  # keeps one shard's params and manifest small
STYLE_JOB_MINUTES = 10
FIRST_BATCH_CAP = 16


def _retry_scale(attempt: int) -> int:
    return 2 ** (attempt - 1)


def megapixel_steps(stages_per_pair: Iterable[Sequence[tuple[int, int]]]) -> float:
    """Work of some pairs, each given by its (long side, steps) stages."""
    return sum(size * size * steps for stages in stages_per_pair for size, steps in stages) / 1e6


def expected_seconds_per_megapixel_step(gpus: int, threads: int) -> float:
    if gpus:
        return EXPECTED_GPU_SECONDS_PER_MEGAPIXEL_STEP
    return EXPECTED_CPU_THREAD_SECONDS_PER_MEGAPIXEL_STEP / max(1, threads)


def pairs_per_job(job_minutes: float, pair_work: float, seconds_per_megapixel_step: float) -> int:
    """How many pairs of `pair_work` megapixel-steps fill a job of `job_minutes` (at least
    one, at most MAX_PAIRS_PER_JOB), after the job's start-up."""
    seconds = max(job_minutes * 60 - JOB_START_SECONDS, 60.0)
    per_pair = max(pair_work * seconds_per_megapixel_step, 1e-3)
    return max(1, min(MAX_PAIRS_PER_JOB, int(seconds / per_pair)))


def pair_mem_mb(gpus: int, size: int, batch_size: int | str, attempt: int = 1) -> int:
    """Host memory of a pair job, MB (batch_size as configured: auto is 1 on CPU)."""
    batch = 1 if batch_size == "auto" else int(batch_size)
    mb = GPU_JOB_HOST_MB if gpus else CPU_JOB_BASE_MB + CPU_MB_PER_PIXEL * size**2 * batch
    return int(mb * _retry_scale(attempt))


def pair_runtime_minutes(work: float, gpus: int, threads: int, attempt: int = 1) -> int:
    """Wall-time limit of a pair job doing `work` megapixel-steps: start-up plus the
    optimisation with 2x headroom, at least SHORTEST_JOB_MINUTES."""
    if gpus:
        seconds = work * GPU_SECONDS_PER_MEGAPIXEL_STEP
    else:
        seconds = work * CPU_SECONDS_PER_MEGAPIXEL_STEP / max(1, threads)
    minutes = (JOB_START_SECONDS + 2 * seconds) / 60
    return max(SHORTEST_JOB_MINUTES, math.ceil(minutes * _retry_scale(attempt)))


def max_batch(configured: int | str, attempt: int = 1) -> int:
    """Images per batch at most: the configured batch size (or FIRST_BATCH_CAP for auto),
    halved on each retry (jobs also split a batch that runs out of GPU memory)."""
    first = FIRST_BATCH_CAP if configured == "auto" else int(configured)
    return max(1, first >> (attempt - 1))


def style_mem_mb(gpus: int, largest_style_size: int, attempt: int = 1) -> int:
    """Host memory of a style-target job, MB."""
    mb = GPU_JOB_HOST_MB if gpus else CPU_JOB_BASE_MB + STYLE_MB_PER_PIXEL * largest_style_size**2
    return int(mb * _retry_scale(attempt))


def style_runtime_minutes(attempt: int = 1) -> int:
    """Wall-time limit of a style-target job, minutes."""
    return STYLE_JOB_MINUTES * _retry_scale(attempt)
