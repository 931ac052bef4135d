"""The three failure policies of a batch: a pair that diverged is retried alone with
SAFER settings; a batch the GPU has no memory for runs in halves; a batch that fails
otherwise runs pair by pair, so that each pair finds out alone whether it broke it."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from ..outcome import StagedOutcome
from ..row import SummaryRow
from .batch import SAFER, optimize_batch
from .errors import JobError, job_error
from .finish import finish_pair
from .job import Job
from .tasks import Task


def run_batch(
    job: Job, tasks: list[Task], contents: list[torch.Tensor], add: Callable[[SummaryRow], None]
) -> int:
    """Optimise a batch of same-size pairs (retrying those that diverge) and `add` each
    pair's row; returns how many were retried."""
    batch = torch.stack(contents)
    started = time.perf_counter()
    try:
        result = optimize_or_split(job, tasks, batch)
        diverged = [b for b in range(len(tasks)) if not result.ok(b)]
        if diverged:
            job.log(f"{len(diverged)} pair(s) diverged; retrying them with {SAFER}")
            retry = optimize_or_split(job, [tasks[b] for b in diverged], batch[diverged], True)
            result.replace(diverged, retry)
    except Exception as err:
        if len(tasks) == 1:
            add(job.failed(tasks[0], "optimising", err))
            return 0
        fatal = job_error(err)
        if fatal:
            raise fatal from err
        job.log(f"a batch of {len(tasks)} failed ({err}); running its pairs one by one")
        return sum(run_batch(job, [task], [content], add) for task, content in zip(tasks, contents))
    seconds = (time.perf_counter() - started) / len(tasks)
    job.console.now(f"finishing {len(tasks)} pair(s): colour, score, image and record")
    for b, task in enumerate(tasks):
        add(finish_pair(job, task, result, b, batch[b], seconds))
    job.log(f"done {len(tasks)} pair(s) in {seconds * len(tasks):.1f} s")
    return sum(result.retried)


def optimize_or_split(
    job: Job, tasks: list[Task], contents: torch.Tensor, safer: bool = False
) -> StagedOutcome:
    """Optimise a batch; if the GPU runs out of memory, do it in two halves."""
    try:
        return optimize_batch(job, tasks, contents, safer)
    except torch.OutOfMemoryError:
        if len(tasks) == 1:
            raise JobError(
                f"out of GPU memory for a single {contents.shape[-1]}x{contents.shape[-2]} "
                "image; lower size or lbfgs_history, enable highres (tiles) or lower "
                "highres.tile, or use a GPU with more memory"
            ) from None
        torch.cuda.empty_cache()
        half = len(tasks) // 2
        job.log(f"out of GPU memory with {len(tasks)} images; retrying as {half} + rest")
        first = optimize_or_split(job, tasks[:half], contents[:half], safer)
        first.extend(optimize_or_split(job, tasks[half:], contents[half:], safer))
        return first
