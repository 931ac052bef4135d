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
from .pyramid import parameterise
from .settings import PairSettings
from .stopping import StopRule

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
    # Off unless set (the workflow's defaults: workflow/schemas/config.schema.yaml).
    pyramid_gain: float = 0.0  # nst.pyramid; 0: optimise the pixels
    stop_tolerance: float = 0.0  # nst.stopping; 0: every pair runs `steps`
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
    steps_done: Tensor  # (B,) steps each image took (fewer than the cap where it stopped)

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
    return torch.stack([terms.content, terms.style, terms.tv, terms.total], dim=1).detach().float()


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
    (B, 4) loss terms on the CPU (NaN for images that have stopped); only then, and
    at the stop rule's checks, does the host wait for the device.
    """
    device, batch = content.device, content.shape[0]
    lbfgs = method.optimizer == "lbfgs"
    # The pyramid and the stop are L-BFGS's: Adam clamps pixels and its loss is not monotone.
    variable, to_image = parameterise(init, method.pyramid_gain if lbfgs else 0.0)
    x = variable.requires_grad_(True)
    rule = StopRule(method.stop_tolerance if lbfgs else 0.0, method.stop_window)
    polish_from = method.steps - round(method.steps * method.fp32_polish)
    # Under bf16 the stop ends the fp32 polish only: bf16's optimum is not fp32's.
    stop_from = 0 if method.precision == "fp32" else polish_from

    # The images still optimised (`live`, positions in the batch) and their targets;
    # stopped images leave all of these, so that they no longer cost any work.
    live = torch.arange(batch, device=device)
    live_targets = content_targets(net, content, method)
    live_styles, live_weights = dict(style_targets), weights
    history = torch.full((method.steps, batch, len(TERMS)), float("nan"), device=device)
    accepted = torch.full((method.steps, batch), float("nan"), device=device)
    image_out = init.detach().clone()
    final = torch.full((batch, len(TERMS)), float("nan"), device=device)
    steps_done = torch.full((batch,), method.steps, dtype=torch.long)
    finite = torch.ones(batch, dtype=torch.bool, device=device)
    step = 0

    def evaluate(v: Tensor) -> LossTerms:
        image = to_image(v)
        precision = method.precision if step < polish_from else "fp32"
        with _autocast(device, precision):
            features = net(image, method.layers)
        return gatys_loss(
            image,
            features,
            live_targets,
            live_styles,
            method.content_layers,
            method.style_layers,
            live_weights,
        )

    def closure() -> Tensor:
        v = optimizer.x if lbfgs else x
        v.grad = None
        terms = evaluate(v)
        terms.total.sum().backward()
        history[step, live] = _stack_terms(terms)
        return terms.total.detach()

    if lbfgs:
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
    for step in range(method.steps):
        advance()
        if lbfgs:
            accepted[step, live] = optimizer.loss
        if (step + 1) % progress_every == 0 or step + 1 == method.steps:
            current = optimizer.loss if lbfgs else history[step, live, TOTAL]
            v = (optimizer.x if lbfgs else x).detach()
            finite[live] &= torch.isfinite(current) & torch.isfinite(v).flatten(1).all(1)
            if on_progress is not None:
                on_progress(step + 1, history[step].cpu())
            if not finite.any():
                break
        if step >= stop_from and rule.checks(step + 1):
            stopped = rule.converged(accepted[:, live], step + 1).cpu()
            if stopped.any():
                leave, stay = live[stopped.to(device)], (~stopped).nonzero()[:, 0].to(device)
                with torch.no_grad():
                    image_out[leave] = to_image(optimizer.accepted_point()[stopped.to(device)])
                # The accepted point's terms: those of the evaluation that was accepted.
                final[leave] = _accepted_terms(history[: step + 1, leave], accepted[step, leave])
                steps_done[leave.cpu()] = step + 1
                optimizer.keep(stay)
                live = live[stay]
                live_targets = {k: t[stay] for k, t in live_targets.items()}
                live_styles = {k: t[stay] for k, t in live_styles.items()}
                w = live_weights
                live_weights = LossWeights(w.content[stay], w.style[stay], w.tv[stay])
                if live.numel() == 0:
                    break

    if live.numel():
        v = optimizer.x if lbfgs else x
        with torch.no_grad():
            final[live] = _stack_terms(evaluate(v))
            image_out[live] = to_image(v.detach())
            if lbfgs:
                # The last move may have overshot; then return the last accepted point.
                worse = ~(final[live, TOTAL] <= optimizer.loss)
                if worse.any():
                    back = live[worse]
                    image_out[back] = to_image(optimizer.accepted_point()[worse])
                    final[back] = _accepted_terms(history[:, back], optimizer.loss[worse])
    finite &= torch.isfinite(final).all(dim=1)
    last = int(steps_done.max()) if live.numel() == 0 else step + 1
    return Outcome(
        image=image_out.clamp(0, 1).cpu(),
        final=final.cpu(),
        history=history[:last].cpu(),
        finite=finite.cpu(),
        steps_done=steps_done.clamp(max=last),
    )


def _accepted_terms(history: Tensor, loss: Tensor) -> Tensor:
    """(steps, n, 4) terms and (n,) accepted totals -> (n, 4): each image's terms at the
    latest evaluation whose total is its accepted loss."""
    order = torch.arange(1, history.shape[0] + 1, device=history.device)[:, None]
    latest = ((history[..., TOTAL] == loss) * order).argmax(0)
    return history[latest, torch.arange(history.shape[1], device=history.device)]


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

    def steps(self, b: int) -> int:
        """The steps image b took over all stages."""
        return sum(int(outcome.steps_done[b]) for _, outcome in self.stages)

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
                for step, values in enumerate(outcome.history[: outcome.steps_done[b]])
            ],
        }

    def extend(self, other: StagedOutcome) -> None:
        """Append another batch's images (same stages) after this one's."""
        for (_, mine), (_, theirs) in zip(self.stages, other.stages):
            mine.image = torch.cat([mine.image, theirs.image])
            mine.final = torch.cat([mine.final, theirs.final])
            mine.finite = torch.cat([mine.finite, theirs.finite])
            mine.steps_done = torch.cat([mine.steps_done, theirs.steps_done])
            mine.history = torch.cat(_same_length(mine.history, theirs.history), dim=1)
        self.retried += other.retried

    def replace(self, indices: Sequence[int], other: StagedOutcome) -> None:
        """Put another batch's results (one per index) in place of these images."""
        for (_, mine), (_, theirs) in zip(self.stages, other.stages):
            for j, b in enumerate(indices):
                mine.image[b] = theirs.image[j]
                mine.final[b] = theirs.final[j]
                mine.finite[b] = theirs.finite[j]
                mine.steps_done[b] = theirs.steps_done[j]
                mine.history, history = _same_length(mine.history, theirs.history)
                mine.history[:, b] = history[:, j]
        for b in indices:
            self.retried[b] = True


def _same_length(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Two (steps, B, 4) histories padded with NaN (steps not taken) to the longer one."""
    steps = max(a.shape[0], b.shape[0])
    pad = lambda h: torch.cat([h, h.new_full((steps - h.shape[0], *h.shape[1:]), float("nan"))])  # noqa: E731
    return pad(a), pad(b)


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
