"""From the user's config to the resolved, output-affecting settings of each rule.

`PairSettings` is the one owner of what changes a stylised image (with
`HighresSettings`, its tiled refinement above `highres.base_size`).  The
workflow serialises it into the pair rule's `params` (`to_params`), so Snakemake
reruns a pair job exactly when one of them changes, and the job reads it back
(`from_params`).  Config keys left out take the schema's defaults (Snakemake's
`validate` fills them in); a loss weight or layer set left `null` takes the
network's from the catalog.  Two configs that mean the same thing give the same
settings (writing the default style weight explicitly reruns nothing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

from .catalog import Network

# Keys a pairs sheet may override per pair (the rest would invalidate shared caches).
PAIR_OVERRIDES = ("content_weight", "style_weight", "tv_weight", "steps", "seed", "preserve_color")
# The step size when `learning_rate: null`: L-BFGS's natural 1, Adam's usual 0.02 on [0, 1] pixels.
DEFAULT_LEARNING_RATE = {"lbfgs": 1.0, "adam": 0.02}


def with_steps(
    stages: tuple[tuple[int, int], ...], steps: int | None
) -> tuple[tuple[int, int], ...]:
    """The stages with the final one's steps replaced (a sheet's `steps`; None: as they are)."""
    if steps is None:
        return stages
    size, _ = stages[-1]
    return (*stages[:-1], (size, int(steps)))


def stages(size: int, steps: int, coarse_to_fine: Mapping | None) -> tuple[tuple[int, int], ...]:
    """(long side, steps) of each optimisation stage, smallest first, ending at `size`.

    Coarse-to-fine starts at `start` px and grows by `factor` per stage, each
    stage warm-started from the previous one; the final stage runs `steps`.
    """
    if not coarse_to_fine or not coarse_to_fine.get("enabled"):
        return ((size, steps),)
    start, factor = coarse_to_fine["start"], coarse_to_fine["factor"]
    sizes = [size]
    while round(sizes[0] / factor) >= start:
        sizes.insert(0, round(sizes[0] / factor))
    return tuple((s, coarse_to_fine["steps"]) for s in sizes[:-1]) + ((size, steps),)


def scale_sizes(base: int, final: int, factor: float) -> tuple[int, ...]:
    """Long sides of the refinement scales after `base`: as few as keep each step at
    most `factor`, evenly spaced in log, ending at `final` (none if final <= base)."""
    if final <= base:
        return ()
    count = math.ceil(math.log(final / base) / math.log(factor) - 1e-9)
    return tuple(round(base * (final / base) ** (k / count)) for k in range(1, count + 1))


@dataclass(frozen=True)
class HighresSettings:
    """The high-resolution mode's output-affecting settings (nst.highres): the whole
    image is optimised at `base_size`, then refined tile by tile at growing scales.

    With tile "auto" the tile is the largest that fits the memory budget, so it depends
    on the machine; the loss being the whole image's whatever the tiles (tiled.py), a
    different tile moves the result only where features lack context near tile borders.
    """

    tile: int | str = 512  # tile side in px, or "auto": the largest that fits the budget
    overlap: int = 128  # px shared by neighbouring tiles (at most half a tile)
    # px at a tile's inner edges that it sees but leaves to its neighbour (context for the
    # receptive field of its features); None: overlap/4
    margin: int | None = None
    memory_budget: float | str = "auto"  # GB, for tile "auto"; "auto": half the free memory
    base_size: int = 512  # long side of the whole-image stage
    scale_factor: float = 2.0  # growth per refinement scale (the last one is the size)
    steps: int = 100  # Adam passes per refinement scale
    learning_rate: float = 0.01  # Adam's, in [0, 1] pixel units
    shift: bool = True  # move the grid every pass (off only to measure what it does)

    def __post_init__(self):
        if self.tile != "auto" and not (
            isinstance(self.tile, int) and 0 <= self.overlap <= self.tile // 2
        ):
            raise ValueError(f"overlap {self.overlap} must be in [0, tile/2] (tile {self.tile})")
        if not 0 <= 2 * self.context <= self.overlap:
            raise ValueError(f"margin {self.margin} must be in [0, overlap/2]")
        if self.memory_budget != "auto" and not (
            isinstance(self.memory_budget, int | float) and self.memory_budget > 0
        ):
            raise ValueError(f"memory_budget {self.memory_budget!r}: GB or 'auto'")
        if self.scale_factor <= 1 or self.base_size < 16 or self.steps < 0:
            raise ValueError("need scale_factor > 1, base_size >= 16 and steps >= 0")

    @property
    def context(self) -> int:
        """The margin in px."""
        return self.overlap // 4 if self.margin is None else self.margin

    def scales(self, final: int) -> tuple[int, ...]:
        """Long sides of the refinement scales up to `final` (none at or below base_size)."""
        return scale_sizes(self.base_size, final, self.scale_factor)

    def to_params(self) -> dict:
        """Plain JSON values (for Snakemake's params and fingerprints)."""
        return asdict(self)

    @classmethod
    def from_params(cls, data: Mapping) -> HighresSettings:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise KeyError(f"not a highres setting: {', '.join(sorted(unknown))}")
        return cls(**data)

    @classmethod
    def from_config(cls, block: Mapping | None, size: int) -> HighresSettings | None:
        """The config's `highres:` block, or None where it changes nothing: disabled, or
        `size` no larger than its base (so enabling it for small sizes reruns nothing)."""
        if not block or not block.get("enabled"):
            return None
        settings = cls(**{k: v for k, v in block.items() if k != "enabled"})
        return settings if size > settings.base_size else None


def _or_default(value, default):
    """The configured value unless it is null (0 is a value: `style_weight: 0` stays 0)."""
    return default if value is None else value


@dataclass(frozen=True)
class StyleTargetSettings:
    """What a cached style target (the Grams of one style image) depends on."""

    backbone: str
    source: str
    revision: int
    weights: str
    pooling: str
    style_layers: tuple[str, ...]  # sorted
    style_sizes: tuple[int, ...]

    def to_params(self) -> dict:
        data = asdict(self)
        data.update(style_layers=list(self.style_layers), style_sizes=list(self.style_sizes))
        return data

    @classmethod
    def from_params(cls, data: Mapping) -> StyleTargetSettings:
        layers, sizes = tuple(data["style_layers"]), tuple(data["style_sizes"])
        return cls(**{**data, "style_layers": layers, "style_sizes": sizes})


@dataclass(frozen=True)
class PairSettings:
    """Everything that changes a stylised image, with every default filled in."""

    backbone: str
    source: str  # where the network's weights come from (catalog)
    revision: int  # the network code's revision (catalog)
    weights: str  # the weights file's name
    pooling: str
    content_layers: Mapping[str, float]
    style_layers: Mapping[str, float]
    content_weight: float
    style_weight: float
    tv_weight: float
    optimizer: str
    learning_rate: float
    lbfgs_history: int
    init: str
    seed: int
    size: int
    # (long side, steps) of the whole-image stages: the last at `size`, or with highres
    # at its base size, from where the refinement scales go up to `size`
    stages: tuple[tuple[int, int], ...]
    style_scale: float
    preserve_color: str
    precision: str  # as configured: fp32, bf16 or auto (a job resolves auto)
    highres: HighresSettings | None = None
    # L-BFGS on a pyramid of the pixels (nst.pyramid) and the per-pair stop (nst.stopping);
    # 0 turns each off, as results made before they existed had it.
    pyramid_gain: float = 0.0
    stop_tolerance: float = 0.0
    stop_window: int = 0

    @classmethod
    def from_config(cls, config: Mapping, net: Network, weights_file: str) -> PairSettings:
        optimizer = config["optimizer"]
        size = int(config["size"])
        highres = HighresSettings.from_config(config.get("highres"), size)
        whole = min(size, highres.base_size) if highres else size
        return cls(
            backbone=net.backbone,
            source=net.source,
            revision=net.revision,
            weights=weights_file,
            pooling=config["pooling"],
            content_layers=dict(config["content_layers"] or net.content_layers),
            style_layers=dict(config["style_layers"] or net.style_layers),
            content_weight=float(config["content_weight"]),
            style_weight=float(_or_default(config["style_weight"], net.style_weight)),
            tv_weight=float(_or_default(config["tv_weight"], net.tv_weight)),
            optimizer=optimizer,
            learning_rate=float(
                _or_default(config["learning_rate"], DEFAULT_LEARNING_RATE[optimizer])
            ),
            lbfgs_history=int(config["lbfgs_history"]),
            init=config["init"],
            seed=int(config["seed"]),
            size=size,
            stages=stages(whole, int(config["steps"]), config["coarse_to_fine"]),
            style_scale=float(config["style_scale"]),
            preserve_color=config["preserve_color"],
            precision=config["precision"],
            highres=highres,
            pyramid_gain=float(config["pyramid_gain"]),
            stop_tolerance=float(config["stop_tolerance"]),
            stop_window=int(config["stop_window"]) if config["stop_tolerance"] else 0,
        )

    @property
    def steps(self) -> int:
        """Iterations of the last whole-image stage (at `size`, or highres's base size)."""
        return self.stages[-1][1]

    @property
    def refinement_sizes(self) -> tuple[int, ...]:
        """Long sides of the tiled refinement scales after the stages (highres)."""
        return self.highres.scales(self.size) if self.highres else ()

    def to_params(self) -> dict:
        """Plain JSON values (for Snakemake's params, job records and fingerprints)."""
        data = asdict(self)
        data["content_layers"] = dict(self.content_layers)
        data["style_layers"] = dict(self.style_layers)
        data["stages"] = [list(stage) for stage in self.stages]
        if self.highres is None:
            # Left out, not null: results made before the mode existed keep their params
            # and fingerprints, so upgrading reruns nothing.
            del data["highres"]
        for key in ("pyramid_gain", "stop_tolerance", "stop_window"):
            if not data[key]:
                del data[key]  # off: left out, for the same reason
        return data

    @classmethod
    def from_params(cls, data: Mapping) -> PairSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise KeyError(f"not a pair setting: {', '.join(sorted(unknown))}")
        highres = data.get("highres")
        return cls(
            **{
                **data,
                "stages": tuple(tuple(stage) for stage in data["stages"]),
                "highres": None if highres is None else HighresSettings.from_params(highres),
            }
        )

    def with_overrides(self, overrides: Mapping) -> PairSettings:
        """A pair's settings: these with its sheet overrides applied."""
        unknown = set(overrides) - set(PAIR_OVERRIDES)
        if unknown:
            raise KeyError(f"not a per-pair setting: {', '.join(sorted(unknown))}")
        changes = {k: v for k, v in overrides.items() if k != "steps"}
        for key in ("content_weight", "style_weight", "tv_weight"):
            if key in changes:
                changes[key] = float(changes[key])
        if "steps" in overrides:
            changes["stages"] = with_steps(self.stages, overrides["steps"])
        return replace(self, **changes)

    @property
    def smallest_size(self) -> int:
        """The smallest long side any image is used at (first stage, style scale)."""
        return min(self.stages[0][0], *self.style_sizes)

    def style_size(self, long_side: int) -> int:
        """The style image's long side for a stage or scale of this long side."""
        return max(1, round(long_side * self.style_scale))

    @property
    def style_sizes(self) -> tuple[int, ...]:
        """The style sizes of every stage, then of every refinement scale."""
        sides = [size for size, _ in self.stages] + list(self.refinement_sizes)
        return tuple(self.style_size(side) for side in sides)

    def style_targets(self) -> StyleTargetSettings:
        """The subset of these settings that a cached style target depends on."""
        return StyleTargetSettings(
            backbone=self.backbone,
            source=self.source,
            revision=self.revision,
            weights=self.weights,
            pooling=self.pooling,
            style_layers=tuple(sorted(self.style_layers)),
            style_sizes=self.style_sizes,
        )
