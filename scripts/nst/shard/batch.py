"""One batch of same-size pairs through nst.stylize.stylize: its stages, loss weights,
style targets and starting images, from the pairs' settings."""

from __future__ import annotations

from dataclasses import replace

import torch

from ..images import load_image, resize
from ..losses import LossWeights
from ..method import Method
from ..outcome import StagedOutcome
from ..stages import Refinement, Stage
from ..stylize import stylize
from .job import Job
from .progress import LogWatcher
from .tasks import Task

# What a pair that diverged is retried with (nst.shard.failures).
SAFER_LR = 0.25
SAFER = f"fp32 and {SAFER_LR:g} x the learning rate"


def optimize_batch(
    job: Job, tasks: list[Task], contents: torch.Tensor, safer: bool = False
) -> StagedOutcome:
    """Run every stage (coarse to fine), then any highres refinement scales, for a batch
    of same-size pairs (contents (B, 3, H, W) on the CPU, where highres keeps its
    buffers); `safer`: with SAFER settings."""
    net = job.network()
    s0 = tasks[0].settings  # the batch shares its stages and method (nst.batches)
    precision = "fp32" if safer else job.precision
    lr_scale = SAFER_LR if safer else 1.0
    stages = [
        Stage(
            size,
            Method.from_settings(s0, steps, precision, lr_scale),
            style_grams(job, tasks, s0.style_size(size)),
        )
        for size, steps in s0.stages
    ]
    weights = LossWeights(
        *(
            torch.tensor([getattr(t.settings, k) for t in tasks], device=job.device)
            for k in ("content_weight", "style_weight", "tv_weight")
        )
    )
    refinement = None
    if s0.highres:
        highres = replace(s0.highres, learning_rate=s0.highres.learning_rate * lr_scale)
        refinement = Refinement(highres, lambda size: style_grams(job, tasks, s0.style_size(size)))
    return stylize(
        net,
        contents,
        stages,
        weights,
        init=lambda content: starts(job, tasks, content),
        watcher=LogWatcher(job.log, tasks, contents.shape[-2:], job.progress_every, job.console),
        refinement=refinement,
    )


def style_grams(job: Job, tasks: list[Task], style_size: int) -> dict[str, torch.Tensor]:
    """Each layer's (B, C, C) style targets at this style size (blends summed)."""
    return {
        layer: torch.stack(
            [sum(w * t[f"{style_size}/{layer}"] for t, w in task.targets) for task in tasks]
        ).to(job.device)
        for layer in tasks[0].settings.style_layers
    }


def starts(job: Job, tasks: list[Task], content: torch.Tensor) -> torch.Tensor:
    """Starting images at the first stage's size: the content, seeded noise, or a file."""
    images = []
    for b, task in enumerate(tasks):
        init = task.settings.init
        if init == "content":
            images.append(content[b])
        elif init == "noise":
            generator = torch.Generator().manual_seed(task.seed)
            images.append(torch.rand(content.shape[1:], generator=generator).to(job.device))
        else:
            image = load_image(init, max(content.shape[-2:]), job.max_megapixels)
            images.append(resize(image, tuple(content.shape[-2:])).to(job.device))
    return torch.stack(images)
