"""The settings checked before any job: each problem names the setting and the fix.

The schema (workflow/schemas/config.schema.yaml) checks each value alone; these are
the checks that need several values, the backbone or the file system: path settings
that point at nothing or at the wrong kind of thing, layers the backbone does not
have, and sizes that no input, no limit or no memory allows.  The workflow runs them
where it plans (workflow/rules/common.smk), so a bad setting stops the run before
validation, never as a file rejected for it or a job failing on it.  Nothing here
imports torch or reads an image.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from . import resources
from .layer_names import LAYER_NAMES
from .settings import PairSettings


class SettingsError(ValueError):
    """Settings that cannot work; the message lists each with what to do."""


def check(
    config: Mapping,
    settings: PairSettings,
    weights_file: Path,
    gpus: int,
    memory_mb: float | None,
) -> None:
    """Raise SettingsError listing every problem.  `gpus`: per pair job; `memory_mb`: the
    memory local jobs share (None on a cluster, whose scheduler places jobs)."""
    found = [
        *_paths(config, settings, weights_file),
        *_layers(settings),
        *_sizes(config, settings),
        *_memory(config, settings, gpus, memory_mb),
    ]
    if found:
        raise SettingsError("\n  ".join(["settings that cannot work (config.yaml):", *found]))


def _kind(path: str) -> str:
    return "folder" if os.path.isdir(path) else "file" if os.path.exists(path) else "missing"


def _paths(config: Mapping, settings: PairSettings, weights_file: Path) -> list[str]:
    found = []
    for key in ("content_dir", "style_dir"):
        role = key.removesuffix("_dir")
        kind = _kind(config[key])
        if kind != "folder":
            what = "does not exist" if kind == "missing" else "is a file, not a folder"
            found.append(f"{key}: {config[key]} {what}; point {key} at the folder of {role} images")
    if config["pairs"] and _kind(config["pairs"]) != "file":
        what = "does not exist" if _kind(config["pairs"]) == "missing" else "is a folder"
        found.append(
            f"pairs: {config['pairs']} {what}; give the path of the pairs sheet (a TSV file), "
            'or pairs: "" for every content x style'
        )
    if settings.init not in ("content", "noise") and _kind(settings.init) != "file":
        found.append(
            f"init: {settings.init} is not a file; use content, noise or the path of an image"
        )
    if _kind(config["results"]) == "file":
        found.append(f"results: {config['results']} is a file; point results at a folder")
    if _kind(str(weights_file)) == "folder":
        found.append(
            f"weights.{settings.backbone}.file: {weights_file} is a folder; give the weights "
            "file itself"
        )
    return found


def _layers(settings: PairSettings) -> list[str]:
    known = LAYER_NAMES[settings.backbone]
    found = []
    for key, layers in (
        ("content_layers", settings.content_layers),
        ("style_layers", settings.style_layers),
    ):
        unknown = [name for name in layers if name not in known]
        if unknown:
            found.append(
                f"{key}: {settings.backbone} has no layer {', '.join(unknown)}; name some of "
                f"{', '.join(known)} (or {key}: null for the network's own)"
            )
    return found


def _sizes(config: Mapping, settings: PairSettings) -> list[str]:
    found = []
    # Images are used at most this small (first coarse-to-fine stage, style scale); the
    # schema keeps min_input_side at least what the networks take (16 px).
    if settings.smallest_size < config["min_input_side"]:
        found.append(
            f"size {config['size']} with style_scale {config['style_scale']}"
            + (" and coarse_to_fine" if config["coarse_to_fine"]["enabled"] else "")
            + f" uses images {settings.smallest_size} px on their long side, below "
            f"min_input_side {config['min_input_side']}: every input would be too small. "
            "Raise size (or style_scale, coarse_to_fine.start), or lower min_input_side "
            "(at least 16)"
        )
    # The largest image the run makes: a square content (or its style) at full size.
    side = max(settings.size, *settings.style_sizes)
    megapixels = side * side / 1e6
    if megapixels > config["max_input_megapixels"]:
        found.append(
            f"size {config['size']} with style_scale {config['style_scale']} makes images up "
            f"to {side}x{side} px ({megapixels:,.0f} megapixels), above max_input_megapixels "
            f"{config['max_input_megapixels']}: lower size (or style_scale), or raise "
            "max_input_megapixels if you mean it"
        )
    return found


def _memory(
    config: Mapping, settings: PairSettings, gpus: int, memory_mb: float | None
) -> list[str]:
    # CPU jobs only: beside a GPU the image lives in GPU memory, which needs torch to see.
    if gpus or memory_mb is None:
        return []
    need = max(
        resources.pair_mem_mb(0, settings.size, config["batch_size"], 1, settings.highres),
        resources.style_mem_mb(0, max(settings.style_sizes)),
    )
    if need <= memory_mb:
        return []
    return [
        f"size {config['size']}: a job needs about {need / 1e3:.1f} GB of memory "
        f"(nst.resources), more than the {memory_mb / 1e3:.1f} GB here; lower size, "
        "enable highres (tiles: memory then grows with the tile, not the image), or run "
        "on a machine with more"
    ]


def local_memory_mb() -> float | None:
    """The memory jobs on this machine share, MB: the machine's, or less where a
    cgroup (a container) limits it; None where it cannot be read."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        total = min(total, int(limit))
    except (OSError, ValueError):
        pass  # no cgroup v2 limit ("max", or not there)
    return total / 1e6
