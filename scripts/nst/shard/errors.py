"""What a failure ends: one pair (its failed row says what happened and what to do),
or, for what no pair can be isolated from, the whole job (JobError)."""

from __future__ import annotations

import errno
import traceback
from collections.abc import Callable
from dataclasses import replace

import torch

from ..images import ImageError
from ..row import SummaryRow
from ..weights import WeightsError
from .tasks import Task


class JobError(RuntimeError):
    """A fault that no pair can be isolated from: the job stops with this message."""


# What a pair's failure message adds when the error itself does not say what to do.
RETRY_ADVICE = (
    "the other pairs went on; the traceback is in this shard's log (logs/stylize/); "
    "run again to retry this pair, and report it as a bug if it fails the same way"
)

# What a pair was doing when it failed, as its message says it.
PHASES = {
    "reading": "reading its images and style targets",
    "optimising": "optimising",
    "colour": "the colour step (preserve_color)",
    "scoring": "the quality score",
    "writing": "writing its image and record",
}


def job_error(err: BaseException, writing: str | None = None) -> JobError | None:
    """The job-ending form of `err`, or None when it belongs to one pair only."""
    if isinstance(err, JobError):
        return err
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        where = f" while writing {writing}" if writing else ""
        return JobError(
            f"disk full{where}: free some space and run again "
            "(finished pairs are kept; nothing half-written was left)"
        )
    if isinstance(err, WeightsError):
        return JobError(f"a network cannot load: {err}")
    if isinstance(err, (MemoryError, torch.OutOfMemoryError)):
        return JobError(
            f"out of memory ({err}): lower size or lbfgs_history, enable highres (tiles) "
            "or lower highres.tile, or use a machine with more"
        )
    return None


def base_row(task: Task, device: str) -> SummaryRow:
    """A pair's row before anything is measured: failed until it is finished."""
    s = task.settings
    return SummaryRow(
        pair=task.pair.key,
        content=task.pair.content_name,
        style=task.pair.style_name,
        backbone=s.backbone,
        optimizer=s.optimizer,
        device=device,
        precision=s.precision,
        seed=task.seed,
        output=task.pair.output,
    )


def failed_row(
    task: Task,
    phase: str,
    err: Exception,
    device: str,
    log: Callable[[str], None],
    row: SummaryRow | None = None,
) -> SummaryRow:
    """The failed row of a pair that `err` stopped in `phase` (what it was doing; `row`
    what it had measured), or the job's end when `err` is not the pair's own."""
    fatal = job_error(err, task.pair.output if phase == "writing" else None)
    if fatal:
        raise fatal from err
    log(f"FAILED {task.pair.key} while {PHASES[phase]}:\n{traceback.format_exc()}")
    if isinstance(err, ImageError):
        message = str(err)  # names the file, what is wrong and what to do
    else:
        message = f"{PHASES[phase]} failed: {type(err).__name__}: {err}; {RETRY_ADVICE}"
    return replace(row or base_row(task, device), status="failed", message=message)
