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

from .settings import HighresSettings, PairSettings, with_steps

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
STYLE_UNTILED_MAX = 1536  # larger style sizes are computed tile by tile
# Highres (nst.highres): the image-sized buffers of a refinement scale (image, gradient,
# Adam's moments, content, start, temporaries: 8 x 3 channels x 4 bytes per pixel),
# beside one tile's graph at CPU_MB_PER_PIXEL, and what a refinement pass costs against
# an L-BFGS step per pixel: two sweeps over tiles that overlap.  Measured on the CPU,
# 2 threads, 512 px tiles: 26.5 s per megapixel-pass at 1024 px (bench/highres.py
# --sizes 1024 --steps 3 --threads 2) against 8.2 s per megapixel-step of L-BFGS there.
HIGHRES_IMAGE_BUFFERS = 8
HIGHRES_IMAGE_MB_PER_PIXEL = HIGHRES_IMAGE_BUFFERS * 3 * 4 / 1e6
HIGHRES_PASS_COST = 3.2
HIGHRES_AUTO_TILE = 1024  # what tile: auto is counted as without a memory_budget
SHORTEST_JOB_MINUTES = 10
# What a pair job is sized by (shard_size: auto): the expected, not the worst, speed.
# CPU: VGG19 ran 2.05 s/step at 512 px on 2 threads here (bench/step_speed.py), about
# 16 thread-seconds per megapixel-step.  GPU: not measured yet; 223 GFLOP per step at
# 384 px at about 40% of an A100-class GPU's TF32 rate gives about 0.02 s.
EXPECTED_CPU_THREAD_SECONDS_PER_MEGAPIXEL_STEP = 16.0
EXPECTED_GPU_SECONDS_PER_MEGAPIXEL_STEP = 0.02
# With the per-pair stop, the mean share of the cap a pair takes at the defaults:
# bench/time_to_quality.py's `work` line over the six sample pairs at 384 px
# (docs/performance.md, "Steps per pair").
EXPECTED_STOP_SHARE = 0.62
MAX_PAIRS_PER_JOB = 2000  # keeps one shard's params and manifest small
STYLE_JOB_MINUTES = 10
FIRST_BATCH_CAP = 16


def _retry_scale(attempt: int) -> int:
    return 2 ** (attempt - 1)


def megapixel_steps(stages_per_pair: Iterable[Sequence[tuple[int, int]]]) -> float:
    """Work of some pairs, each given by its (long side, steps) stages."""
    return sum(size * size * steps for stages in stages_per_pair for size, steps in stages) / 1e6


def pair_work(settings: PairSettings, steps: int | None = None, expected: bool = False) -> float:
    """Megapixel-steps of one pair: its whole-image stages (`steps`: a sheet's override
    of the last one's) plus its highres passes, each counted as HIGHRES_PASS_COST steps.
    At most that (time limits); `expected`: what the per-pair stop leaves on average
    (sizing jobs by their work)."""
    work = megapixel_steps([with_steps(settings.stages, steps)])
    if expected and settings.stop_tolerance > 0:
        work *= EXPECTED_STOP_SHARE
    if settings.highres:
        passes = [(size, settings.highres.steps) for size in settings.refinement_sizes]
        work += HIGHRES_PASS_COST * megapixel_steps([passes])
    return work


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


def pair_mem_mb(
    gpus: int,
    size: int,
    batch_size: int | str,
    attempt: int = 1,
    highres: HighresSettings | None = None,
) -> int:
    """Host memory of a pair job, MB (batch_size as configured: auto is 1 on CPU).

    With highres the whole image is optimised only up to its base size; above, a
    scale holds image buffers at `size` (on the host, also beside a GPU) and one tile's
    graph (on the CPU)."""
    batch = 1 if batch_size == "auto" else int(batch_size)
    if highres is None:
        per_image = 0 if gpus else CPU_MB_PER_PIXEL * size**2
    else:
        buffers = HIGHRES_IMAGE_MB_PER_PIXEL * size**2
        whole = 0 if gpus else CPU_MB_PER_PIXEL * highres.base_size**2
        per_image = buffers if gpus else max(whole, buffers + _tile_mb(highres, buffers))
    mb = (GPU_JOB_HOST_MB if gpus else CPU_JOB_BASE_MB) + per_image * batch
    return int(mb * _retry_scale(attempt))


def _tile_mb(highres: HighresSettings, buffers_mb: float) -> float:
    """One tile's graph on the CPU, MB: its side, or for tile auto its budget's share."""
    if highres.tile != "auto":
        return CPU_MB_PER_PIXEL * highres.tile**2
    if highres.memory_budget != "auto":
        return max(0.0, highres.memory_budget * 1e3 - buffers_mb)
    return CPU_MB_PER_PIXEL * HIGHRES_AUTO_TILE**2


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
    """Host memory of a style-target job, MB: the network's features of the largest
    size, which above STYLE_UNTILED_MAX come a tile at a time (nst.style_targets)."""
    untiled = min(largest_style_size, STYLE_UNTILED_MAX)
    image = 3 * 4 / 1e6 * largest_style_size**2
    mb = GPU_JOB_HOST_MB if gpus else CPU_JOB_BASE_MB + STYLE_MB_PER_PIXEL * untiled**2
    return int((mb + image) * _retry_scale(attempt))


def style_runtime_minutes(attempt: int = 1) -> int:
    """Wall-time limit of a style-target job, minutes."""
    return STYLE_JOB_MINUTES * _retry_scale(attempt)
