"""The gallery with variants (nst.variants): one grid column per (style, variant), the
records found where the variants keep them, the compare pages (each style's variants
side by side with their scores and changes), and nothing new without variants."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import unquote

from test_gallery import FULL_SIZE, build, make_results, mtimes, parse

from conftest import write_image
from nst.gallery import Layout, Options, build_gallery
from nst.gallery.model import describe_changes, load_collection, pair_keys
from nst.row import SUMMARY_COLUMNS
from nst.tsv import read_rows, write_table

CONTENTS = ["photo 0.png", "photo 1.png", "photo 2.png"]
STYLES = ["wave.jpg", "starry night.jpg"]
# In the config's order, which is not the names' order: the columns keep it.
VARIANTS = {"base": {}, "strong": {"style_weight": 20}, "soft": {"style_weight": 5}}
COLUMNS = [SUMMARY_COLUMNS[0], "variant", *SUMMARY_COLUMNS[1:]]


def score(variant: str, s: int, c: int) -> tuple[float, float]:
    """Every pair's (style score, content score): different in every variant."""
    v = list(VARIANTS).index(variant)
    return round(0.3 + 0.1 * c + 0.01 * v, 3), round(0.2 + 0.1 * s + 0.02 * v, 3)


def make_variant_results(root: Path, variants, contents=CONTENTS, styles=STYLES, failed=()):
    """A finished run with variants, laid out as the workflow writes it: the inputs as
    make_results writes them, then per variant its images and records under
    results/variants/{variant}/, and a summary whose keys are "variant/style/content".
    Files that exist are kept, so adding a variant adds only its files.  `failed`:
    (variant, style, content) triples that failed; a variant {"contents": [...]} runs
    on those photos only (as a sweep does)."""
    results = make_results(root, contents, styles, only=lambda style, content: False)
    rows = []
    for variant, changes in variants.items():
        for s, style in enumerate(styles):
            for c, content in enumerate(contents):
                if content not in changes.get("contents", contents):
                    continue
                skey, ckey = Path(style).stem, Path(content).stem
                folder = results / "variants" / variant
                ok = (variant, style, content) not in set(failed)
                style_score, content_score = score(variant, s, c)
                row = {
                    "pair": f"{variant}/{skey}/{ckey}",
                    "variant": variant,
                    "content": content,
                    "style": style,
                    "backbone": "vgg19",
                    "width": FULL_SIZE[0],
                    "height": FULL_SIZE[1],
                    "optimizer": "lbfgs",
                    "steps": 4,
                    "content_loss": 10.0 + c,
                    "style_loss": 1e5 * (1 + s + c),
                    "total_loss": 1e5 * (1 + s + c) + 10.5,
                    "style_score": style_score if ok else "",
                    "content_score": content_score if ok else "",
                    "seconds": 1.5,
                    "device": "cpu",
                    "precision": "fp32",
                    "seed": 1000 * s + c,
                    "output": f"results/variants/{variant}/stylized/{skey}/{ckey}.png",
                    "status": "ok" if ok else "failed",
                    "message": "" if ok else "the loss became NaN or infinite",
                }
                rows.append(row)
                record = folder / "records" / skey / f"{ckey}.json"
                if not ok or record.exists():
                    continue
                seed = 100 * list(variants).index(variant) + 10 * s + c
                write_image(root / row["output"], FULL_SIZE[1], FULL_SIZE[0], seed=seed)
                history = [[FULL_SIZE[0], i + 1, 10.0, 1e6 / (i + 1), 0.5, 1e6] for i in range(4)]
                columns = ["size", "step", "content", "style", "tv", "total"]
                record.parent.mkdir(parents=True, exist_ok=True)
                record.write_text(
                    json.dumps({"row": row, "history": {"columns": columns, "rows": history}})
                )
    write_table(results / "summary.tsv", COLUMNS, rows)
    return results


def build_variants(root: Path, variants, **options):
    """build() with the gallery rule's `variants` param."""
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
            variants=variants,
        )
    finally:
        os.chdir(cwd)


def test_one_column_per_style_and_variant_and_records_where_variants_keep_them(
    tmp_path, monkeypatch
):
    make_variant_results(tmp_path, VARIANTS)
    monkeypatch.chdir(tmp_path)  # the summary's paths are relative, as the rule's
    results = Path("results")
    collection = load_collection(
        results / "summary.tsv", results / "inputs" / "accepted.tsv", results, None, VARIANTS
    )
    assert collection.variants == ["base", "strong", "soft"]
    assert [s.key for s in collection.styles] == [
        f"{style}~{variant}" for style in ("starry night", "wave") for variant in VARIANTS
    ]
    strong = collection.styles[4]
    assert (strong.name, strong.variant, strong.changes) == (
        "wave.jpg · strong",
        "strong",
        "style_weight=20",
    )
    assert strong.base.key == "wave" and strong.sources == (Path("in/style/wave.jpg"),)
    assert collection.styles[0].changes == "as configured"
    assert len(collection.cells) == len(VARIANTS) * len(STYLES) * len(CONTENTS)
    cell = collection.cell("wave~strong", "photo 1")
    assert (cell.pair, cell.variant, cell.style, cell.content) == (
        "strong/wave/photo 1",
        "strong",
        "wave~strong",
        "photo 1",
    )
    assert cell.record == results / "variants" / "strong" / "records" / "wave" / "photo 1.json"
    assert cell.ok and all(c.record.is_file() for c in collection.cells.values())
    assert pair_keys({"pair": "strong/wave/photo 1"}) == ("wave", "photo 1")
    # A variant missing from the param (a stale summary) still gets its column.
    unknown = load_collection(results / "summary.tsv", None, results, None, {"soft": {}})
    assert unknown.variants == ["soft", "base", "strong"]
    assert unknown.styles[1].changes == "not in the config's variants"


def test_changes_read_as_settings():
    assert describe_changes({}) == "as configured"
    assert describe_changes({"style_weight": 20}) == "style_weight=20"
    assert (
        describe_changes({"style_weight": 5, "tv_weight": 0, "contents": ["a.jpg", "b.jpg"]})
        == "style_weight=5, tv_weight=0, contents=a.jpg,b.jpg"
    )


def links_resolve(gallery: Path, page: Path) -> None:
    parsed = parse(page)
    for link in parsed.hrefs + parsed.srcs:
        if not link.startswith("#"):
            assert (gallery / unquote(link)).is_file(), (page.name, link)


def test_compare_pages_show_every_variant_with_its_scores_and_changes(tmp_path):
    sweep = {**VARIANTS, "soft": {"style_weight": 5, "contents": ["photo 0.png", "photo 2.png"]}}
    failed = [("strong", "wave.jpg", "photo 2.png")]
    results = make_variant_results(tmp_path, sweep, failed=failed)
    report = build_variants(tmp_path, sweep, rows_per_page=2)
    gallery = results / "gallery"
    pairs = 2 * 3 + 2 * 3 + 2 * 2  # base, strong, soft (two photos)
    assert len(report.collection.cells) == pairs
    assert report.cache.rendered == {"thumbnail": 3 + 2 + pairs - 1, "curve": pairs - 1}
    # The grid: a column per (style, variant); hover and detail views name the variant.
    grid = [p for page in report.pages for p in parse(gallery / page.file).pairs]
    assert sorted(grid) == sorted(c.pair for c in report.collection.cells.values())
    index = (gallery / "index.html").read_text()
    assert '<a class="compare" href="compare.html">Compare variants</a>' in index
    assert "wave.jpg · strong" in index and "variant strong: style_weight=20" in index
    data = json.loads(re.search(r'id="pair-data"[^>]*>(.*?)</script>', index, re.S)[1])
    assert ["variant", "strong: style_weight=20"] in data["strong/starry night/photo 0"]["rows"]
    assert ["variant", "base: as configured"] in data["base/starry night/photo 0"]["rows"]
    assert "wave.jpg · strong × photo 2.png" in (gallery / "review.html").read_text()
    # The gallery's summary copy keeps the variant column, right after pair.
    assert (gallery / "summary.tsv").read_bytes() == (results / "summary.tsv").read_bytes()
    assert (gallery / "summary.tsv").read_text().split("\n")[0].startswith("pair\tvariant\t")

    # compare.html: every variant with its changes, every style with its pages.
    entry = (gallery / "compare.html").read_text()
    for text in ("style_weight=20", "as configured", "style_weight=5, contents=photo 0.png,"):
        assert text in entry
    files = sorted(p.name for p in gallery.glob("compare-*.html"))
    assert files == [f"compare-{n}-{s}.html" for n in (1, 2) for s in ("starry night", "wave")]
    hrefs = parse(gallery / "compare.html").hrefs
    assert {unquote(h) for h in hrefs if h.startswith("compare-")} == set(files)
    links_resolve(gallery, gallery / "compare.html")

    # A style's pages: its photos as rows, its variants as columns in the config's order.
    seen = {}
    for n in (1, 2):
        page = gallery / f"compare-{n}-wave.html"
        text = page.read_text()
        links_resolve(gallery, page)
        assert re.findall(r'<th class="variant"[^>]*>\s*<div class="name">([^<]*)', text) == [
            "base",
            "strong",
            "soft",
        ]
        for variant in sweep:
            for content in CONTENTS:
                thumb = f"assets/thumbs/stylized/{variant}/wave/{content[:-4]}.webp"
                if thumb.replace(" ", "%20") in text:
                    seen[variant, content] = page.name
    assert set(seen) == {
        (v, c)
        for v in sweep
        for c in CONTENTS
        if (v, "wave.jpg", c) not in failed and (v != "soft" or c != "photo 1.png")
    }
    first = (gallery / "compare-1-wave.html").read_text()
    assert "style_weight=20" in first and "as configured" in first
    assert "not in this variant" in first  # soft has no photo 1
    assert "../variants/strong/stylized/wave/photo%200.png" in first  # the full image
    s, c = score("strong", 0, 1)
    assert f"style {s:g} · content {c:g}" in first
    second = (gallery / "compare-2-wave.html").read_text()
    assert "failed" in second and "the loss became NaN" in second  # strong x photo 2


def unstamped(page: bytes) -> bytes:
    """A page without its build time (two builds may be a minute apart)."""
    return re.sub(rb"built \d{4}-\d\d-\d\d \d\d:\d\d", b"built", page)


def test_without_variants_nothing_changes_and_no_compare_page(tmp_path):
    plain, empty = tmp_path / "plain", tmp_path / "empty"
    for root in (plain, empty):
        make_results(root, CONTENTS, STYLES)
    build(plain)
    build_variants(empty, {})  # the rule's param without variants
    for path in (plain / "results" / "gallery").rglob("*"):
        twin = empty / path.relative_to(plain)
        if path.is_file() and path.name != "manifest.json":  # that one holds file times
            assert unstamped(twin.read_bytes()) == unstamped(path.read_bytes()), path
    assert not list((plain / "results" / "gallery").glob("compare*"))
    assert "ompare" not in (plain / "results" / "gallery" / "index.html").read_text()

    # From variants back to none: the compare pages go.
    make_variant_results(empty, VARIANTS)
    build_variants(empty, VARIANTS)
    assert (empty / "results" / "gallery" / "compare.html").is_file()
    make_results(empty, CONTENTS, STYLES)
    build_variants(empty, {})
    assert not list((empty / "results" / "gallery").glob("compare*"))


def test_adding_a_variant_redraws_pages_not_the_thumbnails_already_made(tmp_path):
    two = {name: VARIANTS[name] for name in ("base", "strong")}
    results = make_variant_results(tmp_path, two)
    first = build_variants(tmp_path, two)
    assert first.cache.rendered == {"thumbnail": 3 + 2 + 12, "curve": 12}
    gallery = results / "gallery"
    thumbs = mtimes(gallery / "assets" / "thumbs")
    pages = mtimes(gallery)
    assert "soft" not in (gallery / "compare-1-wave.html").read_text()

    make_variant_results(tmp_path, VARIANTS)
    added = build_variants(tmp_path, VARIANTS)
    assert added.cache.rendered == {"thumbnail": 6, "curve": 6}  # the new variant's only
    assert added.cache.reused["thumbnail"] == 3 + 2 + 12 and not added.cache.removed
    after = mtimes(gallery / "assets" / "thumbs")
    assert {p: t for p, t in after.items() if p in thumbs} == thumbs  # not rewritten
    assert sorted(p.relative_to(gallery).as_posix() for p in set(after) - set(thumbs)) == sorted(
        f"assets/thumbs/stylized/soft/{s}/photo {c}.webp"
        for s in ("wave", "starry night")
        for c in range(3)
    )
    redrawn = mtimes(gallery)
    for name in ("index.html", "compare.html", "compare-1-wave.html"):
        assert redrawn[gallery / name] != pages[gallery / name], name
    assert "style_weight=5" in (gallery / "compare-1-wave.html").read_text()
    assert len(read_rows(gallery / "summary.tsv")) == 18
