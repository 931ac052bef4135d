"""The gallery pages: a content x style grid, paginated, self-contained.

Pages hold `rows_per_page` contents x `styles_per_page` styles; with more styles
than that, each block of contents gets one page per block of styles, so every
pair is on exactly one page.  Page 1 is `index.html`, page n is `page-n.html`;
`contents.html` lists every content image with a link to its page.  Each page has
its CSS and JavaScript inline and links only to relative files, so it works from
file:// with no server and no network.  Hovering a thumbnail shows the pair's
losses, time and settings; clicking opens a detail view with the full image, its
loss curves and the same numbers (without JavaScript the link opens the image).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from urllib.parse import quote

from .model import Cell, Collection, Entry


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


def details(cell: Cell) -> list[list[str]]:
    row = cell.row
    out = [["content", row.get("content", cell.content)], ["style", row.get("style", cell.style)]]
    for label, column in DETAILS:
        if column is None:
            value = f"{row.get('width', '')} x {row.get('height', '')}" if row.get("width") else ""
        elif column.endswith("loss") or column == "seconds":
            value = fmt(row.get(column))
        else:
            value = row.get(column, "")
        if value:
            out.append([label, value])
    return out


def hover_text(cell: Cell) -> str:
    row = cell.row
    lines = [f"{row.get('style', cell.style)} x {row.get('content', cell.content)}"]
    if row.get("status") != "ok" or cell.image is None:
        lines.append(f"{row.get('status') or 'missing'}: {row.get('message') or 'no image'}")
    lines.append(
        f"content {fmt(row.get('content_loss'))} · style {fmt(row.get('style_loss'))} · "
        f"TV {fmt(row.get('tv_loss'))} · total {fmt(row.get('total_loss'))} "
        f"(from {fmt(row.get('initial_loss'))})"
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


def _img(thumb: tuple[str, int, int] | None, alt: str, eager: bool) -> str:
    if thumb is None:
        return '<span class="noprev">no preview</span>'
    src, width, height = thumb
    loading = "" if eager else ' loading="lazy"'
    return f'<img src="{src}" width="{width}" height="{height}" alt="{escape(alt)}"{loading}>'


def _pager(page: Page, total: int) -> str:
    if total == 1:
        return ""
    n = page.number
    shown = sorted({1, total, *range(max(1, n - 2), min(total, n + 2) + 1)})
    parts, previous = [], 0
    for number in shown:
        if number - previous > 1:
            parts.append('<span class="gap">…</span>')
        if number == n:
            parts.append(f'<span class="current" aria-current="page">{number}</span>')
        else:
            parts.append(f'<a href="{page_file(number)}">{number}</a>')
        previous = number
    prev_link = (
        f'<a rel="prev" class="step" href="{page_file(n - 1)}">‹ previous</a>'
        if n > 1
        else '<span class="step off">‹ previous</span>'
    )
    next_link = (
        f'<a rel="next" class="step" href="{page_file(n + 1)}">next ›</a>'
        if n < total
        else '<span class="step off">next ›</span>'
    )
    jump = (
        f'<form class="jump" data-pages="{total}"><label>page <input type="number" min="1" '
        f'max="{total}" value="{n}" aria-label="page number"></label> of {total} '
        '<button type="submit">go</button></form>'
    )
    numbers = " ".join(parts)
    return f'<nav class="pager" aria-label="pages">{prev_link} {numbers} {next_link} {jump}</nav>'


def _range(entries: Sequence[Entry]) -> str:
    if not entries:
        return "none"
    return entries[0].name if len(entries) == 1 else f"{entries[0].name} – {entries[-1].name}"


def render_page(
    collection: Collection, page: Page, pages: int, links: Links, title: str, stamp: str
) -> str:
    data: dict[str, dict] = {}
    head = ['<th class="corner" scope="col">content \\ style</th>']
    for style in page.styles:
        thumbs = []
        sources = style.sources or ()
        for source in sources:
            thumbs.append(
                f'<a class="original" href="{links.original(source)}" '
                f'title="{escape(source.name)}">'
                f"{_img(links.thumb('style', source.name), source.name, True)}</a>"
            )
        extra = []
        plot, sheet = links.style_plot(style), links.sheet(style)
        if plot:
            extra.append(f'<a href="{plot}">plot</a>')
        if sheet:
            extra.append(f'<a href="{sheet}">sheet</a>')
        head.append(
            f'<th class="style" scope="col" title="{escape(style.name)}">'
            f'<div class="originals">{"".join(thumbs)}</div>'
            f'<div class="name">{escape(style.name)}</div>'
            f'<div class="more">{" · ".join(extra)}</div></th>'
        )
    body = []
    for index, content in enumerate(page.contents):
        eager = index < 3
        cells = []
        source = content.sources[0] if content.sources else None
        original = (
            f'<a class="original" href="{links.original(source)}">'
            f"{_img(links.thumb('content', source.name), content.name, eager)}</a>"
            if source
            else ""
        )
        cells.append(
            f'<th class="content" scope="row" title="{escape(content.name)}">{original}'
            f'<div class="name">{escape(content.name)}</div></th>'
        )
        for style in page.styles:
            cell = collection.cell(style.key, content.key)
            if cell is None:
                cells.append('<td class="none"></td>')
                continue
            hover = escape(hover_text(cell))
            entry = {"title": f"{style.name} × {content.name}", "rows": details(cell)}
            entry["curve"] = links.curve(cell)
            entry["record"] = links.record(cell)
            if cell.ok:
                entry["full"] = links.original(cell.image)
                inner = _img(links.thumb("pair", cell.pair), entry["title"], eager)
                cells.append(
                    f'<td><a class="pair" href="{entry["full"]}" data-pair="{escape(cell.pair)}" '
                    f'title="{hover}">{inner}</a></td>'
                )
            else:
                entry["full"] = None
                status = cell.row.get("status") or "missing"
                status = escape("image missing" if status == "ok" else status)
                cells.append(
                    f'<td><a class="pair failed" href="#{quote(cell.pair)}" '
                    f'data-pair="{escape(cell.pair)}" title="{hover}">{status}</a></td>'
                )
            data[cell.pair] = entry
        body.append(f"<tr>{''.join(cells)}</tr>")
    ok = collection.ok_count
    failed = len(collection.cells) - ok
    header_links = ['<a href="contents.html">all contents</a>']
    if links.overview:
        header_links.append(f'<a href="{links.overview}">overview plot</a>')
    if links.summary:
        header_links.append(f'<a href="{links.summary}">summary.tsv</a>')
    pager = _pager(page, pages)
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return PAGE.format(
        title=escape(title),
        page_title=escape(f"{title} – page {page.number} of {pages}"),
        stats=escape(
            f"{len(collection.cells)} pairs ({ok} ok, {failed} not) · "
            f"{len(collection.contents)} contents × {len(collection.styles)} styles · built {stamp}"
        ),
        where=escape(
            f"page {page.number} of {pages}: contents {_range(page.contents)}, "
            f"styles {_range(page.styles)}"
        ),
        links=" · ".join(header_links),
        pager=pager,
        head="".join(head),
        body="\n".join(body),
        data=payload,
        css=CSS,
        js=JS,
    )


def render_contents(collection: Collection, pages: Sequence[Page], title: str) -> str:
    """Every content image with the page(s) that show it, to find one photo among thousands."""
    where: dict[str, list[Page]] = {}
    for page in pages:
        for content in page.contents:
            where.setdefault(content.key, []).append(page)
    items = []
    for content in collection.contents:
        links = " ".join(
            f'<a href="{p.file}">page {p.number}</a>' for p in where.get(content.key, [])
        )
        items.append(f"<li><span>{escape(content.name)}</span> {links}</li>")
    return CONTENTS.format(
        title=escape(title), css=CSS, count=len(collection.contents), items="\n".join(items)
    )


CSS = """
:root { --tile: 180px; color-scheme: light dark; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: #f4f4f4; color: #222; }
header { padding: 12px 16px; background: #fff; border-bottom: 1px solid #ddd; }
h1 { margin: 0 0 4px; font-size: 20px; }
.meta, .where { color: #666; margin: 2px 0; }
.pager { margin-top: 8px; display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.pager a, .pager span { padding: 2px 8px; border-radius: 4px; }
.pager a { background: #eee; color: #124; text-decoration: none; }
.pager .current { background: #124; color: #fff; }
.pager .off { color: #aaa; }
.jump input { width: 5em; }
.controls { float: right; color: #666; }
main { overflow: auto; max-height: calc(100vh - 120px); }
table.grid { border-collapse: separate; border-spacing: 4px; margin: 8px; }
.grid th, .grid td { background: #fff; vertical-align: middle; text-align: center; padding: 4px;
  width: calc(var(--tile) + 8px); min-width: calc(var(--tile) + 8px); }
.grid thead th { position: sticky; top: 0; z-index: 2; box-shadow: 0 1px 0 #ddd; }
.grid th.content { position: sticky; left: 0; z-index: 1; }
.grid th.corner { position: sticky; left: 0; top: 0; z-index: 3; color: #888; font-weight: normal; }
.grid img { max-width: var(--tile); max-height: var(--tile); width: auto; height: auto;
  display: block; margin: auto; }
.originals { display: flex; gap: 2px; justify-content: center; }
.originals img { max-width: calc(var(--tile) / 1.5); max-height: calc(var(--tile) / 1.5); }
.name { font-size: 12px; word-break: break-all; margin-top: 2px; }
.more { font-size: 11px; }
a.pair { display: block; }
a.failed { color: #a00; font-weight: bold; text-decoration: none; display: flex;
  align-items: center; justify-content: center; height: calc(var(--tile) * 2 / 3);
  background: #fbeaea; }
td.none { background: transparent; }
.noprev { color: #999; font-size: 12px; }
.viewer { position: fixed; inset: 0; background: rgba(0,0,0,.8); z-index: 10; display: flex;
  align-items: center; justify-content: center; }
.viewer[hidden] { display: none; }
.panel { background: #fff; color: #222; max-width: 96vw; max-height: 96vh; overflow: auto;
  display: flex; gap: 16px; padding: 16px; border-radius: 6px; position: relative;
  flex-wrap: wrap; }
.panel .full img { max-width: min(70vw, 1024px); max-height: 86vh; display: block; }
.panel .info { min-width: 280px; max-width: 480px; }
.panel h2 { font-size: 16px; margin: 0 32px 8px 0; word-break: break-all; }
.panel table { border-collapse: collapse; font-size: 13px; margin-bottom: 8px; }
.panel td { border-bottom: 1px solid #eee; padding: 2px 8px 2px 0; text-align: left;
  word-break: break-word; }
.panel .curve { max-width: 100%; display: block; }
.panel .close { position: absolute; top: 8px; right: 8px; font-size: 20px; border: 0;
  background: none; cursor: pointer; }
.panel .nav button { margin-right: 6px; }
ul.contents { columns: 18em; padding: 16px 32px; }
@media (prefers-color-scheme: dark) {
  body { background: #1b1b1b; color: #ddd; } header, .grid th, .grid td { background: #262626; }
  header { border-color: #333; } .pager a { background: #333; color: #cde; }
  .panel { background: #262626; color: #ddd; } .panel td { border-color: #333; }
  td.none { background: transparent; } a.failed { background: #3a2020; color: #f88; }
}
"""

JS = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("pair-data").textContent);
  var links = Array.prototype.slice.call(document.querySelectorAll("a.pair"));
  var viewer = document.getElementById("viewer");
  var image = document.getElementById("v-image");
  var fullLink = document.getElementById("v-full");
  var curve = document.getElementById("v-curve");
  var record = document.getElementById("v-record");
  var open = document.getElementById("v-open");
  var current = -1;
  function show(i) {
    current = i;
    var entry = data[links[i].getAttribute("data-pair")];
    document.getElementById("v-title").textContent = entry.title;
    var table = document.getElementById("v-table");
    table.textContent = "";
    entry.rows.forEach(function (row) {
      var tr = table.insertRow();
      tr.insertCell().textContent = row[0];
      tr.insertCell().textContent = row[1];
    });
    if (entry.full) {
      image.src = entry.full; fullLink.href = entry.full; open.href = entry.full;
      fullLink.hidden = false; open.hidden = false;
    } else {
      image.removeAttribute("src"); fullLink.hidden = true; open.hidden = true;
    }
    if (entry.curve) { curve.src = entry.curve; curve.hidden = false; }
    else { curve.removeAttribute("src"); curve.hidden = true; }
    if (entry.record) { record.href = entry.record; record.hidden = false; }
    else { record.hidden = true; }
    viewer.hidden = false;
    document.getElementById("v-close").focus();
  }
  function hide() { viewer.hidden = true; if (current >= 0) links[current].focus(); }
  links.forEach(function (link, i) {
    link.addEventListener("click", function (event) {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button) return;
      event.preventDefault();
      show(i);
    });
  });
  document.getElementById("v-close").addEventListener("click", hide);
  document.getElementById("v-prev").addEventListener("click", function () {
    if (current > 0) show(current - 1);
  });
  document.getElementById("v-next").addEventListener("click", function () {
    if (current < links.length - 1) show(current + 1);
  });
  viewer.addEventListener("click", function (event) { if (event.target === viewer) hide(); });
  document.addEventListener("keydown", function (event) {
    if (viewer.hidden) return;
    if (event.key === "Escape") hide();
    else if (event.key === "ArrowLeft" && current > 0) show(current - 1);
    else if (event.key === "ArrowRight" && current < links.length - 1) show(current + 1);
  });
  var jump = document.querySelector("form.jump");
  if (jump) {
    jump.addEventListener("submit", function (event) {
      event.preventDefault();
      var total = parseInt(jump.getAttribute("data-pages"), 10);
      var n = Math.min(total, Math.max(1, parseInt(jump.querySelector("input").value, 10) || 1));
      window.location.href = n === 1 ? "index.html" : "page-" + n + ".html";
    });
  }
  var zoom = document.getElementById("zoom");
  function setTile(px) { document.documentElement.style.setProperty("--tile", px + "px"); }
  try { var saved = window.localStorage.getItem("nst-gallery-tile"); } catch (e) { saved = null; }
  if (saved) { zoom.value = saved; setTile(saved); }
  zoom.addEventListener("input", function () {
    setTile(zoom.value);
    try { window.localStorage.setItem("nst-gallery-tile", zoom.value); } catch (e) { /* file:// */ }
  });
})();
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{page_title}</title>
<style>{css}</style>
</head>
<body>
<header>
<label class="controls">thumbnails <input id="zoom" type="range" min="64" max="256" step="16"
 value="180" aria-label="thumbnail size"></label>
<h1>{title}</h1>
<p class="meta">{stats} · {links}</p>
<p class="where">{where}</p>
{pager}
</header>
<main>
<table class="grid">
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table>
</main>
<div id="viewer" class="viewer" hidden role="dialog" aria-modal="true" aria-labelledby="v-title">
<div class="panel">
<button id="v-close" class="close" type="button" aria-label="close">×</button>
<a id="v-full" class="full" target="_blank"><img id="v-image" alt="full-size stylised image"></a>
<div class="info">
<h2 id="v-title"></h2>
<p class="nav"><button id="v-prev" type="button">‹ previous</button><button id="v-next"
 type="button">next ›</button></p>
<table id="v-table"></table>
<img id="v-curve" class="curve" alt="loss curves" hidden>
<p><a id="v-open" target="_blank">open the full-size image</a> · <a id="v-record"
 target="_blank">record (JSON)</a></p>
</div>
</div>
</div>
<script id="pair-data" type="application/json">{data}</script>
<script>{js}</script>
</body>
</html>
"""

CONTENTS = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} – all contents</title>
<style>{css}</style>
</head>
<body>
<header><h1>{title}</h1><p class="meta">{count} content images and the pages that show them ·
<a href="index.html">back to page 1</a></p></header>
<ul class="contents">
{items}
</ul>
</body>
</html>
"""
