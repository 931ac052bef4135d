"""What a job's log and console say while a batch is optimised."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ..outcome import Terms
from ..stages import Watcher
from .console import Console
from .tasks import Task


class LogWatcher(Watcher):
    """In the log, a line when each stage of a batch starts, and its mean loss every
    `every` steps; on the console, where it is (at the console's own pace)."""

    def __init__(
        self,
        log: Callable[[str], None],
        tasks: Sequence[Task],
        hw: tuple[int, int],
        every: int,
        console: Console,
    ):
        self.log, self.every, self.console = log, every, console
        self.batch = f"{len(tasks)} pair(s) {hw[1]}x{hw[0]}"
        self.keys = ", ".join(t.pair.key for t in tasks)
        more = f" and {len(tasks) - 1} more" if len(tasks) > 1 else ""
        self.pairs = f"{tasks[0].pair.key}{more}"

    def start(self, stage, stages, hw, steps, tile) -> None:
        self.label = f"{self.batch}, stage {stage + 1}/{stages} at {hw[1]}x{hw[0]}"
        self.steps, self.started = steps, time.perf_counter()
        how = "" if tile is None else f", tiles of {tile} px"
        self.log(f"start {self.label}{how}: {self.keys}")
        self.where = f"{self.pairs}, stage {stage + 1}/{stages} at {hw[1]}x{hw[0]}{how}"
        self.console.now(self.where)

    def step(self, stage, step) -> None:
        rate = (time.perf_counter() - self.started) / step
        self.console.now(f"{self.where}, step {step}/{self.steps} ({rate:.2f} s/step)")

    def progress(self, stage, step, terms) -> None:
        mean = Terms(*terms.nanmean(0).tolist())  # NaN: images that have stopped
        rate = (time.perf_counter() - self.started) / step
        self.log(
            f"  {self.label} step {step}/{self.steps}: total {mean.total:.4g} (content "
            f"{mean.content:.4g}, style {mean.style:.4g}, tv {mean.tv:.4g}) {rate:.3f} s/step"
        )
