"""When a pair's optimisation has converged: the per-pair stop.

A pair stops once its loss has improved by less than `tolerance` (relative to the
current loss) over its last `window` steps; `steps` stays the cap.  The losses are
L-BFGS's accepted ones (the best so far), so the rule never fires on a step that
backtracked once.  It is checked every CHECK_EVERY steps only: each check makes the
host wait for the device, and a stop a few steps late costs little.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

CHECK_EVERY = 5


@dataclass(frozen=True)
class StopRule:
    tolerance: float  # 0: never stop before the cap
    window: int

    def checks(self, steps_done: int) -> bool:
        """Whether to look after `steps_done` steps (never before a whole window)."""
        return self.tolerance > 0 and steps_done > self.window and steps_done % CHECK_EVERY == 0

    def converged(self, accepted: Tensor, steps_done: int) -> Tensor:
        """accepted: (steps, B) each step's accepted loss, row 0 the start's; -> (B,) bool."""
        now, before = accepted[steps_done - 1], accepted[steps_done - 1 - self.window]
        return (before - now) < self.tolerance * now.abs()
