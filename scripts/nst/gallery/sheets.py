"""Contact sheets: one bounded-size PNG per style, content next to its stylised image.

Made from the cached thumbnails, so drawing all sheets costs a few hundred small
decodes however large the originals are.  A style with more contents than fit on
one sheet shows an evenly spaced sample of them (first and last included) and
says so in its header.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..io import atomic_write
from .model import Collection, Entry

TILE = 160  # each image fits in TILE x TILE
GAP = 8  # between the content and its stylised image
PAD = 18  # between pairs and around the sheet
LABEL = 22  # text line under each pair
COLUMNS = 4  # pairs per row
MAX_PAIRS = 40  # per sheet: at most 10 rows of 4 -> about 1400 x 2150 px
HEADER = TILE + 2 * PAD
BACKGROUND = (255, 255, 255)
INK = (34, 34, 34)
MUTED = (130, 130, 130)


@functools.cache
def _font(size: int) -> ImageFont.ImageFont:
    """DejaVu Sans (shipped with matplotlib: accented, Greek and Cyrillic names), else
    Pillow's own font."""
    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        return ImageFont.truetype(str(path), size)
    except (ImportError, OSError):
        pass
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def sample(items: Sequence, limit: int) -> list:
    """At most `limit` items, evenly spaced, keeping the first and the last."""
    if len(items) <= limit:
        return list(items)
    if limit == 1:
        return [items[0]]
    step = (len(items) - 1) / (limit - 1)
    return [items[round(i * step)] for i in range(limit)]


def _fit(text: str, font, width: int, draw: ImageDraw.ImageDraw) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _paste(sheet: Image.Image, thumb: str | None, box: tuple[int, int], note: str = "") -> None:
    x, y = box
    if thumb is not None and os.path.isfile(thumb):
        with Image.open(thumb) as image:
            image = image.convert("RGB")
            scale = TILE / max(image.width, image.height)  # small images are enlarged too
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.LANCZOS)
            sheet.paste(image, (x + (TILE - image.width) // 2, y + (TILE - image.height) // 2))
        return
    draw = ImageDraw.Draw(sheet)
    draw.rectangle(
        (x, y, x + TILE - 1, y + TILE - 1), fill=(238, 238, 238), outline=(210, 210, 210)
    )
    draw.text(
        (x + TILE // 2, y + TILE // 2), note or "missing", fill=MUTED, font=_font(14), anchor="mm"
    )


def contact_sheet(
    collection: Collection,
    style: Entry,
    thumb: Callable[[str, str], str | None],
    target: str | os.PathLike,
) -> dict:
    """Draw the sheet of one style.  `thumb(kind, key)` gives a cached thumbnail path
    ("content", content key), ("style", style key) or ("pair", "style/content")."""
    contents = [e for e in collection.contents if collection.cell(style.key, e.key)]
    shown = sample(contents, MAX_PAIRS)
    rows = max(1, -(-len(shown) // COLUMNS))
    cell_w, cell_h = 2 * TILE + GAP, TILE + LABEL
    width = 2 * PAD + COLUMNS * cell_w + (COLUMNS - 1) * PAD
    height = HEADER + rows * (cell_h + PAD) + PAD
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    _paste(sheet, thumb("style", style.key), (PAD, PAD), "style")
    title, small = _font(26), _font(15)
    text_x = PAD + TILE + 2 * PAD
    draw.text(
        (text_x, PAD + 10), _fit(style.key, title, width - text_x - PAD, draw), fill=INK, font=title
    )
    ok = sum(1 for e in contents if collection.cell(style.key, e.key).ok)
    lines = [
        _fit(style.name, small, width - text_x - PAD, draw),
        f"{ok} of {len(contents)} pairs ok; showing {len(shown)} (content | stylised)",
    ]
    if len(shown) < len(contents):
        lines.append("an evenly spaced sample; the gallery has every pair")
    for n, line in enumerate(lines):
        draw.text((text_x, PAD + 52 + 22 * n), line, fill=MUTED, font=small)
    label = _font(13)
    for n, entry in enumerate(shown):
        x = PAD + (n % COLUMNS) * (cell_w + PAD)
        y = HEADER + (n // COLUMNS) * (cell_h + PAD)
        cell = collection.cell(style.key, entry.key)
        _paste(sheet, thumb("content", entry.key), (x, y), "content")
        pair_thumb = thumb("pair", cell.pair) if cell.ok else None
        _paste(sheet, pair_thumb, (x + TILE + GAP, y), "failed" if not cell.ok else "missing")
        draw.text((x, y + TILE + 4), _fit(entry.key, label, cell_w, draw), fill=INK, font=label)
    with atomic_write(target) as handle:
        sheet.save(handle, format="PNG", optimize=True)
    return {"width": width, "height": height, "pairs": len(shown)}
