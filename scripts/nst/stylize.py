"""The pixel optimisation of Gatys et al. for a batch of same-size images.

`optimize` takes content images, their style targets (one Gram per layer and
image) and per-image loss weights, and optimises the pixels of a batch of
images, starting from `init`.  Each image's loss depends only on that image, and
both optimisers keep per-image state, so the result for one image does not
depend on what else is in the batch.  `stylize` is the whole sequence, the one
entry point of the pair jobs, the tests and the benches: `optimize` once per stage
(coarse to fine), each stage starting from the last one's images, then any tiled
refinement scales (nst.highres).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from .backbones.base import FeatureExtractor
from .geometry import scaled_size
from .highres.schedule import refine_scales
from .images import resize
from .lbfgs import BatchedLBFGS
from .losses import LossTerms, LossWeights, gatys_loss
from .method import Method
from .outcome import TERMS, TOTAL, Outcome, StagedOutcome
from .precision import autocast
from .stages import Refinement, Stage, Watcher


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
    on_step: Callable[[int], None] | None = None,
) -> Outcome:
    """Optimise a batch of images.

    content, init: (B, 3, H, W) on the device; style_targets: layer -> (B, C, C).
    on_progress(step, terms) is called every `progress_every` steps with the
    (B, 4) loss terms on the CPU; only then does the host wait for the device.
    on_step(step) after every step, without waiting for it.
    """
    device = content.device
    targets = content_targets(net, content, method)
    layers = method.layers
    x = init.detach().clone().requires_grad_(True)

    polish_from = method.steps - round(method.steps * method.fp32_polish)

    def evaluate(image: Tensor) -> LossTerms:
        precision = method.precision if step < polish_from else "fp32"
        with autocast(device, precision):
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
        if on_step is not None:
            on_step(step + 1)
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


def stylize(
    net: FeatureExtractor,
    contents: Tensor,
    stages: Sequence[Stage],
    weights: LossWeights,
    init: Callable[[Tensor], Tensor] | None = None,
    watcher: Watcher | None = None,
    refinement: Refinement | None = None,
) -> StagedOutcome:
    """Stylise a batch of same-size contents (B, 3, H, W) through its stages, then any
    refinement scales up to the contents' own size.

    The contents may be anywhere: each stage's are resized, then moved to the network's
    device; refinement keeps its image-sized buffers where the contents are (on the CPU
    with the network on a GPU, GPU memory is bounded by the tile).  init(content) gives
    the first stage's starting images from the contents at that size (default: the
    contents); each later stage starts from the last one's, resized.  `weights` are per
    image, on the network's device.
    """
    watcher = watcher or Watcher()
    height, width = contents.shape[-2:]
    device = next(net.buffers()).device
    scales = refinement.settings.scales(max(height, width)) if refinement else ()
    count = len(stages) + len(scales)
    result, x = StagedOutcome(contents.shape[0]), None
    for index, stage in enumerate(stages):
        hw = scaled_size(height, width, stage.long_side)
        content = resize(contents, hw).to(device)
        if x is not None:
            start = resize(x.to(device), hw)
        else:
            start = content if init is None else init(content)
        watcher.start(index, count, hw, stage.method.steps, None)
        outcome = optimize(
            net,
            content,
            stage.style_targets,
            weights,
            stage.method,
            start,
            on_progress=lambda step, terms, index=index: watcher.progress(index, step, terms),
            progress_every=watcher.every,
            on_step=lambda step, index=index: watcher.step(index, step),
        )
        result.stages.append((stage.long_side, outcome))
        x = outcome.image
    if scales:

        passes = refinement.settings.steps

        def on_scale(index: int, hw: tuple[int, int], tile: int):
            at = len(stages) + index
            watcher.start(at, count, hw, passes, tile)

            def on_pass(step: int, terms: Tensor) -> None:
                watcher.step(at, step)
                if step % watcher.every == 0 or step == passes:
                    watcher.progress(at, step, terms)

            return on_pass

        result.stages += refine_scales(
            net,
            contents,
            x,
            refinement.style_targets,
            weights,
            stages[-1].method,
            refinement.settings,
            on_scale=on_scale,
        )
    return result
