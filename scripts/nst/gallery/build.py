"""Build (or bring up to date) the whole gallery folder in one pass.

Layout of results/gallery/ (the first five are the rule's declared outputs):

    index.html, page-2.html, ...     the grid pages (see html.py), contents.html
    review.html                      the failed pairs and the worst-scoring ones
    gallery.css, gallery.js          what the pages share (copied from static/)
    summary.tsv                      a copy of the summary table (report, download)
    overview.png                     all styles: final style loss, seconds per pair
    style-plots/{style}.png          per style: loss / time / loss-reduction histograms
    contact-sheets/{style}.png       per style: content | stylised montage
    assets/                          the cache: thumbs/..., curves/..., manifest.json
    compare.html, compare-*.html     with variants only: each style's variants side by side

Thumbnails and per-pair loss curves are cached (cache.py): only new or changed
images and records are rendered.  Pages, sheets and plots are redrawn on every
build; they are a few per style and one per page, whatever the collection size.
No optimisation ever runs here: everything is read from the workflow's outputs.
Every file is written atomically; a build killed half-way leaves only temporaries,
which the next build removes, and a full disk is a GalleryError that says what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..io import atomic_write, fitting_key
from ..run_report import read_outcome
from . import compare, html, plots, sheets, thumbs
from .cache import DerivedCache, Job, SyncStats
from .model import Cell, Collection, Entry, load_collection

ASSETS = "assets"


@dataclass(frozen=True)
class Options:
    thumb_size: int = 256
    thumb_format: str = "webp"  # webp or jpeg
    thumb_quality: int = 80
    rows_per_page: int = 25
    styles_per_page: int = 20
    workers: int = 1
    title: str = "Neural style transfer gallery"

    @property
    def thumb_recipe(self) -> str:
        return thumbs.recipe(self.thumb_size, self.thumb_format, self.thumb_quality)


@dataclass(frozen=True)
class Layout:
    index: Path
    summary: Path
    overview: Path
    style_plots: Path
    sheets: Path

    @property
    def folder(self) -> Path:
        return self.index.parent

    @property
    def assets(self) -> Path:
        return self.folder / ASSETS

    @classmethod
    def inside(cls, folder: str | os.PathLike) -> Layout:
        folder = Path(folder)
        return cls(
            index=folder / "index.html",
            summary=folder / "summary.tsv",
            overview=folder / "overview.png",
            style_plots=folder / "style-plots",
            sheets=folder / "contact-sheets",
        )


@dataclass(frozen=True)
class RunTables:
    """The run's failed.tsv and inputs/rejected.tsv, which the front page links to and
    reports on as the console does (nst.run_report); None: not shown."""

    failed: str | os.PathLike | None = None
    rejected: str | os.PathLike | None = None
    masks: str | os.PathLike | None = None  # mask_dir: the detail view shows a pair's mask


@dataclass
class BuildReport:
    collection: Collection
    pages: list[html.Page]
    cache: SyncStats

    def line(self) -> str:
        return f"{len(self.collection.cells)} pairs, {len(self.pages)} page(s); {self.cache.line()}"


def thumb_target(kind: str, key: str, suffix: str) -> str:
    """Cache path of a thumbnail: originals by file name (shortened like a key when too
    long to take a suffix), pairs by their key, "style/content" or with variants
    "variant/style/content" (keys, short enough already)."""
    if kind == "pair":
        return f"thumbs/stylized/{key}{suffix}"
    return f"thumbs/{kind}/{fitting_key(key)}{suffix}"


def curve_target(cell: Cell) -> str:
    return f"curves/{cell.pair}.png"


def plan_jobs(collection: Collection, options: Options) -> list[Job]:
    recipe = options.thumb_recipe
    suffix = thumbs.suffix(recipe)
    jobs, seen = [], set()

    def add(job: Job) -> None:
        if job.target not in seen:
            seen.add(job.target)
            jobs.append(job)

    for entry in collection.contents:
        for source in entry.sources:
            add(Job("thumbnail", str(source), thumb_target("content", source.name, suffix), recipe))
    for entry in collection.styles:
        for source in entry.sources:
            add(Job("thumbnail", str(source), thumb_target("style", source.name, suffix), recipe))
    for cell in collection.cells.values():
        if cell.ok:
            add(Job("thumbnail", str(cell.image), thumb_target("pair", cell.pair, suffix), recipe))
            if cell.record.is_file():
                add(Job("curve", str(cell.record), curve_target(cell), plots.CURVE_RECIPE))
    return jobs


RENDERERS = {"thumbnail": thumbs.make_thumbnail, "curve": plots.draw_curve}


def _clear_stale(folder: Path, keep: set[str], pattern: str) -> None:
    if folder.is_dir():
        for path in folder.glob(pattern):
            if path.name not in keep:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


class GalleryError(RuntimeError):
    pass


def _remove_temporaries(layout: Layout) -> None:
    """atomic_write's temporaries left by a killed build (the gallery has one writer;
    the assets' leftovers go with the cache's own pruning)."""
    for folder in (layout.folder, layout.style_plots, layout.sheets):
        if folder.is_dir():
            for entry in os.scandir(folder):
                if entry.name.startswith(".") and entry.name.endswith(".part"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)


def build_gallery(
    summary: str | os.PathLike,
    accepted: str | os.PathLike | None,
    results: str | os.PathLike,
    layout: Layout,
    options: Options = Options(),
    log: Callable[[str], None] = print,
    run: RunTables = RunTables(),
    variants: Mapping[str, Mapping] | None = None,
) -> BuildReport:
    """`variants`: the config's variants, name -> the settings it changes, in order."""
    _remove_temporaries(layout)
    try:
        return _build(summary, accepted, results, layout, options, log, run, variants)
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
        raise GalleryError(
            f"disk full while writing the gallery in {layout.folder}: free some space and "
            "run again (`snakemake gallery`); nothing half-written was left"
        ) from err


def _build(
    summary: str | os.PathLike,
    accepted: str | os.PathLike | None,
    results: str | os.PathLike,
    layout: Layout,
    options: Options,
    log: Callable[[str], None],
    run: RunTables,
    variants: Mapping[str, Mapping] | None = None,
) -> BuildReport:
    started = time.perf_counter()
    collection = load_collection(summary, accepted, results, run.masks, variants)
    log(
        f"{len(collection.cells)} pairs: {len(collection.contents)} contents x "
        f"{len(collection.styles)} styles"
    )
    folder, assets = layout.folder, layout.assets
    folder.mkdir(parents=True, exist_ok=True)
    cache = DerivedCache(assets)
    jobs = plan_jobs(collection, options)
    stats = cache.sync(jobs, RENDERERS, workers=options.workers, log=log)
    for target, error in sorted(stats.failed.items()):
        log(f"could not render {target}: {error}")
    log(f"cache: {stats.line()}")

    suffix = thumbs.suffix(options.thumb_recipe)

    def thumb_file(kind: str, key: str) -> str | None:
        target = thumb_target(kind, key, suffix)
        return str(assets / target) if cache.info(target) else None

    def thumb_link(kind: str, key: str) -> tuple[str, int, int] | None:
        target = thumb_target(kind, key, suffix)
        info = cache.info(target)
        if not info:
            return None
        return html.url(assets / target, folder), info["width"], info["height"]

    def cached_link(target: str) -> str | None:
        return html.url(assets / target, folder) if cache.info(target) is not None else None

    style_plot_files = {s.key: layout.style_plots / f"{s.key}.png" for s in collection.styles}
    sheet_files = {s.key: layout.sheets / f"{s.key}.png" for s in collection.styles}
    links = html.Links(
        thumb=thumb_link,
        original=lambda path: html.url(path, folder),
        curve=lambda cell: cached_link(curve_target(cell)),
        record=lambda cell: html.url(cell.record, folder) if cell.record.is_file() else None,
        style_plot=lambda style: html.url(style_plot_files[style.key], folder),
        sheet=lambda style: html.url(sheet_files[style.key], folder),
        summary=html.url(layout.summary, folder),
        overview=html.url(layout.overview, folder),
        failed=run.failed and html.url(Path(run.failed), folder),
        rejected=run.rejected and html.url(Path(run.rejected), folder),
    )

    # The summary copy, plots and contact sheets first: the pages link to them.
    with open(summary, "rb") as source, atomic_write(layout.summary) as handle:
        shutil.copyfileobj(source, handle)
    plots.overview(collection, layout.overview)
    for folder_path, files in (
        (layout.style_plots, style_plot_files),
        (layout.sheets, sheet_files),
    ):
        folder_path.mkdir(parents=True, exist_ok=True)
        _clear_stale(folder_path, {p.name for p in files.values()}, "*.png")
    for style in collection.styles:
        plots.style_overview(collection, style, style_plot_files[style.key])
        sheets.contact_sheet(
            collection, style, _sheet_thumb(thumb_file, collection, style), sheet_files[style.key]
        )
    log(f"drew the overview, {len(collection.styles)} style plot(s) and contact sheet(s)")

    html.write_static(folder)
    pages = html.paginate(collection, options.rows_per_page, options.styles_per_page)
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    outcome = read_outcome(summary, run.rejected) if run.rejected else None
    page_for = html.page_of(collection, options.rows_per_page, options.styles_per_page)
    compared = compare.write_compare(
        collection, folder, links, page_for, options.rows_per_page, options.title
    )
    _clear_stale(folder, compared, compare.PATTERN)
    for page in reversed(pages):  # index.html (the declared output) last
        text = html.render_page(
            collection,
            page,
            len(pages),
            links,
            options.title,
            stamp,
            run=outcome if page.number == 1 else None,
            compare=compare.INDEX if compared else None,
        )
        with atomic_write(folder / page.file, "w") as handle:
            handle.write(text)
    with atomic_write(folder / "contents.html", "w") as handle:
        handle.write(html.render_contents(collection, pages, options.title))
    with atomic_write(folder / "review.html", "w") as handle:
        handle.write(html.render_review(collection, page_for, links, options.title))
    _clear_stale(folder, {p.file for p in pages}, "page-*.html")
    report = BuildReport(collection, pages, stats)
    log(f"gallery: {report.line()} in {time.perf_counter() - started:.1f} s")
    return report


def _sheet_thumb(
    thumb_file: Callable[[str, str], str | None], collection: Collection, style: Entry
) -> Callable[[str, str], str | None]:
    """Thumbnail lookup for contact sheets: content and style keys -> their files."""
    contents = {e.key: e for e in collection.contents}

    def lookup(kind: str, key: str) -> str | None:
        if kind == "pair":
            return thumb_file("pair", key)
        entry = contents.get(key) if kind == "content" else style
        if entry is None or not entry.sources:
            return None
        return thumb_file(kind, entry.sources[0].name)

    return lookup
