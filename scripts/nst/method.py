"""How a stage optimises: the settings shared by every image of a batch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .settings import PairSettings


@dataclass(frozen=True)
class Method:
    """The optimisation settings shared by every image of a batch."""

    content_layers: Mapping[str, float]
    style_layers: Mapping[str, float]
    optimizer: str = "lbfgs"
    steps: int = 300
    learning_rate: float = 1.0
    lbfgs_history: int = 50
    precision: str = "fp32"  # nst.precision.PRECISIONS
    # Under bf16, the last steps run in fp32: the optimum is fp32's, the speed mostly bf16's.
    fp32_polish: float = 0.1
    # Off unless asked for (the workflow's defaults: workflow/schemas/config.schema.yaml).
    pyramid_gain: float = 0.0  # nst.pyramid; 0: L-BFGS on the pixels
    stop_tolerance: float = 0.0  # nst.stopping; 0: every image runs `steps`
    stop_window: int = 20

    @classmethod
    def from_settings(
        cls, settings: PairSettings, steps: int, precision: str, lr_scale: float = 1.0
    ) -> Method:
        """One stage's method: `steps` iterations in `precision` (resolved, not auto)."""
        return cls(
            content_layers=settings.content_layers,
            style_layers=settings.style_layers,
            optimizer=settings.optimizer,
            steps=steps,
            learning_rate=settings.learning_rate * lr_scale,
            lbfgs_history=settings.lbfgs_history,
            precision=precision,
            pyramid_gain=settings.pyramid_gain,
            stop_tolerance=settings.stop_tolerance,
            stop_window=settings.stop_window,
        )

    @property
    def layers(self) -> list[str]:
        return sorted(set(self.content_layers) | set(self.style_layers))
