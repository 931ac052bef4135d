"""What every part of a pair job shares: its settings, device, precision, log and
console, the network (loaded on first use), the style targets and the judge."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from ..backbones import build_backbone
from ..backbones.base import FeatureExtractor
from ..catalog import network
from ..images import DEFAULT_MAX_MEGAPIXELS
from ..quality import Judge
from ..row import SummaryRow
from ..runtime import resolve_precision
from ..settings import PairSettings
from .console import Console, silent
from .errors import JobError, failed_row
from .tasks import StyleTargetCache, Task


class Job:
    def __init__(
        self,
        settings: PairSettings,
        weights_file: str,
        device: str = "cpu",
        progress_every: int = 25,
        log: Callable[[str], None] = print,
        weights_sha256: str | None = None,
        max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
        console: Console | None = None,
    ):
        self.settings = settings
        self.weights_file = weights_file
        self.weights_sha256 = weights_sha256
        self.device = torch.device(device)
        self.progress_every = progress_every
        self.max_megapixels = max_megapixels
        self.catalog_entry = network(settings.backbone, settings.source)
        self.precision = resolve_precision(settings.precision, device, self.catalog_entry.auto_bf16)
        self.log = log
        self.console = console or silent()
        self._net: FeatureExtractor | None = None
        self.targets = StyleTargetCache(settings, self.network, self.device, log, max_megapixels)
        self.judge = Judge(settings.backbone, self.device, max_megapixels)

    def network(self) -> FeatureExtractor:
        """The backbone, loaded on first use: a shard with nothing to do never loads it."""
        if self._net is None:
            s = self.settings
            keep = set(s.content_layers) | set(s.style_layers)
            started = time.perf_counter()
            net = self.catalog_entry
            self.console.now(f"loading {net.key}")
            try:
                self._net = build_backbone(
                    net, self.weights_file, keep, s.pooling, self.weights_sha256
                ).to(self.device)
            except Exception as err:
                raise JobError(f"the network {net.key} cannot load: {err}") from err
            self.log(f"loaded {net.key} on {self.device} in {time.perf_counter() - started:.1f} s")
        return self._net

    def failed(
        self, task: Task, phase: str, err: Exception, row: SummaryRow | None = None
    ) -> SummaryRow:
        """nst.shard.errors.failed_row, in this job's log."""
        return failed_row(task, phase, err, str(self.device), self.log, row)
