"""Input validation: decide, before any GPU job, which files can be used.

Each file is opened and fully decoded at the working size (so truncated or
damaged files are caught here, not in the middle of a long run).  The outcome per
file is cached by path, size and modification time, so re-validating a folder of
5,000 photos after adding one decodes one file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from .images import ImageError, load_image, scaled_size
from .io import write_json

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}


@dataclass
class Verdict:
    path: str
    role: str  # content | style
    ok: bool
    width: int = 0
    height: int = 0
    reason: str = ""  # why rejected, or a note on an accepted file
    action: str = ""  # what the user can do


@dataclass(frozen=True)
class Limits:
    size: int  # working long side
    min_side: int  # shortest side at the working size
    max_megapixels: float

    def key(self) -> str:
        return f"{self.size}:{self.min_side}:{self.max_megapixels}"


def check_file(path: Path, role: str, limits: Limits) -> Verdict:
    reject = lambda reason, action: Verdict(str(path), role, False, reason=reason, action=action)  # noqa: E731
    if path.name.startswith("."):
        return reject("hidden file", "ignored; nothing to do")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        if path.suffix.lower() == ".svg":
            return reject("SVG is a vector format", "render it to PNG first")
        return reject(
            f"not an image file name ({path.suffix or 'no extension'})",
            f"use one of {', '.join(sorted(IMAGE_SUFFIXES))}, or move the file away",
        )
    if path.is_symlink() and not path.exists():
        return reject("broken symbolic link", "fix or remove the link")
    try:
        image = load_image(path, long_side=limits.size, max_megapixels=limits.max_megapixels)
    except ImageError as err:
        return reject(str(err).removeprefix(f"{path}: "), "replace or remove the file")
    except (OSError, RuntimeError) as err:  # e.g. symlink loops, permission denied
        return reject(f"cannot be read ({err})", "fix permissions or remove the file")
    height, width = image.shape[-2:]
    note = ""
    with Image.open(path) as im:
        if getattr(im, "n_frames", 1) > 1:
            note = f"{im.n_frames} frames: the first is used"
    short = min(scaled_size(height, width, limits.size))
    if short < limits.min_side:
        return reject(
            f"{width}x{height}: at {limits.size} px its short side is {short} px, "
            f"below min_input_side={limits.min_side}",
            "crop it to a less extreme aspect ratio or lower min_input_side",
        )
    return Verdict(str(path), role, True, int(width), int(height), note)


def validate(
    files: Mapping[str, Iterable[Path]], limits: Limits, cache_file: Path, threads: int = 1
) -> list[Verdict]:
    """Check every file; reuse cached verdicts for unchanged files."""
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if cache.get("limits") != limits.key():
        cache = {"limits": limits.key(), "files": {}}

    def stamp(path: Path) -> str:
        try:
            st = os.stat(path)
            return f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            return "missing"

    jobs = [(role, Path(p)) for role, paths in files.items() for p in paths]

    def one(job: tuple[str, Path]) -> Verdict:
        role, path = job
        entry = cache["files"].get(f"{role}:{path}")
        if entry and entry["stamp"] == stamp(path):
            return Verdict(**entry["verdict"])
        return check_file(path, role, limits)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        verdicts = list(pool.map(one, jobs))
    cache["files"] = {
        f"{v.role}:{v.path}": {"stamp": stamp(Path(v.path)), "verdict": asdict(v)} for v in verdicts
    }
    write_json(cache_file, cache)
    return verdicts
