"""Thumbnails: any input or result image as a small sRGB WebP (or JPEG).

Pillow only (no torch), so the gallery job starts fast.  Handles what the
workflow accepts: EXIF rotation, ICC profiles, alpha (on white), palette,
grayscale, CMYK, 16-bit and float images, animations (first frame).  JPEGs are
decoded at a reduced scale, so even big photos take milliseconds.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ..display import to_srgb, upright
from ..io import atomic_write

# Inputs were already checked against max_input_megapixels by validate_inputs.
Image.MAX_IMAGE_PIXELS = None


def recipe(size: int, fmt: str = "webp", quality: int = 80) -> str:
    return f"{fmt}:{size}:q{quality}"


def parse_recipe(text: str) -> tuple[str, int, int]:
    fmt, size, quality = text.split(":")
    return fmt, int(size), int(quality.lstrip("q"))


def open_rgb(path: str | os.PathLike, draft: int | None = None) -> Image.Image:
    """The image as 8-bit sRGB, upright, alpha composited on white."""
    with Image.open(path) as image:
        image.seek(0)
        if draft and image.format == "JPEG":
            image.draft("RGB", (draft, draft))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
            image = to_srgb(upright(image))
            return _to_rgb8(image)


def _to_rgb8(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # As the loader reads them (nst.images): NaN and infinities are black, and float
        # images brighter than 1 are scaled by their largest finite value.
        gray = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        top = 65535.0 if mode != "F" else max(1.0, float(gray.max()) if gray.size else 1.0)
        gray = np.clip(gray / top, 0, 1)
        return Image.fromarray((gray * 255).round().astype(np.uint8), "L").convert("RGB")
    if mode in ("P", "PA") or "A" in mode or "transparency" in image.info:
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")


def make_thumbnail(source: str, target: Path, recipe_text: str) -> dict:
    """Write a thumbnail whose long side is at most `size`; return its width and height."""
    fmt, size, quality = parse_recipe(recipe_text)
    image = open_rgb(source, draft=2 * size)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    with atomic_write(target) as handle:
        if fmt == "webp":
            image.save(handle, format="WEBP", quality=quality, method=4)
        else:
            image.save(handle, format="JPEG", quality=quality, optimize=True)
    return {"width": image.width, "height": image.height}


def suffix(recipe_text: str) -> str:
    return ".webp" if recipe_text.startswith("webp") else ".jpg"
