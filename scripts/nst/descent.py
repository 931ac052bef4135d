"""The pixel optimisation of Gatys et al. for a batch of same-size images.

`optimize` takes content images, their style targets (one Gram per layer and
image) and per-image loss weights, and optimises a batch of images, starting from
`init`.  Each image's loss depends only on that image, and both optimisers keep
per-image state, so the result for one image does not depend on what else is in
the batch.  With L-BFGS the variable is a Laplacian pyramid of the pixels
(nst.pyramid) and each image stops when it has converged (nst.stopping): it then
leaves the batch, so that the others go on without its cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from .backbones.base import FeatureExtractor
from .lbfgs import BatchedLBFGS
from .losses import LossTerms, LossWeights, gatys_loss
from .method import Method
from .outcome import TERMS, TOTAL, Outcome
from .precision import autocast
from .pyramid import parameterise
from .stopping import StopRule


def content_targets(net: FeatureExtractor, content: Tensor, method: Method) -> dict[str, Tensor]:
    """The content image's features: in fp32 whatever the precision, like the style targets."""
    with torch.no_grad():
        features = net(content, list(method.content_layers))
    return {name: value.detach() for name, value in features.items()}


def _stack_terms(terms: LossTerms) -> Tensor:
    return torch.stack([terms.content, terms.style, terms.tv, terms.total], dim=1).detach().float()


@dataclass(frozen=True)
class _Live:
    """The images still optimised (`index`: their positions in the batch) and their
    targets and weights."""

    index: Tensor
    targets: dict[str, Tensor]
    styles: dict[str, Tensor]
    weights: LossWeights

    def keep(self, stay: Tensor) -> _Live:
        w = self.weights
        return _Live(
            self.index[stay],
            {k: t[stay] for k, t in self.targets.items()},
            {k: t[stay] for k, t in self.styles.items()},
            LossWeights(w.content[stay], w.style[stay], w.tv[stay]),
        )


def optimize(
    net: FeatureExtractor,
    content: Tensor,
    style_targets: Mapping[str, Tensor],
    weights: LossWeights,
    method: Method,
    init: Tensor,
    on_progress: Callable[[int, Tensor], None] | None = None,
    progress_every: int = 25,
    on_step: Callable[[int], None] | None = None,
) -> Outcome:
    """Optimise a batch of images.

    content, init: (B, 3, H, W) on the device; style_targets: layer -> (B, C, C).
    on_progress(step, terms) is called every `progress_every` steps with the
    (B, 4) loss terms on the CPU (NaN for images that have stopped); only then, and
    at the stop rule's checks, does the host wait for the device.  on_step(step)
    after every step, without waiting for it.
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

    # Stopped images leave `live`, so that they no longer cost any work.
    targets = content_targets(net, content, method)
    live = _Live(torch.arange(batch, device=device), targets, dict(style_targets), weights)
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
        with autocast(device, precision):
            features = net(image, method.layers)
        return gatys_loss(
            image,
            features,
            live.targets,
            live.styles,
            method.content_layers,
            method.style_layers,
            live.weights,
        )

    def closure() -> Tensor:
        v = optimizer.x if lbfgs else x
        v.grad = None
        terms = evaluate(v)
        terms.total.sum().backward()
        history[step, live.index] = _stack_terms(terms)
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
        if on_step is not None:
            on_step(step + 1)
        if lbfgs:
            accepted[step, live.index] = optimizer.loss
        if (step + 1) % progress_every == 0 or step + 1 == method.steps:
            current = optimizer.loss if lbfgs else history[step, live.index, TOTAL]
            v = (optimizer.x if lbfgs else x).detach()
            finite[live.index] &= torch.isfinite(current) & torch.isfinite(v).flatten(1).all(1)
            if on_progress is not None:
                on_progress(step + 1, history[step].cpu())
            if not finite.any():
                break
        if step >= stop_from and rule.checks(step + 1):
            stopped = rule.converged(accepted[:, live.index], step + 1).cpu()
            if stopped.any():
                leave = live.index[stopped.to(device)]
                stay = (~stopped).nonzero()[:, 0].to(device)
                with torch.no_grad():
                    image_out[leave] = to_image(optimizer.accepted_point()[stopped.to(device)])
                # The accepted point's terms: those of the evaluation that was accepted.
                final[leave] = _accepted_terms(history[: step + 1, leave], accepted[step, leave])
                steps_done[leave.cpu()] = step + 1
                optimizer.keep(stay)
                live = live.keep(stay)
                if live.index.numel() == 0:
                    break

    if live.index.numel():
        v = optimizer.x if lbfgs else x
        with torch.no_grad():
            final[live.index] = _stack_terms(evaluate(v))
            image_out[live.index] = to_image(v.detach())
            if lbfgs:
                # The last move may have overshot; then return the last accepted point.
                worse = ~(final[live.index, TOTAL] <= optimizer.loss)
                if worse.any():
                    back = live.index[worse]
                    image_out[back] = to_image(optimizer.accepted_point()[worse])
                    final[back] = _accepted_terms(history[:, back], optimizer.loss[worse])
    finite &= torch.isfinite(final).all(dim=1)
    last = int(steps_done.max()) if live.index.numel() == 0 else step + 1
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
