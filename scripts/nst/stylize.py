"""The pixel optimisation of Gatys et al. for a batch of same-size images.

`optimize` takes content images, their style targets (one Gram per layer and
image) and per-image loss weights, and optimises the pixels of a batch of
images, starting from `init`.  Each image's loss depends only on that image, and
both optimisers keep per-image state, so the result for one image does not
depend on what else is in the batch.  `optimize_stages` runs it once per stage
(coarse to fine), each stage starting from the last one's images.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from .backbones.base import FeatureExtractor
from .geometry import scaled_size
from .images import resize
from .lbfgs import BatchedLBFGS
from .losses import LossTerms, LossWeights, gatys_loss
from .settings import PairSettings

TERMS = ("content", "style", "tv", "total")  # the columns of Outcome.final and .history
TOTAL = TERMS.index("total")
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Method:
    """The optimisation settings shared by every image of a batch."""

    content_layers: Mapping[str, float]
    style_layers: Mapping[str, float]
    optimizer: str = "lbfgs"
    steps: int = 300
    learning_rate: float = 1.0
    lbfgs_history: int = 50
    precision: str = "fp32"
    # Under bf16, the last steps run in fp32: the optimum is fp32's, the speed mostly bf16's.
    fp32_polish: float = 0.1

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
        )

    @property
    def layers(self) -> list[str]:
        return sorted(set(self.content_layers) | set(self.style_layers))


class Terms(NamedTuple):
    """One image's weighted loss terms."""

    content: float
    style: float
    tv: float
    total: float


@dataclass
class Outcome:
    image: Tensor  # (B, 3, H, W) on the CPU
    final: Tensor  # (B, 4) the TERMS at the returned image
    history: Tensor  # (steps, B, 4) the same at each evaluated iterate
    finite: Tensor  # (B,) bool: False where the loss or the image became NaN/Inf
    steps_done: int = 0

    def terms(self, b: int) -> Terms:
        return Terms(*self.final[b].tolist())


def _autocast(device: torch.device, precision: str):
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def content_targets(net: FeatureExtractor, content: Tensor, method: Method) -> dict[str, Tensor]:
    """The content image's features: in fp32 whatever the precision, like the style targets."""
    with torch.no_grad():
        features = net(content, list(method.content_layers))
    return {name: value.detach() for name, value in features.items()}


def _stack_terms(terms: LossTerms) -> Tensor:
    return torch.stack([terms.content, terms.style, terms.tv, terms.total], dim=1).detach()


def optimize(
    net: FeatureExtractor,
    content: Tensor,
    style_targets: Mapping[str, Tensor],
    weights: LossWeights,
    method: Method,
    init: Tensor,
    on_progress: Callable[[int, Tensor], None] | None = None,
    progress_every: int = 25,
) -> Outcome:
    """Optimise a batch of images.

    content, init: (B, 3, H, W) on the device; style_targets: layer -> (B, C, C).
    on_progress(step, terms) is called every `progress_every` steps with the
    (B, 4) loss terms on the CPU; only then does the host wait for the device.
    """
    device = content.device
    targets = content_targets(net, content, method)
    layers = method.layers
    x = init.detach().clone().requires_grad_(True)

    polish_from = method.steps - round(method.steps * method.fp32_polish)

    def evaluate(image: Tensor) -> LossTerms:
        precision = method.precision if step < polish_from else "fp32"
        with _autocast(device, precision):
            features = net(image, layers)
        return gatys_loss(
            image,
            features,
            targets,
            style_targets,
            method.content_layers,
            method.style_layers,
            weights,
        )

    history = torch.zeros(method.steps, x.shape[0], len(TERMS), device=device)
    step = 0

    def closure() -> Tensor:
        x.grad = None
        terms = evaluate(x)
        terms.total.sum().backward()
        history[step] = _stack_terms(terms)
        return terms.total.detach()

    if method.optimizer == "lbfgs":
        optimizer = BatchedLBFGS(x, lr=method.learning_rate, history_size=method.lbfgs_history)
        advance = lambda: optimizer.step(closure)  # noqa: E731
    elif method.optimizer == "adam":
        adam = torch.optim.Adam([x], lr=method.learning_rate)

        def advance():
            adam.step(closure)
            with torch.no_grad():
                x.clamp_(0, 1)
    else:
        raise ValueError(f"unknown optimizer {method.optimizer!r}")

    # Checked at progress points only, so that the device is not synchronised every step.
    # L-BFGS backtracks out of a NaN evaluation, so what counts is its accepted loss.
    finite = torch.ones(x.shape[0], dtype=torch.bool, device=device)
    for step in range(method.steps):
        advance()
        if (step + 1) % progress_every == 0 or step + 1 == method.steps:
            current = optimizer.loss if method.optimizer == "lbfgs" else history[step, :, TOTAL]
            finite &= torch.isfinite(current) & torch.isfinite(x.detach()).flatten(1).all(1)
            if on_progress is not None:
                on_progress(step + 1, history[step].cpu())
            if not finite.any():
                break
    steps_done = step + 1

    with torch.no_grad():
        final = _stack_terms(evaluate(x))
        if method.optimizer == "lbfgs":
            # The last move may have overshot; then return the last accepted point.
            worse = ~(final[:, TOTAL] <= optimizer.loss)
            if worse.any():
                x[worse] -= optimizer.last_step[worse].view_as(x[worse])
                final = _stack_terms(evaluate(x))
    finite &= torch.isfinite(final).all(dim=1)
    return Outcome(
        image=x.detach().clamp(0, 1).cpu(),
        final=final.cpu(),
        history=history[:steps_done].cpu(),
        finite=finite.cpu(),
        steps_done=steps_done,
    )


@dataclass(frozen=True)
class Stage:
    """One stage of coarse to fine: the long side, how to optimise, the style targets
    (layer -> (B, C, C) Grams, at this stage's style size)."""

    long_side: int
    method: Method
    style_targets: Mapping[str, Tensor]


class StagedOutcome:
    """The outcome of a batch over all its stages, per image."""

    def __init__(self, size: int, retried: bool = False):
        self.stages: list[tuple[int, Outcome]] = []
        self.retried = [retried] * size

    @property
    def last(self) -> Outcome:
        return self.stages[-1][1]

    @property
    def steps(self) -> int:
        return sum(outcome.steps_done for _, outcome in self.stages)

    def initial_total(self, b: int) -> float:
        return float(self.stages[0][1].history[0, b, TOTAL])

    def ok(self, b: int) -> bool:
        """Finite, and better than where it started (else it diverged)."""
        return bool(self.last.finite[b]) and self.last.terms(b).total <= self.initial_total(b)

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

    def extend(self, other: StagedOutcome) -> None:
        """Append another batch's images (same stages) after this one's."""
        for (_, mine), (_, theirs) in zip(self.stages, other.stages):
            mine.image = torch.cat([mine.image, theirs.image])
            mine.final = torch.cat([mine.final, theirs.final])
            mine.finite = torch.cat([mine.finite, theirs.finite])
            steps = min(mine.history.shape[0], theirs.history.shape[0])
            mine.history = torch.cat([mine.history[:steps], theirs.history[:steps]], dim=1)
        self.retried += other.retried

    def replace(self, indices: Sequence[int], other: StagedOutcome) -> None:
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


def optimize_stages(
    net: FeatureExtractor,
    contents: Tensor,
    stages: Sequence[Stage],
    weights: LossWeights,
    init: Callable[[Tensor], Tensor],
    on_stage: Callable[[int, tuple[int, int]], Callable[[int, Tensor], None] | None] = None,
    progress_every: int = 25,
    retried: bool = False,
) -> StagedOutcome:
    """Optimise a batch of same-size contents ((B, 3, H, W), anywhere: each stage's are
    resized, then moved to the network's device) through its stages.  init(content)
    gives the first stage's starting images from the contents at that size; each later
    stage starts from the last one's, resized.  on_stage(index, (h, w)) may return the
    stage's progress callback (see `optimize`)."""
    height, width = contents.shape[-2:]
    device = next(net.buffers()).device
    result, x = StagedOutcome(contents.shape[0], retried), None
    for index, stage in enumerate(stages):
        hw = scaled_size(height, width, stage.long_side)
        content = resize(contents, hw).to(device)
        start = init(content) if x is None else resize(x.to(device), hw)
        outcome = optimize(
            net,
            content,
            stage.style_targets,
            weights,
            stage.method,
            start,
            on_progress=on_stage(index, hw) if on_stage else None,
            progress_every=progress_every,
        )
        result.stages.append((stage.long_side, outcome))
        x = outcome.image
    return result
