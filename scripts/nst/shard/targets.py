"""A batch's style targets at a stage or scale: each layer's Grams (B, C, C), blends
summed; with masks, per region with the regions' weights (nst.masks.Guided)."""

from __future__ import annotations

import torch

from ..masks import Guided, guided_targets, resize_weights
from .job import Job
from .tasks import Task

Blend = list[tuple[dict[str, torch.Tensor], float]]  # (a style's cached targets, weight)


def style_targets(
    job: Job, tasks: list[Task], long_side: int, hw: tuple[int, int], masks_on: torch.device
) -> dict[str, torch.Tensor | Guided]:
    """Each style layer's targets for a stage or scale of this long side and (height,
    width); the masks (if any) where the image is kept (`masks_on`), the rest on the
    job's device."""
    size = tasks[0].settings.style_size(long_side)
    layers = tasks[0].settings.style_layers
    if not tasks[0].regions:
        return {
            layer: torch.stack([_blend(task.targets, size, layer) for task in tasks]).to(job.device)
            for layer in layers
        }
    masks = resize_weights(torch.stack([task.masks for task in tasks]), hw).to(masks_on)
    has_style = torch.tensor([[bool(blend) for blend in task.regions] for task in tasks])
    has_style = has_style.to(masks_on)
    strides = job.strides()
    targets = {}
    for layer in layers:
        grams = torch.stack(
            [
                torch.stack([_blend(blend, size, layer, task.targets) for blend in task.regions])
                for task in tasks
            ]
        )
        targets[layer] = guided_targets(grams.to(job.device), masks, has_style, strides[layer])
    return targets


def _blend(blend: Blend, size: int, layer: str, like: Blend | None = None) -> torch.Tensor:
    """The weighted sum of a blend's (C, C) Grams; for a region without a style, zeros
    shaped like `like`'s."""
    if not blend:
        return torch.zeros_like(like[0][0][f"{size}/{layer}"])
    return sum(w * t[f"{size}/{layer}"] for t, w in blend)
