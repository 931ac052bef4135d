"""The high-resolution mode: whole image at a size that fits, then tiled refinement.

1. The whole image is optimised at `base_size` (long side), L-BFGS as for any pair:
   the stages of nst.stylize.stylize.  It sets the composition, which tiles could not.
2. It is upscaled (bicubic) by about `scale_factor` at a time up to the final size,
   and at each scale refined for `steps` passes.  A pass computes the whole image's
   gradient tile by tile (tiled.tiled_pass, the grid shifted every pass) and then
   takes one Adam step on the whole image.  Peak memory is a few image-sized buffers
   plus one tile's graph: it depends on the tile size, not on the image's.

A scale no larger than one tile is a single tile: the same code path, untiled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from ..backbones.base import FeatureExtractor
from ..images import resize, scaled_size
from ..losses import LossWeights
from ..method import Method
from ..outcome import Outcome
from ..settings import HighresSettings
from .grid import pass_grid
from .memory import activation_bytes_per_pixel, free_memory, tile_for_budget
from .tiled import Adam, Problem, tiled_pass


def resolve_tile(
    settings: HighresSettings, net: FeatureExtractor, layers: list[str], content: Tensor
) -> int:
    """The tile side: the setting, or the largest that fits the budget at the final size."""
    if settings.tile != "auto":
        return settings.tile
    device = next(net.buffers()).device
    budget = settings.memory_budget
    budget = 0.5 * free_memory(device) if budget == "auto" else budget * 1e9
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
    modified in place.  history[k] is the loss at pass k's image (before its step); final
    the loss at the returned image (on one more grid).  Pass k's grid is that of pass
    first_pass + k (scales continue the sequence, so that a scale's first grid does not
    repeat the previous scale's, upscaled).  Tiles start on the network's stride."""
    height, width = x.shape[-2:]
    grad = torch.zeros_like(x)
    adam = Adam.like(x, lr)
    history = torch.zeros(steps, x.shape[0], 4)

    def grid(index: int):
        return pass_grid(height, width, tile, overlap, index, shift, margin, problem.align)

    for k in range(steps):
        history[k] = tiled_pass(problem, x, grid(first_pass + k), grad).cpu()
        adam.step(x, grad)
        if on_pass is not None:
            on_pass(k + 1, history[k])
    del grad, adam
    final = tiled_pass(problem, x, grid(first_pass + steps)).cpu()
    finite = torch.isfinite(final).all(1) & torch.isfinite(x).flatten(1).all(1).cpu()
    done = torch.full((x.shape[0],), steps)
    return Outcome(image=x.cpu(), final=final, history=history, finite=finite, steps_done=done)


def refine_scales(
    net: FeatureExtractor,
    content: Tensor,
    start: Tensor,
    style_grams: Callable[[int], Mapping[str, Tensor]],
    weights: LossWeights,
    method: Method,
    settings: HighresSettings,
    on_scale: Callable[[int, tuple[int, int], int], Callable[[int, Tensor], None] | None]
    | None = None,
) -> list[tuple[int, Outcome]]:
    """The refinement scales of content (B, 3, H, W) from `start`, the whole-image
    stage's result (any size): (long side, Outcome) per scale, up to the content's size.

    The image-sized buffers live where `content` is: keep it on the CPU with the network
    on a GPU to bound GPU memory by the tile alone.  `method` gives the layers and the
    precision; on_scale(index, (h, w), tile) may return a scale's on_pass (see refine)."""
    height, width = content.shape[-2:]
    sizes = settings.scales(max(height, width))
    if not sizes:
        return []
    tile = resolve_tile(settings, net, method.layers, content)
    stages, x = [], start
    for index, size in enumerate(sizes):
        hw = scaled_size(height, width, size)
        problem = Problem(
            net,
            resize(content, hw),
            style_grams(size),
            weights,
            method.content_layers,
            method.style_layers,
            method.precision,
        )
        x = resize(x.to(content.device), hw).contiguous()
        on_pass = on_scale(index, hw, tile) if on_scale else None
        outcome = refine(
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
        )
        stages.append((size, outcome))
        x = outcome.image
    return stages
