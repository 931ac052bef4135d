"""What an optimisation gives back: per stage the images and their loss terms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

TERMS = ("content", "style", "tv", "total")  # the columns of Outcome.final and .history
TOTAL = TERMS.index("total")


class Terms(NamedTuple):
    """One image's weighted loss terms."""

    content: float
    style: float
    tv: float
    total: float


@dataclass
class Outcome:
    """One stage of a batch of B images."""

    image: Tensor  # (B, 3, H, W) on the CPU
    final: Tensor  # (B, 4) the TERMS at the returned image
    history: Tensor  # (steps, B, 4) the same at each evaluated iterate; NaN once stopped
    finite: Tensor  # (B,) bool: False where the loss or the image became NaN/Inf
    steps_done: Tensor  # (B,) the steps each image took (fewer than the cap where it stopped)

    def terms(self, b: int) -> Terms:
        return Terms(*self.final[b].tolist())


class StagedOutcome:
    """The outcome of a batch over all its stages (long side, Outcome), smallest first:
    the last stage's image is the result."""

    def __init__(self, size: int):
        self.stages: list[tuple[int, Outcome]] = []
        self.retried = [False] * size  # per image: optimised a second time (nst.shard)

    @property
    def last(self) -> Outcome:
        return self.stages[-1][1]

    @property
    def image(self) -> Tensor:
        """(B, 3, H, W) on the CPU, at the last stage's size."""
        return self.last.image

    @property
    def final(self) -> Tensor:
        """(B, 4): the TERMS of the result."""
        return self.last.final

    @property
    def finite(self) -> Tensor:
        """(B,) bool: no stage's loss or image became NaN/Inf."""
        return torch.stack([outcome.finite for _, outcome in self.stages]).all(0)

    def steps(self, b: int) -> int:
        """The steps image b took, over all stages."""
        return sum(int(outcome.steps_done[b]) for _, outcome in self.stages)

    def initial_total(self, b: int) -> float:
        return float(self.stages[0][1].history[0, b, TOTAL])

    def ok(self, b: int) -> bool:
        """Finite at the end, and better than where it started (else it diverged)."""
        return bool(self.last.finite[b]) and self.last.terms(b).total <= self.initial_total(b)

    def curve(self, b: int) -> dict:
        """Image b's loss terms at every step of every stage (for plots)."""
        return {
            "columns": ["size", "step", *TERMS],
            "rows": [
                [size, step + 1, *values[b].tolist()]
                for size, outcome in self.stages
                for step, values in enumerate(outcome.history[: outcome.steps_done[b]])
            ],
        }

    def extend(self, other: StagedOutcome) -> None:
        """Append another batch's images (same stages) after this one's."""
        for (_, mine), (_, theirs) in zip(self.stages, other.stages):
            mine.image = torch.cat([mine.image, theirs.image])
            mine.final = torch.cat([mine.final, theirs.final])
            mine.finite = torch.cat([mine.finite, theirs.finite])
            mine.steps_done = torch.cat([mine.steps_done, theirs.steps_done])
            mine.history = torch.cat(_same_length(mine.history, theirs.history), dim=1)
        self.retried += other.retried

    def replace(self, indices: Sequence[int], other: StagedOutcome) -> None:
        """Put another batch's results (one per index) in place of these images."""
        for (_, mine), (_, theirs) in zip(self.stages, other.stages):
            for j, b in enumerate(indices):
                mine.image[b] = theirs.image[j]
                mine.final[b] = theirs.final[j]
                mine.finite[b] = theirs.finite[j]
                mine.steps_done[b] = theirs.steps_done[j]
                mine.history, history = _same_length(mine.history, theirs.history)
                mine.history[:, b] = history[:, j]
        for b in indices:
            self.retried[b] = True


def _same_length(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Two (steps, B, 4) histories, the shorter padded with NaN (steps not taken)."""
    steps = max(a.shape[0], b.shape[0])

    def pad(h: Tensor) -> Tensor:
        return torch.cat([h, h.new_full((steps - h.shape[0], *h.shape[1:]), float("nan"))])

    return pad(a), pad(b)
