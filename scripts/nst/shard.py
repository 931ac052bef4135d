"""One pair job: a shard of content x style pairs, run with one loaded model.

For every pair the job first checks its record: a pair whose image exists and
was made from the same inputs and settings (same fingerprint) is kept as it is,
so a rerun after a crash or after adding photos only does the missing work, and a
changed setting redoes exactly the pairs it affects.  Pending pairs of the same
size are optimised together in batches (nst.batches), through their stages
(nst.stylize.optimize_stages); results are written by nst.results.

Whatever goes wrong with one pair (an unreadable file, the colour step, the score,
writing its files, a bug) ends that pair as a `failed` row whose message says what
happened and what to do; the other pairs go on.  Only what no pair can be isolated
from ends the job (JobError): a network that cannot load, a full disk, memory too
small for a single image.
"""

from __future__ import annotations

import errno
import hashlib
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import torch

from . import style_targets
from .backbones import build_backbone
from .backbones.base import FeatureExtractor
from .batches import plan_batches
from .catalog import network
from .color import preserve_color
from .highres import refine_scales
from .images import DEFAULT_MAX_MEGAPIXELS, ImageError, load_image, resize
from .io import remove_stale_parts, sha256_file
from .losses import LossWeights
from .quality import Judge
from .results import fingerprint, finished_row, write_result
from .runtime import resolve_precision
from .settings import PairSettings
from .stylize import Method, Stage, StagedOutcome, Terms, optimize_stages
from .weights import WeightsError


class JobError(RuntimeError):
    """A fault that no pair can be isolated from: the job stops with this message."""


# What a pair's failure message adds when the error itself does not say what to do.
RETRY_ADVICE = (
    "the other pairs went on; the traceback is in this shard's log (logs/stylize/); "
    "run again to retry this pair, and report it as a bug if it fails the same way"
)


def job_error(err: BaseException, writing: str | None = None) -> JobError | None:
    """The job-ending form of `err`, or None when it belongs to one pair only."""
    if isinstance(err, JobError):
        return err
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        where = f" while writing {writing}" if writing else ""
        return JobError(
            f"disk full{where}: free some space and run again "
            "(finished pairs are kept; nothing half-written was left)"
        )
    if isinstance(err, WeightsError):
        return JobError(f"a network cannot load: {err}")
    if isinstance(err, (MemoryError, torch.OutOfMemoryError)):
        return JobError(
            f"out of memory ({err}): lower size or lbfgs_history, enable highres (tiles) "
            "or lower highres.tile, or use a machine with more"
        )
    return None


@dataclass(frozen=True)
class Pair:
    """One content x style pair as the workflow hands it to a job (plain JSON)."""

    key: str  # "style/content", unique in a run
    content_name: str
    style_name: str
    content: str  # content image path
    styles: tuple[tuple[str, str, float], ...]  # (style image, cache file, blend weight)
    output: str
    record: str
    overrides: Mapping

    @classmethod
    def from_dict(cls, data: Mapping) -> Pair:
        styles = tuple((s, c, float(w)) for s, c, w in data["styles"])
        return cls(**{**data, "styles": styles, "overrides": dict(data.get("overrides", {}))})


def pair_seed(settings: PairSettings, pair: Pair) -> int:
    """The pair's own seed: given in the sheet, else derived from the run seed and the pair."""
    if "seed" in pair.overrides:
        return int(pair.overrides["seed"])
    digest = hashlib.sha256(f"{settings.seed}:{pair.key}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


@dataclass
class Task:
    pair: Pair
    settings: PairSettings
    seed: int
    fingerprint: str
    targets: list[tuple[dict[str, torch.Tensor], float]]  # per blended style


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


def base_row(task: Task, device: str) -> dict:
    s = task.settings
    return {
        "pair": task.pair.key,
        "content": task.pair.content_name,
        "style": task.pair.style_name,
        "backbone": s.backbone,
        "optimizer": s.optimizer,
        "steps": 0,
        "device": device,
        "precision": s.precision,
        "seed": task.seed,
        "output": task.pair.output,
        "status": "failed",
        "message": "",
    }


# What a pair was doing when it failed, as its message says it.
PHASES = {
    "reading": "reading its images and style targets",
    "optimising": "optimising",
    "colour": "the colour step (preserve_color)",
    "scoring": "the quality score",
    "writing": "writing its image and record",
}

# What a pair that diverged is retried with.
SAFER_LR = 0.25
SAFER = f"fp32 and {SAFER_LR:g} x the learning rate"


@dataclass
class ShardReport:
    """What a job did: a summary row per pair, and counts."""

    rows: list[dict] = field(default_factory=list)
    reused: int = 0  # finished before, kept as they were
    ok: int = 0  # optimised now
    failed: int = 0
    retried: int = 0  # diverged once, optimised again with SAFER settings
    batches: list[int] = field(default_factory=list)  # images per batch, in order


@dataclass
class Loaded:
    """A pending pair with its content image at the working size."""

    task: Task
    content: torch.Tensor  # (3, H, W) on the CPU

    @property
    def batch_key(self) -> tuple:
        return tuple(self.content.shape[-2:]), self.task.settings.stages


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
    ):
        self.settings = settings
        self.weights_file = weights_file
        self.weights_sha256 = weights_sha256
        self.device = torch.device(device)
        self.batch_size = max(1, batch_size)
        self.progress_every = progress_every
        self.max_megapixels = max_megapixels
        self.catalog_entry = network(settings.backbone, settings.source)
        self.precision = resolve_precision(settings.precision, device, self.catalog_entry.auto_bf16)
        self.log = log
        self._net: FeatureExtractor | None = None
        self.targets = StyleTargetCache(
            self.settings, self.network, self.device, log, max_megapixels
        )
        self.judge = Judge(settings.backbone, self.device, max_megapixels)

    def network(self) -> FeatureExtractor:
        """The backbone, loaded on first use: a shard with nothing to do never loads it."""
        if self._net is None:
            s = self.settings
            keep = set(s.content_layers) | set(s.style_layers)
            started = time.perf_counter()
            net = self.catalog_entry
            try:
                self._net = build_backbone(
                    net, self.weights_file, keep, s.pooling, self.weights_sha256
                ).to(self.device)
            except Exception as err:
                raise JobError(f"the network {net.key} cannot load: {err}") from err
            self.log(f"loaded {net.key} on {self.device} in {time.perf_counter() - started:.1f} s")
        return self._net

    def run(self, pairs: Sequence[Pair]) -> ShardReport:
        """Every pair's row: kept when finished with these settings, else optimised."""
        stale = remove_stale_parts(path for p in pairs for path in (p.output, p.record))
        if stale:
            self.log(f"removed {stale} temporary file(s) left by an interrupted job")
        report = ShardReport()
        pending = []
        for pair in pairs:
            task_or_row = self._task(pair)
            if isinstance(task_or_row, Task):
                pending.append(task_or_row)
            else:
                report.rows.append(task_or_row)
                report.reused += task_or_row["status"] == "ok"
        self.log(f"{len(pairs)} pairs: {report.reused} already done, {len(pending)} to run")
        loaded = []
        for task in pending:
            try:
                content = load_image(
                    task.pair.content, task.settings.size, max_megapixels=self.max_megapixels
                )
            except Exception as err:
                report.rows.append(self._failed(task, "reading", err))
                continue
            loaded.append(Loaded(task, content))
        for batch in plan_batches(loaded, lambda item: item.batch_key, self.batch_size):
            report.batches.append(len(batch))
            self._run_batch([item.task for item in batch], [item.content for item in batch], report)
        report.failed = sum(row["status"] != "ok" for row in report.rows)
        report.ok = len(report.rows) - report.failed - report.reused
        return report

    def _task(self, pair: Pair) -> Task | dict:
        """The pair's task, or its row: finished already, or failed reading its inputs."""
        settings = self.settings.with_overrides(pair.overrides)
        seed = pair_seed(settings, pair)
        try:
            targets = [(self.targets.get(style, cache), w) for style, cache, w in pair.styles]
            shas = [(sha, w) for (_, sha), w in targets]
            fp = fingerprint(settings, seed, sha256_file(pair.content), shas)
            row = finished_row(pair, fp)
        except Exception as err:
            return self._failed(Task(pair, settings, seed, "", []), "reading", err)
        if row is not None:
            return row
        return Task(pair, settings, seed, fp, [(t, w) for (t, _), w in targets])

    def _run_batch(
        self, tasks: list[Task], contents: list[torch.Tensor], report: ShardReport
    ) -> None:
        """Optimise a batch of same-size pairs (retrying those that diverge) and finish
        each into the report; if the batch fails, each pair alone finds out which one
        broke it."""
        batch = torch.stack(contents)
        started = time.perf_counter()
        try:
            result = self._optimize_or_split(tasks, batch)
            diverged = [b for b in range(len(tasks)) if not result.ok(b)]
            if diverged:
                self.log(f"{len(diverged)} pair(s) diverged; retrying them with {SAFER}")
                retry = self._optimize_or_split([tasks[b] for b in diverged], batch[diverged], True)
                result.replace(diverged, retry)
        except Exception as err:
            if len(tasks) == 1:
                report.rows.append(self._failed(tasks[0], "optimising", err))
                return
            fatal = job_error(err)
            if fatal:
                raise fatal from err
            self.log(f"a batch of {len(tasks)} failed ({err}); running its pairs one by one")
            for task, content in zip(tasks, contents):
                self._run_batch([task], [content], report)
            return
        report.retried += sum(result.retried)
        seconds = (time.perf_counter() - started) / len(tasks)
        for b, task in enumerate(tasks):
            report.rows.append(self._finish(task, result, b, batch[b], seconds))
        self.log(f"done {len(tasks)} pair(s) in {seconds * len(tasks):.1f} s")

    def _optimize_or_split(
        self, tasks: list[Task], contents: torch.Tensor, safer: bool = False
    ) -> StagedOutcome:
        """Optimise a batch; if the GPU runs out of memory, do it in two halves."""
        try:
            return self._optimize(tasks, contents, safer)
        except torch.OutOfMemoryError:
            if len(tasks) == 1:
                raise JobError(
                    f"out of GPU memory for a single {contents.shape[-1]}x{contents.shape[-2]} "
                    "image; lower size or lbfgs_history, enable highres (tiles) or lower "
                    "highres.tile, or use a GPU with more memory"
                ) from None
            torch.cuda.empty_cache()
            half = len(tasks) // 2
            self.log(f"out of GPU memory with {len(tasks)} images; retrying as {half} + rest")
            first = self._optimize_or_split(tasks[:half], contents[:half], safer)
            first.extend(self._optimize_or_split(tasks[half:], contents[half:], safer))
            return first

    def _optimize(self, tasks: list[Task], contents: torch.Tensor, safer: bool) -> StagedOutcome:
        """Run every stage (coarse to fine), then any highres refinement scales, for a
        batch of same-size pairs (contents on the CPU, where highres keeps its buffers)."""
        net = self.network()
        s0 = tasks[0].settings  # the batch shares its stages and method (nst.batches)
        precision = "fp32" if safer else self.precision
        lr_scale = SAFER_LR if safer else 1.0
        stages = [
            Stage(
                size,
                Method.from_settings(s0, steps, precision, lr_scale),
                self._grams(tasks, s0.style_size(size)),
            )
            for size, steps in s0.stages
        ]
        weights = LossWeights(
            *(
                torch.tensor([getattr(t.settings, k) for t in tasks], device=self.device)
                for k in ("content_weight", "style_weight", "tv_weight")
            )
        )
        height, width = contents.shape[-2:]
        keys = ", ".join(t.pair.key for t in tasks)
        count = len(stages) + len(s0.refinement_sizes)

        def start(index: int, hw: tuple[int, int], how: str, steps: int):
            label = (
                f"{len(tasks)} pair(s) {width}x{height}, stage {index + 1}/{count}"
                f" at {hw[1]}x{hw[0]}"
            )
            self.log(f"start {label}{how}: {keys}")
            return self._progress(label, steps, time.perf_counter())

        result = optimize_stages(
            net,
            contents,
            stages,
            weights,
            init=lambda content: self._init(tasks, content),
            on_stage=lambda index, hw: start(index, hw, "", stages[index].method.steps),
            progress_every=self.progress_every,
            retried=safer,
        )
        if s0.highres:
            highres = replace(s0.highres, learning_rate=s0.highres.learning_rate * lr_scale)
            result.stages += refine_scales(
                net,
                contents,
                result.last.image,
                lambda size: self._grams(tasks, s0.style_size(size)),
                weights,
                stages[-1].method,
                highres,
                on_scale=lambda index, hw, tile: start(
                    len(stages) + index, hw, f", tiles of {tile} px", highres.steps
                ),
                progress_every=self.progress_every,
            )
        return result

    def _grams(self, tasks: list[Task], style_size: int) -> dict[str, torch.Tensor]:
        """Each layer's (B, C, C) style targets at this style size (blends summed)."""
        return {
            layer: torch.stack(
                [sum(w * t[f"{style_size}/{layer}"] for t, w in task.targets) for task in tasks]
            ).to(self.device)
            for layer in tasks[0].settings.style_layers
        }

    def _finish(
        self, task: Task, result: StagedOutcome, b: int, content: torch.Tensor, seconds: float
    ) -> dict:
        """The pair's summary row; for a good result also its image and record, in that order."""
        row = base_row(task, str(self.device))
        terms = result.last.terms(b)
        row.update(
            precision=self.precision,
            width=int(content.shape[-1]),
            height=int(content.shape[-2]),
            steps=result.steps(b),
            content_loss=terms.content,
            style_loss=terms.style,
            tv_loss=terms.tv,
            total_loss=terms.total,
            initial_loss=result.initial_total(b),
            seconds=round(seconds, 3),
        )
        if result.retried[b]:
            row["message"] = f"the loss diverged; retried with {SAFER}"
            row["precision"] = "fp32"
        if not result.ok(b):
            row["message"] = (
                f"the loss diverged (NaN, Inf or above its start) even with {SAFER}; "
                "lower style_weight or learning_rate"
            )
            return row
        phase = "colour"
        try:
            image = preserve_color(result.last.image[b], content, task.settings.preserve_color)
            phase = "scoring"
            row.update(self._score(task, image, content), status="ok")
            phase = "writing"
            write_result(task.pair, image, task.fingerprint, task.settings, row, result.curve(b))
        except Exception as err:
            return self._failed(task, phase, err, row)
        return row

    def _failed(self, task: Task, phase: str, err: Exception, row: dict | None = None) -> dict:
        """The failed row of a pair that `err` stopped in `phase` (what it was doing), or
        the job's end when `err` is not the pair's own (JobError)."""
        fatal = job_error(err, task.pair.output if phase == "writing" else None)
        if fatal:
            raise fatal from err
        self.log(f"FAILED {task.pair.key} while {PHASES[phase]}:\n{traceback.format_exc()}")
        if isinstance(err, ImageError):
            message = str(err)  # names the file, what is wrong and what to do
        else:
            message = f"{PHASES[phase]} failed: {type(err).__name__}: {err}; {RETRY_ADVICE}"
        row = {**(row or base_row(task, str(self.device))), "status": "failed"}
        return {**row, "message": message}

    def _score(self, task: Task, image: torch.Tensor, content: torch.Tensor) -> dict:
        """The held-out network's quality score of the image that is saved (nst.quality)."""
        styles = [(style, weight) for style, _, weight in task.pair.styles]
        score = self.judge.score_pair(image, content, styles, task.settings.style_sizes[-1])
        return {"style_score": round(score.style, 4), "content_score": round(score.content, 4)}

    def _init(self, tasks: list[Task], content: torch.Tensor) -> torch.Tensor:
        """Starting images at the first stage's size: the content, seeded noise, or a file."""
        images = []
        for b, task in enumerate(tasks):
            init = task.settings.init
            if init == "content":
                images.append(content[b])
            elif init == "noise":
                generator = torch.Generator().manual_seed(task.seed)
                images.append(torch.rand(content.shape[1:], generator=generator).to(self.device))
            else:
                image = load_image(init, max(content.shape[-2:]), self.max_megapixels)
                images.append(resize(image, tuple(content.shape[-2:])).to(self.device))
        return torch.stack(images)

    def _progress(
        self, label: str, steps: int, started: float
    ) -> Callable[[int, torch.Tensor], None]:
        def report(step: int, terms: torch.Tensor) -> None:
            mean = Terms(*terms.mean(0).tolist())
            rate = (time.perf_counter() - started) / step
            self.log(
                f"  {label} step {step}/{steps}: total {mean.total:.4g} (content "
                f"{mean.content:.4g}, style {mean.style:.4g}, tv {mean.tv:.4g}) {rate:.3f} s/step"
            )

        return report
