"""The pixel optimisation of Gatys et al. for a batch of same-size images.

`optimize` takes content images, their style targets (one Gram per layer and
image) and per-image loss weights, and optimises the pixels of a batch of
images, starting from `init`.  Each image's loss depends only on that image, and
both optimisers keep per-image state, so the result for one image does not
depend on what else is in the batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from .backbones.base import FeatureExtractor
from .lbfgs import BatchedLBFGS
from .losses import LossTerms, LossWeights, gatys_loss
from .settings import PairSettings

TERMS = ("content", "style", "tv", "total")
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


@dataclass
class Outcome:
    image: Tensor  # (B, 3, H, W) on the CPU
    final: Tensor  # (B, 4) content, style, tv, total at the returned image
    history: Tensor  # (steps, B, 4) the same at each evaluated iterate
    finite: Tensor  # (B,) bool: False where the loss or the image became NaN/Inf
    steps_done: int = 0


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
            current = optimizer.loss if method.optimizer == "lbfgs" else history[step, :, 3]
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
            worse = ~(final[:, 3] <= optimizer.loss)
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
