"""A batch of same-size images stylised through its stages.

`stylize` is the whole sequence, the one entry point of the pair jobs, the tests and
the benches: `optimize` (nst.descent) once per stage (coarse to fine), each stage
starting from the last one's images, then any tiled refinement scales (nst.highres).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor

from .backbones.base import FeatureExtractor
from .descent import optimize
from .geometry import scaled_size
from .highres.schedule import refine_scales
from .images import resize
from .losses import LossWeights
from .outcome import StagedOutcome
from .stages import Refinement, Stage, Watcher


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
