"""One pair job: a shard of content x style pairs, run with one loaded model.

For every pair the job first checks its record: a pair whose image exists and
was made from the same inputs and settings (same fingerprint) is kept as it is,
so a rerun after a crash or after adding photos only does the missing work, and a
changed setting redoes exactly the pairs it affects.  Pending pairs of the same
size are optimised together in batches.  Each image and each record is written
atomically, image first, so a record always describes a complete image.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import torch

from . import style_targets
from .backbones import build_backbone
from .backbones.base import FeatureExtractor
from .color import preserve_color
from .images import ImageError, load_image, resize, save_png, scaled_size
from .io import canonical_json, remove_stale_parts, sha256_file, write_json
from .losses import LossWeights
from .settings import style_target_settings, with_overrides
from .stylize import TERMS, Method, optimize

SUMMARY_COLUMNS = [
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
    "seconds",
    "device",
    "precision",
    "seed",
    "output",
    "status",
    "message",
]


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


def pair_seed(settings: Mapping, pair: Pair) -> int:
    """The pair's own seed: given in the sheet, else derived from the run seed and the pair."""
    if "seed" in pair.overrides:
        return int(pair.overrides["seed"])
    digest = hashlib.sha256(f"{settings['seed']}:{pair.key}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


@dataclass
class Task:
    pair: Pair
    settings: dict
    seed: int
    fingerprint: str
    targets: list[tuple[dict[str, torch.Tensor], float]]  # per blended style


class StyleTargetCache:
    """Reads each style's cached Grams once per job; recomputes a damaged or stale cache."""

    def __init__(
        self,
        settings: Mapping,
        network: Callable[[], FeatureExtractor],
        device: torch.device,
        log: Callable[[str], None],
    ):
        self.settings = style_target_settings(settings)
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
                    self.settings["style_layers"],
                    self.settings["style_sizes"],
                    self.device,
                )
                style_targets.write(cache_path, targets, self.settings, style_path)
                self.loaded[cache_path] = style_targets.read(cache_path, self.settings)
        return self.loaded[cache_path]


def fingerprint(
    settings: Mapping, seed: int, content_sha: str, styles: Sequence[tuple[str, float]]
) -> str:
    """Identity of a result: everything that changes the image, and nothing else."""
    init = settings["init"]
    init_sha = sha256_file(init) if init not in ("content", "noise") else init
    payload = {
        "settings": {**settings, "init": init_sha},
        "seed": seed,
        "content": content_sha,
        "styles": [list(s) for s in styles],
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def finished_row(pair: Pair, fp: str) -> dict | None:
    """The summary row of a complete result with this fingerprint, or None."""
    try:
        record = json.loads(Path(pair.record).read_text())
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != fp or not Path(pair.output).is_file():
        return None
    return record["row"]


def base_row(task: Task, device: str) -> dict:
    s = task.settings
    return {
        "content": task.pair.content_name,
        "style": task.pair.style_name,
        "backbone": s["backbone"],
        "optimizer": s["optimizer"],
        "steps": 0,
        "device": device,
        "precision": s["precision"],
        "seed": task.seed,
        "output": task.pair.output,
        "status": "failed",
        "message": "",
    }


class ShardRunner:
    def __init__(
        self,
        settings: Mapping,
        weights_file: str,
        device: str = "cpu",
        batch_size: int = 1,
        progress_every: int = 25,
        log: Callable[[str], None] = print,
        weights_sha256: str | None = None,
    ):
        self.settings = dict(settings)
        self.weights_file = weights_file
        self.weights_sha256 = weights_sha256
        self.device = torch.device(device)
        self.batch_size = max(1, batch_size)
        self.progress_every = progress_every
        self.log = log
        self._net: FeatureExtractor | None = None
        self.targets = StyleTargetCache(self.settings, self.network, self.device, log)

    def network(self) -> FeatureExtractor:
        """The backbone, loaded on first use: a shard with nothing to do never loads it."""
        if self._net is None:
            s = self.settings
            keep = set(s["content_layers"]) | set(s["style_layers"])
            started = time.perf_counter()
            self._net = build_backbone(
                s["backbone"], self.weights_file, keep, s["pooling"], self.weights_sha256
            ).to(self.device)
            self.log(
                f"loaded {s['backbone']} on {self.device} in {time.perf_counter() - started:.1f} s"
            )
        return self._net

    def run(self, pairs: Sequence[Pair]) -> list[dict]:
        stale = remove_stale_parts(path for p in pairs for path in (p.output, p.record))
        if stale:
            self.log(f"removed {stale} temporary file(s) left by an interrupted job")
        rows, tasks, reused = [], [], 0
        for pair in pairs:
            settings = with_overrides(self.settings, pair.overrides)
            seed = pair_seed(settings, pair)
            try:
                targets = [(self.targets.get(style, cache), w) for style, cache, w in pair.styles]
                fp = fingerprint(
                    settings, seed, sha256_file(pair.content), [(sha, w) for (_, sha), w in targets]
                )
            except (OSError, ImageError) as err:
                task = Task(pair, settings, seed, "", [])
                rows.append({**base_row(task, str(self.device)), "message": str(err)})
                continue
            row = finished_row(pair, fp)
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
                content = load_image(task.pair.content, long_side=task.settings["size"])
            except ImageError as err:
                self.log(f"{task.pair.key}: {err}")
                sized.append((None, task, str(err)))
                continue
            sized.append((tuple(content.shape[-2:]), task, content))
        batches = []
        key = lambda item: (str(item[0]), json.dumps(item[1].settings["stages"]))  # noqa: E731
        for _, group in groupby(sorted(sized, key=key), key=key):
            group = list(group)
            for start in range(0, len(group), self.batch_size):
                batches.append(group[start : start + self.batch_size])
        return batches

    def _run_batch(self, batch: list) -> list[dict]:
        device = str(self.device)
        if batch[0][0] is None:  # unreadable content images
            return [{**base_row(task, device), "message": message} for _, task, message in batch]
        tasks = [task for _, task, _ in batch]
        contents = torch.stack([content for _, _, content in batch]).to(self.device)
        height, width = contents.shape[-2:]
        started = time.perf_counter()
        net = self.network()
        x, history, outcome = None, [], None
        s0 = tasks[0].settings
        for stage, (size, steps) in enumerate(s0["stages"]):
            stage_hw = scaled_size(height, width, size)
            content = resize(contents, stage_hw)
            init = self._init(tasks, content) if x is None else resize(x, stage_hw).to(self.device)
            method = Method(
                content_layers=s0["content_layers"],
                style_layers=s0["style_layers"],
                optimizer=s0["optimizer"],
                steps=steps,
                learning_rate=s0["learning_rate"],
                lbfgs_history=s0["lbfgs_history"],
                precision=s0["precision"],
            )
            style_size = max(1, round(size * s0["style_scale"]))
            grams = {
                layer: torch.stack(
                    [sum(w * t[f"{style_size}/{layer}"] for t, w in task.targets) for task in tasks]
                ).to(self.device)
                for layer in method.style_layers
            }
            weights = LossWeights(
                *(
                    torch.tensor([t.settings[k] for t in tasks], device=self.device)
                    for k in ("content_weight", "style_weight", "tv_weight")
                )
            )
            label = (
                f"{len(tasks)} pair(s) {width}x{height}, stage {stage + 1}/{len(s0['stages'])}"
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
            history.append((size, outcome.history))
            x = outcome.image
        seconds = (time.perf_counter() - started) / len(tasks)
        rows = []
        for b, task in enumerate(tasks):
            row = base_row(task, device)
            final = outcome.final[b].tolist()
            row.update(
                width=int(width),
                height=int(height),
                steps=sum(h.shape[0] for _, h in history),
                content_loss=final[0],
                style_loss=final[1],
                tv_loss=final[2],
                total_loss=final[3],
                initial_loss=float(history[0][1][0, b, 3]),
                seconds=round(seconds, 3),
            )
            if not bool(outcome.finite[b]):
                row["message"] = (
                    "the loss became NaN or infinite; lower the learning rate or the style weight"
                )
                rows.append(row)
                continue
            image = preserve_color(
                outcome.image[b], contents[b].cpu(), task.settings["preserve_color"]
            )
            row["status"] = "ok"
            save_png(
                image,
                task.pair.output,
                {
                    "nst:fingerprint": task.fingerprint,
                    "nst:settings": canonical_json(task.settings),
                },
            )
            write_json(
                task.pair.record,
                {
                    "fingerprint": task.fingerprint,
                    "row": row,
                    "history": {
                        "columns": ["size", "step", *TERMS],
                        "rows": [
                            [size, step + 1, *values[b].tolist()]
                            for size, hist in history
                            for step, values in enumerate(hist)
                        ],
                    },
                },
            )
            rows.append(row)
        self.log(f"done {len(tasks)} pair(s) in {seconds * len(tasks):.1f} s")
        return rows

    def _init(self, tasks: list[Task], content: torch.Tensor) -> torch.Tensor:
        """Starting images at the first stage's size: the content, seeded noise, or a file."""
        images = []
        for b, task in enumerate(tasks):
            init = task.settings["init"]
            if init == "content":
                images.append(content[b])
            elif init == "noise":
                generator = torch.Generator().manual_seed(task.seed)
                images.append(torch.rand(content.shape[1:], generator=generator).to(self.device))
            else:
                images.append(resize(load_image(init), tuple(content.shape[-2:])).to(self.device))
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
