"""The pair job's outline: prepare every pair, load the pending ones, batch them, hand
each batch on (nst.shard.failures) and count."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..batches import plan_batches
from ..images import DEFAULT_MAX_MEGAPIXELS, load_image
from ..io import remove_stale_parts
from ..masks import load_regions
from ..plan import Pair
from ..row import SummaryRow
from ..settings import PairSettings
from .console import Console
from .failures import run_batch
from .job import Job
from .tasks import Loaded, Task, prepare


@dataclass
class ShardReport:
    """What a job did: a summary row per pair, and counts."""

    rows: list[SummaryRow] = field(default_factory=list)
    reused: int = 0  # finished before, kept as they were
    ok: int = 0  # optimised now
    failed: int = 0
    retried: int = 0  # diverged once, optimised again with SAFER settings
    batches: list[int] = field(default_factory=list)  # images per batch, in order


class ShardRunner:
    def __init__(
        self,
        settings: PairSettings,
        weights_file: str,
        device: str = "cpu",
        batch_size: int = 1,
        progress_every: int = 25,
        log: Callable[[str], None] = print,
        weights_sha256: str | None = None,
        max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
        console: Console | None = None,
    ):
        self.batch_size = max(1, batch_size)
        self.job = Job(
            settings,
            weights_file,
            device,
            progress_every,
            log,
            weights_sha256,
            max_megapixels,
            console,
        )

    def run(self, pairs: Sequence[Pair]) -> ShardReport:
        """Every pair's row: kept when finished with these settings, else optimised."""
        job = self.job
        stale = remove_stale_parts(path for p in pairs for path in (p.output, p.record))
        if stale:
            job.log(f"removed {stale} temporary file(s) left by an interrupted job")
        report = ShardReport()

        def finished(row: SummaryRow) -> None:
            report.rows.append(row)
            job.console.finished(row)

        job.console.total = len(pairs)
        job.console.now(f"reading the records of {len(pairs)} pairs")
        pending = []
        for pair in pairs:
            task_or_row = prepare(pair, job.settings, job.targets, job.failed)
            if isinstance(task_or_row, Task):
                pending.append(task_or_row)
            elif task_or_row.status == "ok":
                report.rows.append(task_or_row)
                report.reused += 1
                job.console.done += 1
            else:
                finished(task_or_row)
        counts = f"{len(pairs)} pairs: {report.reused} already done, {len(pending)} to run"
        job.log(counts)
        job.console.say(counts)
        job.console.now(f"reading {len(pending)} photos")
        loaded, photos = [], {}  # a photo's styles and variants share its one decoding
        for task in pending:
            try:
                photo = (task.pair.content, task.settings.size)
                if photo not in photos:
                    photos[photo] = load_image(*photo, max_megapixels=job.max_megapixels)
                content = photos[photo]
                if task.pair.mask is not None:
                    colours = [colour for colour, _ in task.pair.regions]
                    hw = tuple(content.shape[-2:])
                    task.masks = load_regions(task.pair.mask, colours, hw, job.max_megapixels)
            except Exception as err:
                finished(job.failed(task, "reading", err))
                continue
            loaded.append(Loaded(task, content))
        for batch in plan_batches(loaded, lambda item: item.batch_key, self.batch_size):
            report.batches.append(len(batch))
            tasks, contents = [item.task for item in batch], [item.content for item in batch]
            report.retried += run_batch(job, tasks, contents, finished)
        report.failed = sum(row.status != "ok" for row in report.rows)
        report.ok = len(report.rows) - report.failed - report.reused
        return report
