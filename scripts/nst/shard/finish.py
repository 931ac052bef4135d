"""A pair's end once its batch is optimised: colour, quality score, image and record."""

from __future__ import annotations

from dataclasses import replace

import torch

from ..color import preserve_color
from ..outcome import StagedOutcome
from ..results import write_result
from ..row import SummaryRow
from .batch import SAFER
from .errors import base_row
from .job import Job
from .tasks import Task


def finish_pair(
    job: Job, task: Task, result: StagedOutcome, b: int, content: torch.Tensor, seconds: float
) -> SummaryRow:
    """The pair's summary row (image b of the batch's result); for a good result also its
    image and record, in that order."""
    terms = result.last.terms(b)
    row = replace(
        base_row(task, str(job.device)),
        precision=job.precision,
        width=int(content.shape[-1]),
        height=int(content.shape[-2]),
        steps=result.steps(b),
        content_loss=terms.content,
        style_loss=terms.style,
        tv_loss=terms.tv,
        total_loss=terms.total,
        initial_loss=result.initial_total(b),
        seconds=round(seconds, 3),
    )
    if result.retried[b]:
        row.message = f"the loss diverged; retried with {SAFER}"
        row.precision = "fp32"
    if not result.ok(b):
        row.message = (
            f"the loss diverged (NaN, Inf or above its start) even with {SAFER}; "
            "lower style_weight or learning_rate"
        )
        return row
    phase = "colour"
    try:
        image = preserve_color(result.last.image[b], content, task.settings.preserve_color)
        phase = "scoring"
        row.style_score, row.content_score = score(job, task, image, content)
        row.status = "ok"
        phase = "writing"
        write_result(task.pair, image, task.fingerprint, task.settings, row, result.curve(b))
    except Exception as err:
        return job.failed(task, phase, err, row)
    return row


def score(job: Job, task: Task, image: torch.Tensor, content: torch.Tensor) -> tuple[float, float]:
    """The held-out network's quality score (style, content) of the image that is saved
    (nst.quality)."""
    styles = [(style, weight) for style, _, weight in task.pair.styles]
    result = job.judge.score_pair(image, content, styles, task.settings.style_sizes[-1])
    return round(result.style, 4), round(result.content, 4)
