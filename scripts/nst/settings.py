"""From the user's config to the resolved, output-affecting settings of each rule.

`PairSettings` is the one owner of what changes a stylised image.  The
workflow serialises it into the pair rule's `params` (`to_params`), so Snakemake
reruns a pair job exactly when one of them changes, and the job reads it back
(`from_params`).  Config keys left out take the schema's defaults (Snakemake's
`validate` fills them in); a loss weight or layer set left `null` takes the
network's from the catalog.  Two configs that mean the same thing give the same
settings (writing the default style weight explicitly reruns nothing).
"""

from __future__ import annotations

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
    stages: tuple[tuple[int, int], ...]  # (long side, steps), the last at `size`
    style_scale: float
    preserve_color: str
    precision: str  # as configured: fp32, bf16 or auto (a job resolves auto)

    @classmethod
    def from_config(cls, config: Mapping, net: Network, weights_file: str) -> PairSettings:
        optimizer = config["optimizer"]
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
            size=int(config["size"]),
            stages=stages(int(config["size"]), int(config["steps"]), config["coarse_to_fine"]),
            style_scale=float(config["style_scale"]),
            preserve_color=config["preserve_color"],
            precision=config["precision"],
        )

    @property
    def steps(self) -> int:
        """Iterations at the final size."""
        return self.stages[-1][1]

    def to_params(self) -> dict:
        """Plain JSON values (for Snakemake's params, job records and fingerprints)."""
        data = asdict(self)
        data["content_layers"] = dict(self.content_layers)
        data["style_layers"] = dict(self.style_layers)
        data["stages"] = [list(stage) for stage in self.stages]
        return data

    @classmethod
    def from_params(cls, data: Mapping) -> PairSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise KeyError(f"not a pair setting: {', '.join(sorted(unknown))}")
        return cls(**{**data, "stages": tuple(tuple(stage) for stage in data["stages"])})

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

    @property
    def style_sizes(self) -> tuple[int, ...]:
        return tuple(max(1, round(size * self.style_scale)) for size, _ in self.stages)

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
