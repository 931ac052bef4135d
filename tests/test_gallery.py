"""The result gallery: thumbnail and curve caching, pagination, the pages, plots and
contact sheets, and the `gallery` rule through Snakemake (no optimisation re-run)."""

from __future__ import annotations

import json
import os
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest
from PIL import Image

from conftest import planned, run_snakemake, tiny_workflow, write_image
from nst.gallery import Layout, Options, RunTables, build_gallery
from nst.gallery.html import Links, page_of, paginate, render_page
from nst.gallery.model import Cell, Collection, Entry, load_collection, natural_key, pair_keys
from nst.gallery.sheets import MAX_PAIRS
from nst.row import SUMMARY_COLUMNS
from nst.tsv import write_table

FULL_SIZE = (300, 200)  # stylised images: larger than a thumbnail, so the two differ
THUMB = 256


def make_results(root: Path, contents, styles, failed=(), size=FULL_SIZE, only=None) -> Path:
    """A finished run written directly (no optimisation), laid out as the workflow does:
    input images, inputs/accepted.tsv, stylised images, records and summary.tsv, with
    paths relative to `root` (the working directory of the build).  Files that exist
    are kept as they are, so calling it again with more names adds only their files.
    `only(style, content)` picks the pairs (default: every combination)."""
    results = root / "results"
    accepted = []
    for n, name in enumerate(contents):
        path = root / "in" / "content" / name
        if not path.exists():
            write_image(path, 48, 64, seed=n)
        accepted.append((f"in/content/{name}", "content"))
    for n, name in enumerate(styles):
        path = root / "in" / "style" / name
        if not path.exists():
            write_image(path, 64, 64, seed=100 + n)
        accepted.append((f"in/style/{name}", "style"))
    write_table(
        results / "inputs" / "accepted.tsv",
        ["path", "role", "width", "height", "note"],
        [{"path": path, "role": role, "width": 64, "height": 48} for path, role in accepted],
    )
    rows = []
    for s, style in enumerate(styles):
        for c, content in enumerate(contents):
            if only is not None and not only(style, content):
                continue
            skey, ckey = Path(style).stem, Path(content).stem
            output = f"results/stylized/{skey}/{ckey}.png"
            ok = (style, content) not in set(failed)
            row = {
                "pair": f"{skey}/{ckey}",
                "content": content,
                "style": style,
                "backbone": "vgg19",
                "width": size[0],
                "height": size[1],
                "optimizer": "lbfgs",
                "steps": 4,
                "content_loss": 10.0 + c,
                "style_loss": 1e5 * (1 + s + c),
                "tv_loss": 0.5,
                "total_loss": 1e5 * (1 + s + c) + 10.5 + c,
                "initial_loss": 1e6,
                "style_score": round(0.3 + 0.1 * c, 3),  # the last contents look worst
                "content_score": round(0.2 + 0.1 * s, 3),
                "seconds": 1.5 + c,
                "device": "cpu",
                "precision": "fp32",
                "seed": 1000 * s + c,
                "output": output,
                "status": "ok" if ok else "failed",
                "message": "" if ok else "the loss became NaN or infinite",
            }
            rows.append(row)
            record = results / "records" / skey / f"{ckey}.json"
            if not ok or record.exists():
                continue
            write_image(root / output, size[1], size[0], seed=10 * s + c)
            history = [
                [size[0], i + 1, 10.0 + i, 1e6 / (i + 1), 0.5, 1e6 / (i + 1) + 10.5]
                for i in range(4)
            ]
            columns = ["size", "step", "content", "style", "tv", "total"]
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(
                json.dumps(
                    {
                        "fingerprint": "x",
                        "row": row,
                        "history": {"columns": columns, "rows": history},
                    }
                )
            )
    write_table(results / "summary.tsv", SUMMARY_COLUMNS, rows)
    return results


def build(root: Path, run: RunTables | None = None, **options):
    """Build root/results/gallery with root as the working directory, as Snakemake would."""
    cwd = os.getcwd()
    os.chdir(root)
    try:
        return build_gallery(
            "results/summary.tsv",
            "results/inputs/accepted.tsv",
            "results",
            Layout.inside("results/gallery"),
            Options(**options),
            log=lambda line: None,
            run=run or RunTables(),
        )
    finally:
        os.chdir(cwd)


def mtimes(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


class PageParser(HTMLParser):
    """Links, image sources and pair cells of a gallery page."""

    def __init__(self):
        super().__init__()
        self.hrefs, self.srcs, self.pairs, self.rel = [], [], [], {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
            if attrs.get("rel"):
                self.rel[attrs["rel"]] = attrs["href"]
        if tag == "img" and attrs.get("src"):
            self.srcs.append(attrs["src"])
        if attrs.get("data-pair"):
            self.pairs.append(attrs["data-pair"])


def parse(page: Path) -> PageParser:
    parser = PageParser()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


CONTENTS = ["photo 0.png", "photo 1.png", "photo 2.png"]
STYLES = ["wave.jpg", "starry night.jpg"]


def thumbnails(results: Path) -> dict[Path, int]:
    return mtimes(results / "gallery" / "assets" / "thumbs")


def test_second_build_reencodes_nothing_and_a_changed_image_only_itself(tmp_path):
    results = make_results(tmp_path, CONTENTS, STYLES)
    first = build(tmp_path)
    expected = len(CONTENTS) + len(STYLES) + len(CONTENTS) * len(STYLES)
    assert first.cache.rendered["thumbnail"] == expected and not first.cache.reused
    assert first.cache.rendered["curve"] == len(CONTENTS) * len(STYLES)
    before = thumbnails(results)
    assert len(before) == expected
    for path in before:
        with Image.open(path) as thumb:
            assert thumb.format == "WEBP" and max(thumb.size) <= THUMB

    second = build(tmp_path)
    assert not second.cache.rendered and not second.cache.failed
    assert second.cache.reused["thumbnail"] == expected
    assert thumbnails(results) == before  # not rewritten

    changed = results / "stylized" / "wave" / "photo 1.png"
    write_image(changed, FULL_SIZE[1], FULL_SIZE[0], seed=99)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    third = build(tmp_path)
    assert third.cache.rendered == {"thumbnail": 1}
    after = thumbnails(results)
    rewritten = {p for p in after if after[p] != before.get(p)}
    assert [p.relative_to(results / "gallery" / "assets").as_posix() for p in rewritten] == [
        "thumbs/stylized/wave/photo 1.webp"
    ]

    record = results / "records" / "starry night" / "photo 2.json"
    record.write_text(record.read_text().replace('"fingerprint": "x"', '"fingerprint": "y"'))
    assert build(tmp_path).cache.rendered == {"curve": 1}


def test_new_photo_renders_only_its_files_and_removed_photo_is_cleaned(tmp_path):
    make_results(tmp_path, CONTENTS, STYLES)
    build(tmp_path)
    make_results(tmp_path, [*CONTENTS, "new.png"], STYLES)
    added = build(tmp_path)
    assert added.cache.rendered == {"thumbnail": 1 + len(STYLES), "curve": len(STYLES)}
    assert (tmp_path / "results/gallery/assets/thumbs/content/new.png.webp").is_file()

    make_results(tmp_path, CONTENTS[:2], STYLES)  # photo 2 and new left the collection
    shrunk = build(tmp_path)
    assert not shrunk.cache.rendered
    assert shrunk.cache.removed == 2 * (1 + 2 * len(STYLES))  # thumbs and curves
    assets = tmp_path / "results" / "gallery" / "assets"
    assert not [p for p in assets.rglob("*") if "photo 2" in p.name or "new" in p.name]
    manifest = json.loads((assets / "manifest.json").read_text())["entries"]
    assert all((assets / target).is_file() for target in manifest)


def test_thumbnail_settings_change_rerenders_every_thumbnail(tmp_path):
    make_results(tmp_path, CONTENTS[:1], STYLES)
    build(tmp_path)
    smaller = build(tmp_path, thumb_size=64)
    assert smaller.cache.rendered == {"thumbnail": 1 + 2 + 2}
    for path in thumbnails(tmp_path / "results"):
        with Image.open(path) as thumb:
            assert max(thumb.size) <= 64


def test_worker_processes_render_the_same_files(tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    for root in (serial, parallel):
        make_results(root, CONTENTS, STYLES)
    build(serial)
    report = build(parallel, workers=2)
    assert report.cache.rendered == {"thumbnail": 11, "curve": 6} and not report.cache.failed
    for path in (serial / "results/gallery/assets/thumbs").rglob("*.webp"):
        twin = parallel / path.relative_to(serial)
        assert twin.read_bytes() == path.read_bytes()


def test_pages_hold_every_pair_exactly_once_and_link_to_each_other(tmp_path):
    contents = [f"c{i}.png" for i in range(5)]
    styles = ["s0.jpg", "s1.jpg", "s2.jpg"]
    make_results(tmp_path, contents, styles, failed=[("s1.jpg", "c3.png")])
    report = build(tmp_path, rows_per_page=2, styles_per_page=2)
    gallery = tmp_path / "results" / "gallery"
    assert len(report.pages) == 3 * 2  # ceil(5 / 2) content blocks x ceil(3 / 2) style blocks
    files = ["index.html"] + [f"page-{n}.html" for n in range(2, 7)]
    listed = sorted([*files, "contents.html", "review.html"])
    assert sorted(p.name for p in gallery.glob("*.html")) == listed
    seen = []
    for number, name in enumerate(files, start=1):
        page = parse(gallery / name)
        seen += page.pairs
        assert page.rel.get("prev") == (files[number - 2] if number > 1 else None)
        assert page.rel.get("next") == (files[number] if number < len(files) else None)
        for link in page.hrefs + page.srcs:  # every relative link resolves to a file
            if not link.startswith("#"):
                assert (gallery / unquote(link)).is_file(), (name, link)
        assert f"page {number} of 6" in (gallery / name).read_text()
    expected = [f"{Path(s).stem}/{Path(c).stem}" for s in styles for c in contents]
    assert sorted(seen) == sorted(expected)  # every pair once, on exactly one page

    failed = parse(gallery / "page-3.html")  # contents c2, c3 x styles s0, s1
    assert sorted(failed.pairs) == ["s0/c2", "s0/c3", "s1/c2", "s1/c3"]
    text = (gallery / "page-3.html").read_text()
    assert "thumbs/stylized/s1/c2" in text and "thumbs/stylized/s1/c3" not in text
    assert re.search(r'class="pair failed"[^>]*data-pair="s1/c3"', text)

    contents_page = parse(gallery / "contents.html")
    assert "page-5.html" in contents_page.hrefs  # c4 is on pages 5 and 6

    fewer = build(tmp_path, rows_per_page=10, styles_per_page=10)
    assert len(fewer.pages) == 1
    assert not list(gallery.glob("page-*.html"))  # stale pages removed


class TextParser(HTMLParser):
    """The elements of a page as a browser builds them: tags, attributes and text."""

    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.texts = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [value for _, value in attrs if value]

    def handle_data(self, data):
        self.texts.append(data)


def test_names_with_markup_quotes_and_ampersands_show_as_text(tmp_path):
    content = "<script>alert('x & \"y\"')<script>.png"  # "/" cannot be in a file name
    style = '<b>bold<b> & "quoted" \'s.jpg'
    make_results(tmp_path, [content, "plain.png"], [style])
    build(tmp_path)
    gallery = tmp_path / "results" / "gallery"
    review = TextParser()
    review.feed((gallery / "review.html").read_text(encoding="utf-8"))
    assert "b" not in review.tags and "script" not in review.tags
    assert f"{style} × {content}" in review.texts  # among the worst scores
    for page in ("index.html", "contents.html"):
        text = (gallery / page).read_text(encoding="utf-8")
        assert "<script>alert" not in text and "<b>bold" not in text
        parsed = TextParser()
        parsed.feed(text)
        assert "b" not in parsed.tags  # the style's <b> is text, not markup
        assert content in parsed.texts  # shown exactly as the file is named
        expected = ["script"] * 2 if page == "index.html" else []  # pair data, gallery.js
        assert [t for t in parsed.tags if t == "script"] == expected
    index = TextParser()
    index.feed((gallery / "index.html").read_text(encoding="utf-8"))
    assert style in index.texts and content in index.attrs  # the headers' titles
    data = re.search(
        r'<script id="pair-data" type="application/json">(.*?)</script>',
        (gallery / "index.html").read_text(encoding="utf-8"),
        re.S,
    )
    pairs = json.loads(data.group(1))
    assert {entry["title"] for entry in pairs.values()} == {
        f"{style} × {content}",
        f"{style} × plain.png",
    }
    assert (gallery / "gallery.css").is_file() and (gallery / "gallery.js").is_file()


def test_a_big_collection_is_split_into_bounded_pages():
    contents = [Entry(f"photo {i}", f"photo {i}.jpg", ()) for i in range(5000)]
    styles = [Entry(f"style {i}", f"style {i}.jpg", ()) for i in range(20)]
    cells = {
        (s.key, c.key): Cell(
            f"{s.key}/{c.key}", s.key, c.key, {"status": "ok"}, Path("x.png"), Path("r")
        )
        for s in styles
        for c in contents
    }
    collection = Collection(contents, styles, cells)
    pages = paginate(collection, rows_per_page=25, styles_per_page=20)
    assert len(pages) == 200
    assert sum(len(p.contents) * len(p.styles) for p in pages) == 100_000
    links = Links(
        thumb=lambda kind, key: ("t.webp", 256, 171),
        original=lambda path: "x.png",
        curve=lambda cell: None,
        record=lambda cell: None,
        style_plot=lambda style: None,
        sheet=lambda style: None,
        summary=None,
        overview=None,
    )
    text = render_page(collection, pages[57], len(pages), links, "t", "now")
    assert text.count("<img ") <= 25 * 20 + 25 + 20 + 2  # pairs, row and column headers, viewer
    assert 'href="page-57.html"' in text and 'href="page-59.html"' in text
    assert len(text) < 1_000_000


def test_plots_and_contact_sheets_are_bounded(tmp_path):
    contents = [f"c{i:02d}.png" for i in range(MAX_PAIRS + 2)]
    make_results(
        tmp_path,
        contents,
        ["s0.jpg", "s1.jpg"],
        failed=[("s0.jpg", "c00.png")],
        only=lambda style, content: style == "s0.jpg" or content in contents[:2],
    )
    build(tmp_path)
    gallery = tmp_path / "results" / "gallery"
    sheets = sorted(p.name for p in (gallery / "contact-sheets").iterdir())
    plots = sorted(p.name for p in (gallery / "style-plots").iterdir())
    assert sheets == plots == ["s0.png", "s1.png"]
    for path in [*(gallery / "contact-sheets").iterdir(), gallery / "overview.png"]:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width <= 2000 and image.height <= 2400
    curves = list((gallery / "assets" / "curves").rglob("*.png"))
    assert len(curves) == len(contents) - 1 + 2  # every pair with a record (not the failed one)
    assert (gallery / "summary.tsv").read_bytes() == (tmp_path / "results/summary.tsv").read_bytes()
    index = (gallery / "index.html").read_text()
    assert index.count('<td class="none"></td>') == 25 - 2  # s1 misses most contents


def test_summaries_without_the_pair_column_still_work(tmp_path):
    assert pair_keys({"pair": "a@0.5+b@0.5/x.y"}) == ("a@0.5+b@0.5", "x.y")
    assert pair_keys({"output": "results/stylized/wave/photo.v2.png"}) == (
        "wave",
        "photo.v2",
    )
    results = make_results(tmp_path, CONTENTS[:2], STYLES)
    summary = pd.read_csv(results / "summary.tsv", sep="\t").drop(columns="pair")
    summary.to_csv(results / "summary.tsv", sep="\t", index=False)
    collection = load_collection(results / "summary.tsv", None, results)
    assert {c.pair for c in collection.cells.values()} == {
        f"{Path(s).stem}/{Path(c).stem}" for s in STYLES for c in CONTENTS[:2]
    }


# ---- Through Snakemake: the real workflow with a random VGG19 -----------------------


@pytest.mark.slow
def test_gallery_rule_reuses_results_and_report_builds(tmp_path, vgg19_file):
    tiny_workflow(tmp_path, vgg19_file, contents=2, styles=2, steps=3, shard_size=64)
    run_snakemake(tmp_path, "summary")
    records = mtimes(tmp_path / "results" / "records")
    assert planned(tmp_path, "gallery") == {"gallery": 1}  # no stylize_shard, no summary
    run_snakemake(tmp_path, "gallery")
    assert mtimes(tmp_path / "results" / "records") == records
    gallery = tmp_path / "results" / "gallery"
    log = (tmp_path / "logs" / "gallery.log").read_text()
    assert "thumbnail: 8 rendered, 0 reused" in log and "curve: 4 rendered" in log
    index = parse(gallery / "index.html")
    assert sorted(index.pairs) == [f"style{s}/photo {c}" for s in range(2) for c in range(2)]
    for link in index.hrefs + index.srcs:
        if not link.startswith("#"):
            assert (gallery / unquote(link)).is_file(), link
    assert planned(tmp_path) == {}  # the gallery is part of `all`, and up to date

    write_image(tmp_path / "in" / "content" / "new.png", 30, 40, seed=7)
    run_snakemake(tmp_path)
    log = (tmp_path / "logs" / "gallery.log").read_text()
    assert "thumbnail: 3 rendered, 8 reused" in log and "curve: 2 rendered, 4 reused" in log
    assert {
        p: t for p, t in mtimes(tmp_path / "results" / "records").items() if p in records
    } == records

    run_snakemake(tmp_path, "--report", "report.zip")
    with zipfile.ZipFile(tmp_path / "report.zip") as archive:
        names = archive.namelist()
        html = archive.read(next(n for n in names if n.endswith("report.html"))).decode()
    data = [n for n in names if "/data/raw/" in n]
    assert sorted(Path(n).name for n in data) == sorted(
        ["summary.tsv", "overview.png", "style0.png", "style1.png", "style0.png", "style1.png"]
    )
    assert "Contact sheet of style" in html and "final style loss" in html
    assert not [n for n in names if re.search(r"photo \d|new\.(png|webp)", n)]  # no pair images


def test_float_image_thumbnails_show_what_the_optimiser_reads(tmp_path):
    """A float TIFF with NaN and infinite pixels: the thumbnail's grays are the loader's."""
    import numpy as np

    from nst.gallery.thumbs import make_thumbnail, recipe
    from nst.images import load_image

    values = np.tile(np.linspace(0, 500, 64, dtype=np.float32), (64, 1))
    values[0, :3] = [np.nan, np.inf, -np.inf]
    source = tmp_path / "float.tif"
    Image.fromarray(values, "F").save(source)
    make_thumbnail(str(source), tmp_path / "thumb.jpg", recipe(64, "jpeg", 95))
    thumb = np.asarray(Image.open(tmp_path / "thumb.jpg").convert("L"), dtype=np.float32)
    loaded = load_image(source)[0].numpy() * 255
    assert abs(thumb[32, 40] - loaded[32, 40]) <= 3  # mid-gray, not black
    assert thumb[32, 40] > 100


def test_names_sort_naturally_and_superscripts_are_not_numbers():
    names = ["photo 10", "Photo 2", "photo 1b", "2abc", "photo\u00b2", "x"]
    assert sorted(names, key=natural_key) == [
        "2abc",
        "photo 1b",
        "Photo 2",
        "photo 10",
        "photo\u00b2",
        "x",
    ]


def test_the_review_page_lists_the_failed_pairs_and_the_worst_scores(tmp_path):
    contents = [f"c{i}.png" for i in range(5)]
    styles = ["s0.jpg", "s1.jpg", "s2.jpg"]
    make_results(tmp_path, contents, styles, failed=[("s1.jpg", "c3.png")])
    report = build(tmp_path, rows_per_page=2, styles_per_page=2)
    gallery = tmp_path / "results" / "gallery"
    text = (gallery / "review.html").read_text(encoding="utf-8")
    failed = text[text.index('id="failed"') : text.index('class="worst"')]
    assert "Failed pairs (1)" in failed and "s1.jpg × c3.png" in failed
    assert "the loss became NaN or infinite" in failed
    assert '<a href="page-3.html">' in failed  # the page that shows it (c2, c3 x s0, s1)

    # The worst style scores first: c4 (0.7) of every style, then c3 of the styles where
    # it did not fail; the worst content scores: style s2 (0.4) first.
    worst_style = text[text.index('data-score="style_score"') : text.index('data-score="content')]
    order = re.findall(r"<td>(s\d\.jpg × c\d\.png)</td>", worst_style)
    assert order[:3] == ["s0.jpg × c4.png", "s1.jpg × c4.png", "s2.jpg × c4.png"]
    assert "s1.jpg × c3.png" not in order and len(order) == 14  # every pair with an image
    worst_content = text[text.index('data-score="content_score"') :]
    order = re.findall(r"<td>(s\d\.jpg × c\d\.png)</td>", worst_content)
    assert all(name.startswith("s2.jpg") for name in order[:5])
    for link in parse(gallery / "review.html").hrefs + parse(gallery / "review.html").srcs:
        assert (gallery / unquote(link)).is_file(), link

    # Every pair's page, by the arithmetic, is the page that holds it.
    page_for = page_of(report.collection, 2, 2)
    for page in report.pages:
        for cell in parse(gallery / page.file).pairs:
            style, content = cell.split("/")
            assert page_for(style, content) == page.file

    # The scores reach the hover text and the detail view.
    index = (gallery / "index.html").read_text(encoding="utf-8")
    assert "score: style 0.3 · content 0.2 (held-out network; lower is better)" in index
    data = json.loads(re.search(r'<script id="pair-data"[^>]*>(.*?)</script>', index, re.S)[1])
    assert ["style score", "0.4"] in data["s0/c1"]["rows"]
    assert 'data-style-score="0.4"' in index
