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
        row.style_score, row.content_score, row.region_scores = score(job, task, image, content)
        row.status = "ok"
        phase = "writing"
        write_result(task.pair, image, task.fingerprint, task.settings, row, result.curve(b))
    except Exception as err:
        return job.failed(task, phase, err, row)
    return row


def score(
    job: Job, task: Task, image: torch.Tensor, content: torch.Tensor
) -> tuple[float, float, str]:
    """The held-out network's quality score (nst.quality) of the image that is saved:
    style, content, and with a mask each styled region's style score ("rrggbb=score;
    ..."), whose mean by area is then the style score."""
    size = task.settings.style_sizes[-1]
    if task.masks is None:
        styles = [(style, weight) for style, _, weight in task.pair.styles]
        result = job.judge.score_pair(image, content, styles, size)
        return round(result.style, 4), round(result.content, 4), ""
    scores, areas, content_score = [], [], None
    for (colour, blend), weight in zip(task.pair.regions, task.masks):
        if not blend:
            continue
        styles = [(style, w) for style, _, w in blend]
        result = job.judge.score_pair(image, content, styles, size, weight)
        scores.append((colour, round(result.style, 4)))
        areas.append(float(weight.mean()))
        content_score = result.content  # the whole photo's, the same for every region
    style = sum(a * s for a, (_, s) in zip(areas, scores)) / max(sum(areas), 1e-12)
    regions = "; ".join(f"{colour}={s}" for colour, s in scores)
    return round(style, 4), round(content_score, 4), regions
