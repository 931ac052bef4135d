"""A contents x styles grid of results with a caption: the tuning sheets (bench/tune.py)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from PIL import Image, ImageDraw, ImageFont


def to_pil(image: torch.Tensor) -> Image.Image:
    array = (image.clamp(0, 1).permute(1, 2, 0) * 255).round().byte().numpy()
    return Image.fromarray(array)


def contact_sheet(
    images: Mapping[tuple[str, str], torch.Tensor | Image.Image], tile: int, caption: str
) -> Image.Image:
    """images: (style, content) -> picture, in row (style) and column (content) order of
    first appearance; each picture fitted into a tile x tile cell, under the caption."""
    styles = list(dict.fromkeys(s for s, _ in images))
    contents = list(dict.fromkeys(c for _, c in images))
    header = 24
    canvas = Image.new("RGB", (tile * len(contents), header + tile * len(styles)), "white")
    ImageDraw.Draw(canvas).text((6, 5), caption, fill=(34, 34, 34), font=ImageFont.load_default(13))
    for (style, content), picture in images.items():
        if isinstance(picture, torch.Tensor):
            picture = to_pil(picture)
        picture = picture.copy()
        picture.thumbnail((tile, tile))
        x = contents.index(content) * tile + (tile - picture.width) // 2
        canvas.paste(picture, (x, header + styles.index(style) * tile))
    return canvas
