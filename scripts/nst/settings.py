"""From the user's config to the resolved, output-affecting settings of each rule.

The workflow passes these dicts to its rules as `params`, so Snakemake reruns a
rule exactly when one of them changes.  They are plain JSON values with the
backbone's defaults filled in, so two configs that mean the same thing give the
same params (writing the default style weight explicitly reruns nothing).
"""

from __future__ import annotations

from collections.abc import Mapping

from .catalog import INFO

# Keys a pairs sheet may override per pair (the rest would invalidate shared caches).
PAIR_OVERRIDES = ("content_weight", "style_weight", "tv_weight", "steps", "seed", "preserve_color")


def stages(size: int, steps: int, coarse_to_fine: Mapping | None) -> list[list[int]]:
    """[long side, steps] of each optimisation stage, smallest first, ending at `size`.

    Coarse-to-fine starts at `start` px and grows by `factor` per stage, each
    stage warm-started from the previous one; the final stage runs `steps`.
    """
    if not coarse_to_fine or not coarse_to_fine.get("enabled"):
        return [[size, steps]]
    start, factor = coarse_to_fine["start"], coarse_to_fine["factor"]
    sizes = [size]
    while round(sizes[0] / factor) >= start:
        sizes.insert(0, round(sizes[0] / factor))
    return [[s, coarse_to_fine["steps"]] for s in sizes[:-1]] + [[size, steps]]


def pair_settings(config: Mapping, backbone: str, weights_file: str) -> dict:
    """Everything that changes a stylised image, with the backbone's defaults filled in."""
    info = INFO[backbone]
    optimizer = config["optimizer"]
    return {
        "backbone": backbone,
        "backbone_revision": info.revision,
        "weights": weights_file,
        "pooling": config["pooling"],
        "content_layers": dict(config.get("content_layers") or info.content_layers),
        "style_layers": dict(config.get("style_layers") or info.style_layers),
        "content_weight": float(config["content_weight"]),
        "style_weight": float(config.get("style_weight") or info.style_weight),
        "tv_weight": float(
            info.tv_weight if config.get("tv_weight") is None else config["tv_weight"]
        ),
        "optimizer": optimizer,
        "steps": int(config["steps"]),
        "learning_rate": float(
            config.get("learning_rate") or (1.0 if optimizer == "lbfgs" else 0.02)
        ),
        "lbfgs_history": int(config["lbfgs_history"]),
        "init": config["init"],
        "seed": int(config["seed"]),
        "size": int(config["size"]),
        "stages": stages(int(config["size"]), int(config["steps"]), config.get("coarse_to_fine")),
        "style_scale": float(config["style_scale"]),
        "preserve_color": config["preserve_color"],
        "precision": config["precision"],
    }


def style_target_settings(settings: Mapping) -> dict:
    """The subset of pair settings that a cached style target depends on."""
    return {
        "backbone": settings["backbone"],
        "backbone_revision": settings["backbone_revision"],
        "weights": settings["weights"],
        "pooling": settings["pooling"],
        "style_layers": sorted(settings["style_layers"]),
        "style_sizes": style_sizes(settings),
    }


def style_sizes(settings: Mapping) -> list[int]:
    return [max(1, round(size * settings["style_scale"])) for size, _ in settings["stages"]]


def with_overrides(settings: Mapping, overrides: Mapping) -> dict:
    """A pair's settings: the shared ones with its sheet overrides applied."""
    unknown = set(overrides) - set(PAIR_OVERRIDES)
    if unknown:
        raise KeyError(f"not a per-pair setting: {', '.join(sorted(unknown))}")
    out = {**settings, **overrides}
    if "steps" in overrides:
        out["stages"] = [
            *settings["stages"][:-1],
            [settings["stages"][-1][0], int(overrides["steps"])],
        ]
    return out
