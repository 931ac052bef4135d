"""The gallery pages: a content x style grid, paginated, self-contained.

Pages hold `rows_per_page` contents x `styles_per_page` styles; with more styles
than that, each block of contents gets one page per block of styles, so every
pair is on exactly one page.  Page 1 is `index.html`, page n is `page-n.html`;
`contents.html` lists every content image with a link to its page.  The pages are
Jinja2 templates (templates/*.html.j2, autoescaped: a file name is always text,
never markup) that share one stylesheet and one script (static/, copied next to
the pages) and link only to relative files, so they work from file:// with no
server and no network.  Hovering a thumbnail shows the pair's losses, time and
settings; clicking opens a detail view with the full image, its loss curves and
the same numbers, and for a masked pair its mask over the photo (without JavaScript
the link opens the image).  A control on
each page fades every pair but the failed ones, or but those whose held-out quality
score (nst.quality: lower is better) is at least a limit; `review.html` lists the
failed pairs of the whole collection with their messages and the worst-scoring ones.
The front page also says what the console said at the end of the run (nst.run_report):
pairs ok and failed, input files rejected, with links to failed.tsv and rejected.tsv.
This module turns the collection into plain values for the templates.
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import jinja2

from ..io import atomic_write
from ..run_report import Outcome
from .model import Cell, Collection, Entry

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_FILES = ("gallery.css", "gallery.js")
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,  # a misspelt name fails the build, not the page
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Page:
    number: int  # 1-based
    contents: tuple[Entry, ...]
    styles: tuple[Entry, ...]

    @property
    def file(self) -> str:
        return page_file(self.number)


def page_file(number: int) -> str:
    return "index.html" if number == 1 else f"page-{number}.html"


def _blocks(items: Sequence, size: int) -> list[tuple]:
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)] or [()]


def paginate(collection: Collection, rows_per_page: int, styles_per_page: int) -> list[Page]:
    """Pages in reading order: for each block of contents, each block of styles."""
    pages = []
    for rows in _blocks(collection.contents, max(1, rows_per_page)):
        for styles in _blocks(collection.styles, max(1, styles_per_page)):
            pages.append(Page(len(pages) + 1, rows, styles))
    return pages


def url(path: str | os.PathLike, start: str | os.PathLike) -> str:
    """A relative, percent-encoded URL from folder `start` to `path`."""
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(start))
    return quote(relative.replace(os.sep, "/"))


def fmt(value: str | float | None, digits: int = 4) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value or "")
    if math.isnan(number):
        return ""
    return f"{number:.{digits}g}"


DETAILS = [
    ("content loss", "content_loss"),
    ("style loss", "style_loss"),
    ("TV loss", "tv_loss"),
    ("total loss", "total_loss"),
    ("initial loss", "initial_loss"),
    ("style score", "style_score"),
    ("content score", "content_score"),
    ("mask", "mask"),
    ("style score per region", "region_scores"),
    ("seconds", "seconds"),
    ("steps", "steps"),
    ("optimizer", "optimizer"),
    ("backbone", "backbone"),
    ("size", None),
    ("device", "device"),
    ("precision", "precision"),
    ("seed", "seed"),
    ("status", "status"),
    ("message", "message"),
]


def details(cell: Cell, changes: str = "") -> list[list[str]]:
    """The detail view's rows; `changes`: what the cell's variant changes (model.Entry)."""
    row = cell.row
    out = [["content", row.get("content", cell.content)], ["style", row.get("style", cell.style)]]
    if cell.variant:
        out.append(["variant", f"{cell.variant}: {changes}"])
    for label, column in DETAILS:
        if column is None:
            value = f"{row.get('width', '')} x {row.get('height', '')}" if row.get("width") else ""
        elif column.endswith(("loss", "score")) or column == "seconds":
            value = fmt(row.get(column))
        else:
            value = row.get(column, "")
        if value:
            out.append([label, value])
    return out


def hover_text(cell: Cell, changes: str = "") -> str:
    row = cell.row
    lines = [f"{row.get('style', cell.style)} x {row.get('content', cell.content)}"]
    if cell.variant:
        lines.append(f"variant {cell.variant}: {changes}")
    if row.get("status") != "ok" or cell.image is None:
        lines.append(f"{row.get('status') or 'missing'}: {row.get('message') or 'no image'}")
    lines.append(
        f"content {fmt(row.get('content_loss'))} · style {fmt(row.get('style_loss'))} · "
        f"TV {fmt(row.get('tv_loss'))} · total {fmt(row.get('total_loss'))} "
        f"(from {fmt(row.get('initial_loss'))})"
    )
    if score(row, "style_score") is not None:
        lines.append(
            f"score: style {fmt(row.get('style_score'), 3)} · content "
            f"{fmt(row.get('content_score'), 3)} (held-out network; lower is better)"
        )
    lines.append(
        f"{row.get('steps', '')} {row.get('optimizer', '')} steps, {row.get('width', '')}x"
        f"{row.get('height', '')}, {fmt(row.get('seconds'), 3)} s on {row.get('device', '')} "
        f"{row.get('precision', '')}, {row.get('backbone', '')}, seed {row.get('seed', '')}"
    )
    return "\n".join(lines)


@dataclass
class Links:
    """Where the page finds things (URLs relative to the gallery folder)."""

    thumb: Callable[[str, str], tuple[str, int, int] | None]  # (kind, key) -> url, w, h
    original: Callable[[Path], str]  # a file -> its URL
    curve: Callable[[Cell], str | None]
    record: Callable[[Cell], str | None]
    style_plot: Callable[[Entry], str | None]
    sheet: Callable[[Entry], str | None]
    summary: str | None
    overview: str | None
    failed: str | None = None  # failed.tsv
    rejected: str | None = None  # inputs/rejected.tsv


def _thumb(thumb: tuple[str, int, int] | None, alt: str, eager: bool) -> dict | None:
    if thumb is None:
        return None
    src, width, height = thumb
    return {"src": src, "width": width, "height": height, "alt": alt, "lazy": not eager}


def _pager(page: Page, total: int, file: Callable[[int], str] = page_file) -> dict | None:
    """First, last and two pages either side of this one, with gaps; None for one page."""
    if total == 1:
        return None
    n = page.number
    items, previous = [], 0
    for number in sorted({1, total, *range(max(1, n - 2), min(total, n + 2) + 1)}):
        if number - previous > 1:
            items.append({"gap": True})
        items.append({"gap": False, "number": number, "file": file(number), "current": number == n})
        previous = number
    return {
        "number": n,
        "total": total,
        "numbers": items,
        "previous": file(n - 1) if n > 1 else None,
        "next": file(n + 1) if n < total else None,
    }


def _range(entries: Sequence[Entry]) -> str:
    if not entries:
        return "none"
    return entries[0].name if len(entries) == 1 else f"{entries[0].name} – {entries[-1].name}"


# What the detail view (gallery.js) reads of each cell_view.
VIEWER_FIELDS = ("title", "rows", "full", "curve", "record", "overlay")


def score(row, column: str) -> float | None:
    """A quality score of a summary row (style_score, content_score), None if it has none."""
    try:
        value = float(row.get(column))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def cell_view(cell: Cell, style: Entry, content: Entry, links: Links, eager: bool) -> dict:
    """Everything a page shows of one pair: its grid cell and its detail view.  The one
    place to add a per-pair value (a column of `details` shows it in the detail view)."""
    title = f"{style.name} × {content.name}"
    status = cell.row.get("status") or "missing"
    return {
        "pair": cell.pair,
        "ok": cell.ok,
        "title": title,
        "hover": hover_text(cell, style.changes),
        "status": "image missing" if status == "ok" else status,  # shown in failed cells
        "style_score": fmt(cell.row.get("style_score")),  # what the page's filter compares
        "content_score": fmt(cell.row.get("content_score")),
        "thumb": _thumb(links.thumb("pair", cell.pair), title, eager) if cell.ok else None,
        "full": links.original(cell.image) if cell.ok else None,
        "rows": details(cell, style.changes),
        "curve": links.curve(cell),
        "record": links.record(cell),
        "overlay": _overlay(cell, content, links),
    }


def _overlay(cell: Cell, content: Entry, links: Links) -> dict | None:
    """A masked pair's photo and mask, which the detail view lays one over the other."""
    if cell.mask is None or not content.sources:
        return None
    return {"photo": links.original(content.sources[0]), "mask": links.original(cell.mask)}


def _original(source: Path, kind: str, alt: str, links: Links, eager: bool) -> dict:
    thumb = _thumb(links.thumb(kind, source.name), alt, eager)
    return {"name": source.name, "href": links.original(source), "thumb": thumb}


def render_page(
    collection: Collection,
    page: Page,
    pages: int,
    links: Links,
    title: str,
    stamp: str,
    run: Outcome | None = None,
    compare: str | None = None,
) -> str:
    """A grid page; `run`, on the front page: the run's outcome, as the console ends with;
    `compare`: the variants' compare page (compare.py), when there are variants."""
    styles = [
        {
            "name": style.name,
            "originals": [_original(s, "style", s.name, links, True) for s in style.sources],
            "plot": links.style_plot(style),
            "sheet": links.sheet(style),
        }
        for style in page.styles
    ]
    rows, viewer_data = [], {}
    for index, content in enumerate(page.contents):
        eager = index < 3  # the first rows load at once, the others when scrolled to
        cells = []
        for style in page.styles:
            cell = collection.cell(style.key, content.key)
            view = cell and cell_view(cell, style, content, links, eager)
            if view:
                viewer_data[view["pair"]] = {key: view[key] for key in VIEWER_FIELDS}
            cells.append(view)
        source = content.sources[0] if content.sources else None
        original = _original(source, "content", content.name, links, eager) if source else None
        rows.append({"name": content.name, "original": original, "cells": cells})
    ok = collection.ok_count
    return _ENV.get_template("page.html.j2").render(
        title=title,
        page=page,
        pages=pages,
        stats=f"{len(collection.cells)} pairs ({ok} ok, {len(collection.cells) - ok} not) · "
        f"{len(collection.contents)} contents × {len(collection.styles)} styles · built {stamp}",
        where=f"page {page.number} of {pages}: contents {_range(page.contents)}, "
        f"styles {_range(page.styles)}",
        overview=links.overview,
        summary=links.summary,
        run=run,
        compare=compare,
        failed_link=links.failed,
        rejected_link=links.rejected,
        pager_links=_pager(page, pages),
        styles=styles,
        rows=rows,
        viewer_data=viewer_data,
    )


def render_contents(collection: Collection, pages: Sequence[Page], title: str) -> str:
    """Every content image with the page(s) that show it, to find one photo among thousands."""
    where: dict[str, list[Page]] = {}
    for page in pages:
        for content in page.contents:
            where.setdefault(content.key, []).append(page)
    contents = [{"name": c.name, "pages": where.get(c.key, [])} for c in collection.contents]
    return _ENV.get_template("contents.html.j2").render(title=title, contents=contents)


# Pairs review.html lists: every failed one up to FAILED_LISTED, the worst by each score.
FAILED_LISTED = 1000
WORST_LISTED = 50
SCORES = {
    "style_score": "Least style: the highest style scores (1 = no closer to the style than "
    "the photo was)",
    "content_score": "Most of the photo lost: the highest content scores (1 = as far from "
    "the photo as the style image)",
}


def page_of(collection: Collection, rows_per_page: int, styles_per_page: int):
    """A function (style key, content key) -> the file of the page that shows that pair
    (paginate's arithmetic, without building every page)."""
    rows, cols = max(1, rows_per_page), max(1, styles_per_page)
    content_index = {entry.key: i for i, entry in enumerate(collection.contents)}
    style_index = {entry.key: i for i, entry in enumerate(collection.styles)}
    blocks = max(1, math.ceil(len(collection.styles) / cols))
    return lambda style, content: page_file(
        content_index[content] // rows * blocks + style_index[style] // cols + 1
    )


def render_review(
    collection: Collection, page_for: Callable[[str, str], str], links: Links, title: str
) -> str:
    """The pairs to look at first, over all pages: the failed ones, the worst scores."""

    def item(cell: Cell) -> dict:
        row = cell.row
        style = row.get("style", cell.style) + (f" · {cell.variant}" if cell.variant else "")
        name = f"{style} × {row.get('content', cell.content)}"
        return {
            "name": name,
            "page": page_for(cell.style, cell.content),
            "status": row.get("status") or "missing",
            "message": row.get("message") or ("" if cell.ok else "the image is missing"),
            "thumb": _thumb(links.thumb("pair", cell.pair), name, False) if cell.ok else None,
            "full": links.original(cell.image) if cell.ok else None,
            "style_score": fmt(row.get("style_score"), 3),
            "content_score": fmt(row.get("content_score"), 3),
        }

    cells = list(collection.cells.values())
    failed = [cell for cell in cells if not cell.ok]
    worst = []
    for column, heading in SCORES.items():
        scored = [cell for cell in cells if cell.ok and score(cell.row, column) is not None]
        top = heapq.nlargest(WORST_LISTED, scored, key=lambda cell: score(cell.row, column))
        worst.append({"heading": heading, "column": column, "pairs": [item(c) for c in top]})
    return _ENV.get_template("review.html.j2").render(
        title=title,
        failed=[item(cell) for cell in failed[:FAILED_LISTED]],
        failed_total=len(failed),
        worst=worst,
        summary=links.summary,
    )


def write_static(folder: Path) -> None:
    """Copy the pages' stylesheet and script next to them."""
    for name in STATIC_FILES:
        with atomic_write(folder / name) as handle:
            handle.write((STATIC / name).read_bytes())
