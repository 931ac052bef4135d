"""Input validation: decide, before any GPU job, which files can be used.

Each file is opened and decoded (so truncated or damaged files are caught here, not
in the middle of a long run): JPEGs at the smallest of libjpeg's scales that covers
the working size, which still reads the whole file but costs a fraction of a full
decode of a camera photo; style images are also resized, to look for texture.  The
outcome per file is cached by path and signature (nst.io.file_signature), so
re-validating a folder of 5,000 photos after adding one decodes one file.

Every file gets a Verdict: accepted (with its size and notes such as "2 frames:
the first is used"), rejected (with the reason and what to do), or ignored
(hidden files and system clutter such as .DS_Store: listed, never an error).
No file, however odd, stops the validation of the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from torch import Tensor

from .images import ImageError, decode, scaled_size
from .io import file_signature, is_utf8, write_json
from .run_report import IGNORED  # the action of ignored files (read back there)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}

# Files that operating systems and tools leave in photo folders: listed as ignored.
SYSTEM_FILES = {"thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"}

# Well-known non-image or unsupported suffixes, with a specific reason and action.
OTHER_FORMATS = {
    ".svg": ("SVG is a vector format", "render it to PNG first"),
    ".svgz": ("SVG is a vector format", "render it to PNG first"),
    ".heic": ("HEIC/HEIF photos are not supported", "export it as JPEG"),
    ".heif": ("HEIC/HEIF photos are not supported", "export it as JPEG"),
    **{
        raw: ("camera RAW files are not supported", "develop it to JPEG or TIFF first")
        for raw in (".cr2", ".cr3", ".nef", ".arw", ".dng", ".raf", ".orf", ".rw2")
    },
}


# Bump when check_file's verdicts change, so cached verdicts are recomputed.
CACHE_VERSION = 3

# Style images that give the style loss nothing to match: under 16 px on a side (VGG's
# deepest style layer, conv5_1, sees the image at 1/16 of its size, so such a file
# holds less than one of its cells of real detail; upscaling it to the working size
# adds none), or one flat colour (every channel within FLAT_RANGE; JPEG noise on a flat
# colour stays within it).  Both are rejected: their Gram matrices hold no texture, so
# their pairs would only wash the photos in a colour.
MIN_STYLE_SIDE = 16
FLAT_RANGE = 2 / 255


@dataclass
class Verdict:
    path: str
    role: str  # content | style
    ok: bool
    width: int = 0  # as displayed (after EXIF rotation), accepted files only
    height: int = 0
    reason: str = ""  # why rejected, or a note on an accepted file
    action: str = ""  # what the user can do
    ignored: bool = False  # hidden or system file: not an error, even with strict: true


@dataclass(frozen=True)
class Limits:
    size: int  # working long side
    min_side: int  # shortest side at the working size
    max_megapixels: float

    def key(self) -> str:
        return f"{self.size}:{self.min_side}:{self.max_megapixels}"


def check_file(path: Path, role: str, limits: Limits) -> Verdict:
    reject = lambda reason, action: Verdict(str(path), role, False, reason=reason, action=action)  # noqa: E731
    name = path.name
    if name.startswith(".") or name.lower() in SYSTEM_FILES:
        kind = "hidden file" if name.startswith(".") else "system file"
        return Verdict(str(path), role, False, reason=kind, action=IGNORED, ignored=True)
    if not is_utf8(name):
        return reject(
            "the file name is not valid UTF-8 (from an old system?)",
            "rename it in UTF-8 (e.g. convmv -f latin1 -t utf8 --notest)",
        )
    suffix = path.suffix.lower()
    if suffix in OTHER_FORMATS:
        return reject(*OTHER_FORMATS[suffix])
    if suffix not in IMAGE_SUFFIXES:
        return reject(
            f"not an image file name ({path.suffix or 'no extension'})",
            f"use one of {', '.join(sorted(IMAGE_SUFFIXES))}, or move the file away",
        )
    try:
        decoded = decode(path, limits.size, limits.max_megapixels, check_only=role != "style")
    except ImageError as err:
        return reject(err.reason, err.action or "replace or remove the file")
    width, height = decoded.width, decoded.height
    short = min(scaled_size(height, width, limits.size))
    if short < limits.min_side:
        return reject(
            f"{width}x{height}: at {limits.size} px its short side is {short} px, "
            f"below min_input_side={limits.min_side}",
            "crop it to a less extreme aspect ratio or lower min_input_side",
        )
    if role == "style":
        problem = _no_texture(decoded.image, width, height)
        if problem:
            return reject(*problem)
    return Verdict(str(path), role, True, width, height, "; ".join(decoded.notes))


def _no_texture(image: Tensor, width: int, height: int) -> tuple[str, str] | None:
    """(reason, action) when a style image has nothing to transfer, else None."""
    if min(width, height) < MIN_STYLE_SIDE:
        return (
            f"{width}x{height}: a style image needs at least {MIN_STYLE_SIDE} px on each "
            "side to have any texture to transfer",
            "use a larger style image (a few hundred pixels is best)",
        )
    flat = image.flatten(1)
    if bool(((flat.amax(1) - flat.amin(1)) <= FLAT_RANGE).all()):
        colour = ", ".join(str(round(float(v) * 255)) for v in flat.mean(1))
        return (
            f"a single flat colour (RGB {colour}): there is no texture to transfer",
            "use a style image with texture or brushwork; to tint photos one colour, "
            "use an image editor",
        )
    return None


def _check_safely(path: Path, role: str, limits: Limits) -> Verdict:
    """check_file, turning any unexpected error into a rejection of this file only."""
    try:
        return check_file(path, role, limits)
    except Exception as err:  # one odd file must not stop a 5,000-file run
        return Verdict(
            str(path),
            role,
            False,
            reason=f"unexpected error while reading it ({type(err).__name__}: {err})",
            action="replace or remove the file, and please report this",
        )


def validate(
    files: Mapping[str, Iterable[Path]], limits: Limits, cache_file: Path, threads: int = 1
) -> list[Verdict]:
    """Check every file; reuse cached verdicts for unchanged files."""
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    wanted = {"version": CACHE_VERSION, "limits": limits.key()}
    if not isinstance(cache, dict) or any(cache.get(k) != v for k, v in wanted.items()):
        cache = {**wanted, "files": {}}

    jobs = [(role, Path(p)) for role, paths in files.items() for p in paths]

    def one(job: tuple[str, Path]) -> Verdict:
        role, path = job
        entry = cache["files"].get(f"{role}:{path}")
        if entry and entry["stamp"] == file_signature(path):
            try:
                return Verdict(**entry["verdict"])
            except TypeError:
                pass  # a cache written by another version
        return _check_safely(path, role, limits)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        verdicts = list(pool.map(one, jobs))
    cache["files"] = {
        f"{v.role}:{v.path}": {"stamp": file_signature(v.path), "verdict": asdict(v)}
        for v in verdicts
    }
    write_json(cache_file, cache)
    return verdicts
