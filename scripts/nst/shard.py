"""One pair job: a shard of content x style pairs, run with one loaded model.

For every pair the job first checks its record: a pair whose image exists and
was made from the same inputs and settings (same fingerprint) is kept as it is,
so a rerun after a crash or after adding photos only does the missing work, and a
changed setting redoes exactly the pairs it affects.  Pending pairs of the same
size are optimised together in batches.  Each image and each record is written
atomically, image first, so a record always describes a complete image.

Whatever goes wrong with one pair (an unreadable file, the colour step, the score,
writing its files, a bug) ends that pair as a `failed` row whose message says what
happened and what to do; the other pairs go on.  Only what no pair can be isolated
from ends the job (JobError): a network that cannot load, a full disk, memory too
small for a single image.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import torch

from . import style_targets
from .backbones import build_backbone
from .backbones.base import FeatureExtractor
from .catalog import network
from .color import preserve_color
from .images import DEFAULT_MAX_MEGAPIXELS, ImageError, load_image, resize, save_png, scaled_size
from .io import canonical_json, remove_stale_parts, sha256_file, write_json
from .losses import LossWeights
from .quality import Judge
from .runtime import resolve_precision
from .settings import PairSettings
from .stylize import TERMS, Method, Outcome, optimize
from .weights import WeightsError

SUMMARY_COLUMNS = [
    "pair",
    "content",
    "style",
    "backbone",
    "width",
    "height",
    "optimizer",
    "steps",
    "content_loss",
    "style_loss",
    "tv_loss",
    "total_loss",
    "initial_loss",
    "style_score",
    "content_score",
    "seconds",
    "device",
    "precision",
    "seed",
    "output",
    "status",
    "message",
]


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
            f"out of memory ({err}): lower size or lbfgs_history, or use a machine with more"
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


def fingerprint(
    settings: PairSettings, seed: int, content_sha: str, styles: Sequence[tuple[str, float]]
) -> str:
    """Identity of a result: everything that changes the image, and nothing else."""
    init = settings.init
    init_sha = sha256_file(init) if init not in ("content", "noise") else init
    payload = {
        "settings": {**settings.to_params(), "init": init_sha},
        "seed": seed,
        "content": content_sha,
        "styles": [list(s) for s in styles],
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def finished_row(pair: Pair, fp: str) -> dict | None:
    """The summary row of a complete result with this fingerprint, or None."""
    try:
        record = json.loads(Path(pair.record).read_text())
        size = os.stat(pair.output).st_size
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("row"), dict):
        return None  # damaged by hand: made again
    if record.get("fingerprint") != fp or record.get("image_bytes", size) != size:
        return None  # other settings or inputs, or an image truncated or replaced since
    # Names come from this run (a record may predate a column or a renamed file).
    return {
        **record["row"],
        "pair": pair.key,
        "content": pair.content_name,
        "style": pair.style_name,
        "output": pair.output,
    }


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


class BatchResult:
    """The outcome of a batch over all its stages, per image."""

    def __init__(self, size: int, retried: bool = False):
        self.stages: list[tuple[int, Outcome]] = []
        self.retried = [retried] * size

    def add_stage(self, size: int, outcome: Outcome) -> None:
        self.stages.append((size, outcome))

    @property
    def last(self) -> Outcome:
        return self.stages[-1][1]

    @property
    def image(self) -> torch.Tensor:
        return self.last.image

    @property
    def final(self) -> torch.Tensor:
        return self.last.final

    @property
    def steps(self) -> int:
        return sum(outcome.steps_done for _, outcome in self.stages)

    def initial(self, b: int) -> float:
        return float(self.stages[0][1].history[0, b, 3])

    def ok(self, b: int) -> bool:
        """Finite, and better than where it started (else it diverged)."""
        final = float(self.final[b, 3])
        return bool(self.last.finite[b]) and final <= self.initial(b)

    def curve(self, b: int) -> dict:
        """Image b's loss terms at every step of every stage (for plots)."""
        return {
            "columns": ["size", "step", *TERMS],
            "rows": [
                [size, step + 1, *values[b].tolist()]
                for size, outcome in self.stages
                for step, values in enumerate(outcome.history)
            ],
        }

    def extend(self, other: BatchResult) -> None:
        """Append another batch's images (same stages) after this one's."""
        for (_, mine), (_, theirs) in zip(self.stages, other.stages):
            mine.image = torch.cat([mine.image, theirs.image])
            mine.final = torch.cat([mine.final, theirs.final])
            mine.finite = torch.cat([mine.finite, theirs.finite])
            steps = min(mine.history.shape[0], theirs.history.shape[0])
            mine.history = torch.cat([mine.history[:steps], theirs.history[:steps]], dim=1)
        self.retried += other.retried

    def replace(self, indices: list[int], other: BatchResult) -> None:
        """Put another batch's results (one per index) in place of these images."""
        for (_, mine), (_, theirs) in zip(self.stages, other.stages):
            for j, b in enumerate(indices):
                mine.image[b] = theirs.image[j]
                mine.final[b] = theirs.final[j]
                mine.finite[b] = theirs.finite[j]
                steps = min(mine.history.shape[0], theirs.history.shape[0])
                mine.history[:steps, b] = theirs.history[:steps, j]
        for b in indices:
            self.retried[b] = True


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

    def run(self, pairs: Sequence[Pair]) -> list[dict]:
        stale = remove_stale_parts(path for p in pairs for path in (p.output, p.record))
        if stale:
            self.log(f"removed {stale} temporary file(s) left by an interrupted job")
        rows, tasks, reused = [], [], 0
        for pair in pairs:
            settings = self.settings.with_overrides(pair.overrides)
            seed = pair_seed(settings, pair)
            try:
                targets = [(self.targets.get(style, cache), w) for style, cache, w in pair.styles]
                fp = fingerprint(
                    settings, seed, sha256_file(pair.content), [(sha, w) for (_, sha), w in targets]
                )
                row = finished_row(pair, fp)
            except Exception as err:
                rows.append(self._failed(Task(pair, settings, seed, "", []), "reading", err))
                continue
            if row is not None:
                rows.append(row)
                reused += 1
            else:
                tasks.append(Task(pair, settings, seed, fp, [(t, w) for (t, _), w in targets]))
        self.log(f"{len(pairs)} pairs: {reused} already done, {len(tasks)} to run")
        for batch in self._batches(tasks):
            rows.extend(self._run_batch(batch))
        return rows

    def _batches(self, tasks: list[Task]) -> list[list[Task]]:
        """Same-size tasks with the same stages, in chunks of batch_size."""
        sized = []
        for task in tasks:
            try:
                content = load_image(
                    task.pair.content, task.settings.size, max_megapixels=self.max_megapixels
                )
            except Exception as err:
                sized.append((None, task, self._failed(task, "reading", err)))
                continue
            sized.append((tuple(content.shape[-2:]), task, content))
        batches = []
        key = lambda item: (str(item[0]), str(item[1].settings.stages))  # noqa: E731
        for _, group in groupby(sorted(sized, key=key), key=key):
            group = list(group)
            for start in range(0, len(group), self.batch_size):
                batches.append(group[start : start + self.batch_size])
        return batches

    def _run_batch(self, batch: list) -> list[dict]:
        if batch[0][0] is None:  # unreadable content images: their failed rows
            return [row for _, _, row in batch]
        tasks = [task for _, task, _ in batch]
        contents = torch.stack([content for _, _, content in batch])
        started = time.perf_counter()
        try:
            result = self._optimize_or_split(tasks, contents)
            diverged = [b for b in range(len(tasks)) if not result.ok(b)]
            if diverged:
                self.log(f"{len(diverged)} pair(s) diverged; retrying them with {SAFER}")
                retry = self._optimize_or_split(
                    [tasks[b] for b in diverged], contents[diverged], True
                )
                result.replace(diverged, retry)
        except Exception as err:
            if len(batch) == 1:
                return [self._failed(tasks[0], "optimising", err)]
            fatal = job_error(err)
            if fatal:
                raise fatal from err
            # Which pair broke the batch is unknown: each one alone finds out.
            self.log(f"a batch of {len(batch)} failed ({err}); running its pairs one by one")
            return [row for item in batch for row in self._run_batch([item])]
        seconds = (time.perf_counter() - started) / len(tasks)
        rows = [self._finish(task, result, b, contents[b], seconds) for b, task in enumerate(tasks)]
        self.log(f"done {len(tasks)} pair(s) in {seconds * len(tasks):.1f} s")
        return rows

    def _optimize_or_split(
        self, tasks: list[Task], contents: torch.Tensor, safer: bool = False
    ) -> BatchResult:
        """Optimise a batch; if the GPU runs out of memory, do it in two halves."""
        try:
            return self._optimize(tasks, contents, safer)
        except torch.OutOfMemoryError:
            if len(tasks) == 1:
                raise JobError(
                    f"out of GPU memory for a single {contents.shape[-1]}x{contents.shape[-2]} "
                    "image; lower size or lbfgs_history, or use a GPU with more memory"
                ) from None
            torch.cuda.empty_cache()
            half = len(tasks) // 2
            self.log(f"out of GPU memory with {len(tasks)} images; retrying as {half} + rest")
            first = self._optimize_or_split(tasks[:half], contents[:half], safer)
            first.extend(self._optimize_or_split(tasks[half:], contents[half:], safer))
            return first

    def _optimize(self, tasks: list[Task], contents: torch.Tensor, safer: bool) -> BatchResult:
        """Run every stage (coarse to fine) for a batch of same-size pairs."""
        net = self.network()
        contents = contents.to(self.device)
        height, width = contents.shape[-2:]
        s0 = tasks[0].settings
        x, result = None, BatchResult(len(tasks), retried=safer)
        for stage, (size, steps) in enumerate(s0.stages):
            stage_hw = scaled_size(height, width, size)
            content = resize(contents, stage_hw)
            init = self._init(tasks, content) if x is None else resize(x, stage_hw).to(self.device)
            method = Method.from_settings(
                s0,
                steps=steps,
                precision="fp32" if safer else self.precision,
                lr_scale=SAFER_LR if safer else 1.0,
            )
            style_size = s0.style_sizes[stage]
            grams = {
                layer: torch.stack(
                    [sum(w * t[f"{style_size}/{layer}"] for t, w in task.targets) for task in tasks]
                ).to(self.device)
                for layer in method.style_layers
            }
            weights = LossWeights(
                *(
                    torch.tensor([getattr(t.settings, k) for t in tasks], device=self.device)
                    for k in ("content_weight", "style_weight", "tv_weight")
                )
            )
            label = (
                f"{len(tasks)} pair(s) {width}x{height}, stage {stage + 1}/{len(s0.stages)}"
                f" at {stage_hw[1]}x{stage_hw[0]}"
            )
            self.log(f"start {label}: {', '.join(t.pair.key for t in tasks)}")
            outcome = optimize(
                net,
                content,
                grams,
                weights,
                method,
                init,
                on_progress=self._progress(label, steps, time.perf_counter()),
                progress_every=self.progress_every,
            )
            result.add_stage(size, outcome)
            x = outcome.image
        return result

    def _finish(
        self, task: Task, result: BatchResult, b: int, content: torch.Tensor, seconds: float
    ) -> dict:
        """The pair's summary row; for a good result also its image and record, in that order."""
        row = base_row(task, str(self.device))
        final = result.final[b].tolist()
        row.update(
            precision=self.precision,
            width=int(content.shape[-1]),
            height=int(content.shape[-2]),
            steps=result.steps,
            content_loss=final[0],
            style_loss=final[1],
            tv_loss=final[2],
            total_loss=final[3],
            initial_loss=result.initial(b),
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
            image = preserve_color(result.image[b], content, task.settings.preserve_color)
            phase = "scoring"
            row.update(self._score(task, image, content), status="ok")
            phase = "writing"
            save_png(
                image,
                task.pair.output,
                {
                    "nst:fingerprint": task.fingerprint,
                    "nst:settings": canonical_json(task.settings.to_params()),
                },
            )
            write_json(
                task.pair.record,
                {
                    "fingerprint": task.fingerprint,
                    "image_bytes": os.stat(task.pair.output).st_size,
                    "row": row,
                    "history": result.curve(b),
                },
            )
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
        long_side = task.settings.style_sizes[-1]
        score = self.judge.score(image, content, self.judge.reference(styles, long_side))
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
            mean = terms.mean(0).tolist()
            rate = (time.perf_counter() - started) / step
            self.log(
                f"  {label} step {step}/{steps}: total {mean[3]:.4g} (content {mean[0]:.4g}, "
                f"style {mean[1]:.4g}, tv {mean[2]:.4g}) {rate:.3f} s/step"
            )

        return report
