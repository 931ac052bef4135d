"""A job's pairs as tasks: each pair's settings, seed, style targets and fingerprint;
a pair whose finished result has the same fingerprint is kept as it is."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .. import style_targets
from ..backbones.base import FeatureExtractor
from ..images import DEFAULT_MAX_MEGAPIXELS
from ..io import sha256_file
from ..plan import Pair
from ..results import fingerprint, finished_row
from ..row import SummaryRow
from ..settings import PairSettings


@dataclass
class Task:
    pair: Pair
    settings: PairSettings  # the job's, with the pair's sheet overrides
    seed: int
    fingerprint: str
    targets: list[tuple[dict[str, torch.Tensor], float]]  # per blended style
    # with a mask: per region (pair.regions) its styles' targets, and the regions'
    # weights (R, H, W) at the working size once loaded
    regions: list[list[tuple[dict[str, torch.Tensor], float]]] = field(default_factory=list)
    masks: torch.Tensor | None = None


@dataclass
class Loaded:
    """A pending pair with its content image at the working size."""

    task: Task
    content: torch.Tensor  # (3, H, W) on the CPU

    @property
    def batch_key(self) -> tuple:
        return tuple(self.content.shape[-2:]), self.task.settings.stages, len(self.task.regions)


def pair_seed(settings: PairSettings, pair: Pair) -> int:
    """The pair's own seed: given in the sheet, else derived from the run seed and the pair."""
    if "seed" in pair.overrides:
        return int(pair.overrides["seed"])
    digest = hashlib.sha256(f"{settings.seed}:{pair.seed_key}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


# What a job does with a pair that failed: Job.failed (nst.shard.job), passed in rather
# than the job itself so that this module does not import the job's.
Failed = Callable[["Task", str, Exception], SummaryRow]


def prepare(
    pair: Pair, settings: PairSettings, cache: StyleTargetCache, failed: Failed
) -> Task | SummaryRow:
    """The pair's task, or its row: finished already, or failed reading its inputs
    (`settings`: the job's, before the pair's overrides)."""
    settings = settings.with_overrides(pair.overrides)
    seed = pair_seed(settings, pair)
    try:
        targets = [(cache.get(style, path), w) for style, path, w in pair.styles]
        shas = [(sha, w) for (_, sha), w in targets]
        regions = [[(cache.get(s, c), w) for s, c, w in blend] for _, blend in pair.regions]
        mask = None
        if pair.mask is not None:
            mask = {
                "sha256": sha256_file(pair.mask),
                "regions": [
                    [colour, [[sha, w] for (_, sha), w in blend]]
                    for (colour, _), blend in zip(pair.regions, regions)
                ],
            }
        fp = fingerprint(settings, seed, sha256_file(pair.content), shas, mask)
        row = finished_row(pair, fp)
    except Exception as err:
        return failed(Task(pair, settings, seed, "", []), "reading", err)
    if row is not None:
        return row
    unpack = lambda blend: [(t, w) for (t, _), w in blend]  # noqa: E731
    return Task(pair, settings, seed, fp, unpack(targets), [unpack(b) for b in regions])


class StyleTargetCache:
    """Reads each style's cached Grams once per job; recomputes a damaged or stale cache."""

    def __init__(
        self,
        settings: PairSettings,
        network: Callable[[], FeatureExtractor],
        device: torch.device,
        log: Callable[[str], None],
        max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    ):
        self.settings = settings.style_targets()
        self.max_megapixels = max_megapixels
        self.network = network
        self.device = device
        self.log = log
        self.loaded: dict[str, tuple[dict, str]] = {}

    def get(self, style_path: str, cache_path: str) -> tuple[dict, str]:
        if cache_path not in self.loaded:
            try:
                self.loaded[cache_path] = style_targets.read(cache_path, self.settings)
            except style_targets.StaleTargetsError as err:
                self.log(f"{err}; recomputing it")
                targets = style_targets.compute(
                    self.network(),
                    style_path,
                    self.settings.style_layers,
                    self.settings.style_sizes,
                    self.device,
                    self.max_megapixels,
                )
                style_targets.write(cache_path, targets, self.settings, style_path)
                self.loaded[cache_path] = style_targets.read(cache_path, self.settings)
        return self.loaded[cache_path]
