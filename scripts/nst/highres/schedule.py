"""The high-resolution mode: whole image at a size that fits, then tiled refinement.

1. The whole image is optimised at `base_size` (long side) with nst.stylize.optimize,
   L-BFGS as for any pair: it sets the composition, which tiles could not.
2. It is upscaled (bicubic) by about `scale_factor` at a time up to the final size,
   and at each scale refined for `steps` passes.  A pass computes the whole image's
   gradient tile by tile (tiled.tiled_pass, the grid shifted every pass) and then
   takes one Adam step on the whole image.  Peak memory is a few image-sized buffers
   plus one tile's graph: it depends on the tile size, not on the image's.

A scale no larger than one tile is a single tile: the same code path, untiled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace

import torch
from torch import Tensor

from ..backbones.base import FeatureExtractor
from ..images import resize, scaled_size
from ..losses import LossWeights
from ..stylize import Method, Outcome, optimize
from .grid import make_grid, pass_offset
from .memory import activation_bytes_per_pixel, free_memory, tile_for_budget
from .tiled import Adam, Problem, tiled_pass

# A style layer -> (B or 1, C, C) Gram targets; or a function of a scale's long side
# that gives them (e.g. the style's Grams at that size times style_scale).
Grams = Mapping[str, Tensor] | Callable[[int], Mapping[str, Tensor]]
Progress = Callable[[int, int, Tensor], None]  # (scale's long side, step, (B, 4) terms)


@dataclass(frozen=True)
class HighresSettings:
    """Everything of the mode that changes the image (all of it belongs in `params`)."""

    tile: int | None = 512  # tile side in px; None: the largest that fits the budget
    overlap: int = 64  # px shared by neighbouring tiles (at most half a tile)
    # px at a tile's inner edges that it sees but leaves to its neighbour; None: overlap/4
    margin: int | None = None
    memory_budget: float | None = None  # bytes, for tile=None; None: half the free memory
    base_size: int = 512  # long side of the whole-image stage
    base_steps: int = 300  # its L-BFGS steps
    scale_factor: float = 2.0  # growth per refinement scale (the last one is the size)
    steps: int = 100  # Adam passes per refinement scale
    learning_rate: float = 0.01  # Adam's, in [0, 1] pixel units
    shift: bool = True  # move the grid every pass (off only to measure what it does)

    def __post_init__(self):
        if self.tile is not None and not 0 <= self.overlap <= self.tile // 2:
            raise ValueError(f"overlap {self.overlap} must be in [0, tile/2 = {self.tile // 2}]")
        if not 0 <= 2 * self.context <= self.overlap:
            raise ValueError(f"margin {self.margin} must be in [0, overlap/2]")
        if self.scale_factor <= 1 or self.base_size < 16 or self.steps < 0:
            raise ValueError("need scale_factor > 1, base_size >= 16 and steps >= 0")

    @property
    def context(self) -> int:
        """The margin in px."""
        return self.overlap // 4 if self.margin is None else self.margin

    def to_params(self) -> dict:
        return asdict(self)


def scale_sizes(base: int, final: int, factor: float) -> tuple[int, ...]:
    """Long sides of the refinement scales after `base`: as few as keep each step at
    most `factor`, evenly spaced in log, ending at `final` (none if final <= base)."""
    if final <= base:
        return ()
    count = math.ceil(math.log(final / base) / math.log(factor) - 1e-9)
    return tuple(round(base * (final / base) ** (k / count)) for k in range(1, count + 1))


def _every(
    report: Callable[[int, Tensor], None], every: int, last: int
) -> Callable[[int, Tensor], None]:
    def on_pass(step: int, terms: Tensor) -> None:
        if step % every == 0 or step == last:
            report(step, terms)

    return on_pass


def _grams_at(grams: Grams, size: int) -> Mapping[str, Tensor]:
    return grams(size) if callable(grams) else grams


def resolve_tile(
    settings: HighresSettings, net: FeatureExtractor, layers: list[str], content: Tensor
) -> int:
    """The tile side: the setting, or the largest that fits the budget at the final size."""
    if settings.tile is not None:
        return settings.tile
    device = next(net.buffers()).device
    budget = settings.memory_budget or 0.5 * free_memory(device)
    shared = content.device == device
    pixels = content.shape[-2] * content.shape[-1]
    per_pixel = activation_bytes_per_pixel(net, layers)
    return max(
        2 * settings.overlap, tile_for_budget(budget, pixels, per_pixel, content.shape[0], shared)
    )


def refine(
    problem: Problem,
    x: Tensor,
    steps: int,
    tile: int,
    overlap: int,
    lr: float,
    shift: bool = True,
    on_pass: Callable[[int, Tensor], None] | None = None,
    margin: int = 0,
    first_pass: int = 0,
) -> Outcome:
    """`steps` tiled passes with one Adam step each, from x (B, 3, H, W), which is
    modified in place.  history[k] is pass k's tile estimate (before its step); final is
    an estimate at the returned image, on one more grid offset.  Pass k's grid offset is
    that of pass first_pass + k (scales continue the sequence, so that a scale's first
    grid does not repeat the previous scale's, upscaled)."""
    height, width = x.shape[-2:]
    grad = torch.zeros_like(x)
    adam = Adam.like(x, lr)
    history = torch.zeros(steps, x.shape[0], 4)
    for k in range(steps):
        offset = pass_offset(first_pass + k, tile, overlap, shift)
        grid = make_grid(height, width, tile, overlap, offset, margin)
        history[k] = tiled_pass(problem, x, grid, grad).cpu()
        adam.step(x, grad)
        if on_pass is not None:
            on_pass(k + 1, history[k])
    del grad, adam
    offset = pass_offset(first_pass + steps, tile, overlap, shift)
    grid = make_grid(height, width, tile, overlap, offset, margin)
    final = tiled_pass(problem, x, grid).cpu()
    finite = torch.isfinite(final).all(1) & torch.isfinite(x).flatten(1).all(1).cpu()
    return Outcome(image=x.cpu(), final=final, history=history, finite=finite, steps_done=steps)


def stylize_highres(
    net: FeatureExtractor,
    content: Tensor,
    grams: Grams,
    weights: LossWeights,
    method: Method,
    settings: HighresSettings,
    init: Tensor | None = None,
    on_progress: Progress | None = None,
    progress_every: int = 25,
) -> list[tuple[int, Outcome]]:
    """Stylise content (B, 3, H, W) at its own size; returns (long side, Outcome) per stage,
    the base first, the last one's image the result (on the CPU).

    The image-sized buffers live where `content` is: keep it on the CPU with the network
    on a GPU to bound GPU memory by the tile alone.  `method` gives the layers, the
    precision and the base stage's optimiser (its steps are settings.base_steps);
    `weights` are per image, on the network's device; `init` is the base stage's start
    (any size; default the content).
    """
    device = next(net.buffers()).device
    height, width = content.shape[-2:]
    final = max(height, width)
    base = min(settings.base_size, final)
    base_hw = scaled_size(height, width, base)
    base_content = resize(content, base_hw).to(device)
    start = base_content if init is None else resize(init.to(device), base_hw)

    def progress(size: int) -> Callable[[int, Tensor], None] | None:
        return None if on_progress is None else lambda step, terms: on_progress(size, step, terms)

    base_method = replace(method, steps=settings.base_steps)
    outcome = optimize(
        net,
        base_content,
        _grams_at(grams, base),
        weights,
        base_method,
        start,
        on_progress=progress(base),
        progress_every=progress_every,
    )
    del base_content, start
    stages = [(base, outcome)]
    sizes = scale_sizes(base, final, settings.scale_factor)
    tile = resolve_tile(settings, net, method.layers, content) if sizes else 0
    for index, size in enumerate(sizes):
        hw = scaled_size(height, width, size)
        problem = Problem(
            net,
            resize(content, hw),
            _grams_at(grams, size),
            weights,
            method.content_layers,
            method.style_layers,
            method.precision,
        )
        x = resize(stages[-1][1].image.to(content.device), hw).contiguous()
        report = progress(size)
        on_pass = None if report is None else _every(report, progress_every, settings.steps)
        stages.append(
            (
                size,
                refine(
                    problem,
                    x,
                    settings.steps,
                    tile,
                    settings.overlap,
                    settings.learning_rate,
                    settings.shift,
                    on_pass,
                    settings.context,
                    first_pass=index * (settings.steps + 1),
                ),
            )
        )
    return stages
