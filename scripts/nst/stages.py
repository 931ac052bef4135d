"""What nst.stylize.stylize is asked to do (its stages, and any tiled refinement), and
the watcher it tells how far it is."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import Tensor

from .method import Method
from .settings import HighresSettings


@dataclass(frozen=True)
class Stage:
    """One whole-image stage of coarse to fine: the long side, how to optimise, the style
    targets (layer -> (B or 1, C, C) Grams at this stage's style size, on the network's
    device)."""

    long_side: int
    method: Method
    style_targets: Mapping[str, Tensor]


@dataclass(frozen=True)
class Refinement:
    """The tiled refinement scales after the stages (nst.highres), up to the content's
    size: the settings, and the style targets of a scale's long side (as Stage's)."""

    settings: HighresSettings
    style_targets: Callable[[int], Mapping[str, Tensor]]


class Watcher:
    """What a caller hears of a run; this one hears nothing (override what you need).

    `every`: how many steps (passes, at a refinement scale) between `progress` calls;
    only then does the host wait for the device."""

    every: int = 25

    def start(
        self, stage: int, stages: int, hw: tuple[int, int], steps: int, tile: int | None
    ) -> None:
        """Stage `stage` (0-based) of `stages` starts at (height, width), for `steps`
        steps; `tile` is the tile side of a refinement scale, None for a whole image."""

    def step(self, stage: int, step: int) -> None:
        """After every step, without waiting for the device."""

    def progress(self, stage: int, step: int, terms: Tensor) -> None:
        """The (B, 4) loss terms (nst.outcome.TERMS, on the CPU) after `step` steps."""
