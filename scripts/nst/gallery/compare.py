"""Compare pages: one style's variants side by side, photo by photo (only with variants).

`compare.html`, next to index.html, lists the styles and the variants with what each
changes.  Each style has its pages `compare-{n}-{style}.html` (the number first: a style
key may hold "-" and digits): its contents as rows and its variants as columns, each
cell the pair's thumbnail (the grid's cached one: adding a variant renders only its own
thumbnails), its held-out style and content scores and a link to the full image.  So
one view shows "this photo under every variant" and, for a sweep, "this style over the
grid of settings".  Pages hold `rows_per_page` contents, as the grid's do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..io import atomic_write
from . import html
from .model import Cell, Collection, Entry

INDEX = "compare.html"
PATTERN = "compare*.html"  # every file this module writes (build.py clears stale ones)


@dataclass(frozen=True)
class ComparePage:
    style: Entry  # the style itself (its columns' Entry.base)
    columns: tuple[Entry, ...]  # the style's variant columns, in the config's order
    contents: tuple[Entry, ...]
    number: int  # 1-based, within the style
    total: int  # the style's pages

    @property
    def file(self) -> str:
        return compare_file(self.style.key, self.number)


def compare_file(style: str, number: int) -> str:
    return f"compare-{number}-{style}.html"


def paginate(collection: Collection, rows_per_page: int) -> list[ComparePage]:
    """Every style's pages, styles in the grid's order; [] without variants."""
    groups: dict[str, list[Entry]] = {}
    for column in collection.styles:
        if column.base is not None:
            groups.setdefault(column.base.key, []).append(column)
    pages = []
    for columns in groups.values():
        contents = [
            c for c in collection.contents if any(collection.cell(s.key, c.key) for s in columns)
        ]
        blocks = html._blocks(contents, max(1, rows_per_page))
        for number, block in enumerate(blocks, 1):
            pages.append(ComparePage(columns[0].base, tuple(columns), block, number, len(blocks)))
    return pages


def _cell(
    cell: Cell | None, column: Entry, content: Entry, links: html.Links, grid: str, eager: bool
) -> dict | None:
    if cell is None:
        return None
    title = f"{column.name} × {content.name}"
    return {
        "ok": cell.ok,
        "hover": html.hover_text(cell, column.changes),
        "thumb": html._thumb(links.thumb("pair", cell.pair), title, eager) if cell.ok else None,
        "full": links.original(cell.image) if cell.ok else None,
        "style_score": html.fmt(cell.row.get("style_score"), 3),
        "content_score": html.fmt(cell.row.get("content_score"), 3),
        "status": cell.row.get("status") or "missing",
        "message": cell.row.get("message") or ("" if cell.ok else "the image is missing"),
        "grid": grid,
    }


def _style(style: Entry, links: html.Links) -> list[dict]:
    return [html._original(s, "style", s.name, links, True) for s in style.sources]


def render_page(
    collection: Collection,
    page: ComparePage,
    links: html.Links,
    page_for: Callable[[str, str], str],
    title: str,
) -> str:
    rows = []
    for index, content in enumerate(page.contents):
        eager = index < 3  # as on the grid pages: the first rows at once, the others lazily
        source = content.sources[0] if content.sources else None
        cells = [
            _cell(
                collection.cell(column.key, content.key),
                column,
                content,
                links,
                page_for(column.key, content.key),
                eager,
            )
            for column in page.columns
        ]
        original = source and html._original(source, "content", content.name, links, eager)
        rows.append({"name": content.name, "original": original, "cells": cells})
    return html._ENV.get_template("compare.html.j2").render(
        title=title,
        page=page,
        originals=_style(page.style, links),
        columns=[{"name": c.variant, "changes": c.changes} for c in page.columns],
        rows=rows,
        pager_links=html._pager(page, page.total, lambda n: compare_file(page.style.key, n)),
    )


def render_index(collection: Collection, pages: list[ComparePage], links: html.Links, title: str):
    """compare.html: every style with its pages, and what each variant changes."""
    styles: dict[str, dict] = {}
    for page in pages:
        item = styles.setdefault(
            page.style.key,
            {
                "name": page.style.name,
                "originals": _style(page.style, links),
                "variants": len(page.columns),
                "pages": [],
            },
        )
        item["pages"].append({"number": page.number, "file": page.file})
    changes = {c.variant: c.changes for c in collection.styles if c.variant}
    variants = [{"name": name, "changes": changes[name]} for name in collection.variants]
    return html._ENV.get_template("compare-index.html.j2").render(
        title=title, styles=list(styles.values()), variants=variants
    )


def write_compare(
    collection: Collection,
    folder: Path,
    links: html.Links,
    page_for: Callable[[str, str], str],
    rows_per_page: int,
    title: str,
) -> set[str]:
    """Write compare.html and every style's pages into `folder`; the files written (none
    without variants)."""
    pages = paginate(collection, rows_per_page)
    if not pages:
        return set()
    for page in pages:
        with atomic_write(folder / page.file, "w") as handle:
            handle.write(render_page(collection, page, links, page_for, title))
    with atomic_write(folder / INDEX, "w") as handle:
        handle.write(render_index(collection, pages, links, title))
    return {INDEX, *(page.file for page in pages)}
