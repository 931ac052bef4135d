"""The gallery in a real browser: headless Chromium opens it from file://.

Needs Debian's `chromium` (`make test` installs it: tests/setup_system.sh) and the `playwright`
package from requirements-dev.txt, which drives that binary (no `playwright
install`, no download).  Without Chromium the test fails and says how to get it;
developers without it can set NST_SKIP_BROWSER=1.  NST_CHROMIUM names another
binary.  Screenshots are kept under the test's tmp folder (results/screenshots/;
the path is printed) and copied to $NST_TEST_ARTIFACTS when that is set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image
from test_gallery import FULL_SIZE, build, make_results
from test_gallery_compare import VARIANTS, build_variants, make_variant_results

from nst.gallery import RunTables
from nst.row import SUMMARY_COLUMNS
from nst.tsv import read_rows, write_table

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium() -> str:
    if os.environ.get("NST_SKIP_BROWSER") == "1":
        pytest.skip("NST_SKIP_BROWSER=1: browser test skipped")
    path = os.environ.get("NST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail(
            f"Chromium not found (looked for {path}): install it with `apt-get install -y "
            "--no-install-recommends chromium` (as `make test` does), point NST_CHROMIUM at a "
            "Chromium binary, or set NST_SKIP_BROWSER=1 to skip this test",
            pytrace=False,
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail(
            "the playwright package is missing: pip install -r requirements-dev.txt",
            pytrace=False,
        )
    return path


def keep(screenshot: Path) -> None:
    print(f"screenshot: {screenshot}")
    folder = os.environ.get("NST_TEST_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(folder) / screenshot.name)


ALL_IMAGES_LOADED = """() => {
  const images = [...document.querySelectorAll("table.grid img")];
  return images.length > 0 && images.every((img) => img.complete);
}"""


def load_every_thumbnail(page) -> list[dict]:
    """Scroll every grid image into view (lazy ones load then); their natural sizes."""
    for image in page.locator("table.grid img").all():
        image.scroll_into_view_if_needed()
    page.wait_for_function(ALL_IMAGES_LOADED, timeout=15_000)
    return page.eval_on_selector_all(
        "table.grid img",
        "els => els.map((e) => ({src: e.getAttribute('src'), width: e.naturalWidth}))",
    )


def test_gallery_in_headless_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    binary = chromium()
    contents = ["photo 0.png", "a#b%c d.png", "ünïcode.png", "p3.png", "p4.png"]
    styles = ["wave.jpg", "starry night.jpg"]
    make_results(tmp_path, contents, styles, failed=[("wave.jpg", "p3.png")])
    report = build(tmp_path, rows_per_page=3)
    assert len(report.pages) == 2
    gallery = tmp_path / "results" / "gallery"
    shots = tmp_path / "results" / "screenshots"
    shots.mkdir()

    problems, requests = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("requestfailed", lambda r: problems.append(f"failed request {r.url}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto((gallery / "index.html").as_uri())

            images = load_every_thumbnail(page)
            broken = [i["src"] for i in images if i["width"] == 0]
            assert not broken, f"thumbnails that did not load: {broken}"
            # 3 contents (rows) and 2 styles (columns) as headers, 3 x 2 pairs but one failed
            assert len(images) == 3 + 2 + 5
            assert page.locator("a.pair").count() == 6
            page.screenshot(path=shots / "gallery-page-1.png", full_page=True)
            keep(shots / "gallery-page-1.png")

            # Hover text: the pair's losses, time and settings.
            title = page.locator("a.pair").first.get_attribute("title")
            assert "style 3e+05" in title and "lbfgs" in title and "2.5 s" in title  # c=1, s=1

            # A click opens the detail view with the full-size image and its loss curves.
            page.locator("a.pair:not(.failed)").first.click()
            viewer = page.locator("#viewer")
            viewer.wait_for(state="visible")
            page.wait_for_function(
                "() => document.getElementById('v-image').complete"
                " && document.getElementById('v-curve').complete"
            )
            full = page.eval_on_selector(
                "#v-image", "e => ({w: e.naturalWidth, h: e.naturalHeight, src: e.src})"
            )
            assert (full["w"], full["h"]) == FULL_SIZE  # the full image, not the thumbnail
            assert full["src"].endswith("/results/stylized/starry%20night/a%23b%25c%20d.png")
            assert page.eval_on_selector("#v-curve", "e => e.naturalWidth") > 0
            assert "content loss" in page.locator("#v-table").inner_text()
            page.screenshot(path=shots / "gallery-detail.png")
            keep(shots / "gallery-detail.png")
            page.keyboard.press("ArrowRight")  # the next pair of the page
            page.wait_for_function("() => document.getElementById('v-image').complete")
            assert page.eval_on_selector("#v-image", "e => e.src").endswith(
                "/results/stylized/wave/a%23b%25c%20d.png"
            )
            page.keyboard.press("Escape")
            viewer.wait_for(state="hidden")

            # A failed pair opens its details (the message), with no image.
            page.locator("a.pair.failed").click()
            viewer.wait_for(state="visible")
            assert "NaN" in page.locator("#v-table").inner_text()
            assert page.locator("#v-full").is_hidden()
            page.keyboard.press("Escape")

            # The filter fades every pair but the failed ones, or but those scoring at
            # least the limit (style scores on this page: a#b 0.4, p3 0.6, p4 0.7).
            def unfaded():
                return page.locator("td:not(.faded) > a.pair").count()

            page.select_option("#filter", "failed")
            assert unfaded() == 1 and page.locator("td:not(.faded) > a.pair.failed").count() == 1
            assert page.locator("#matches").inner_text() == "1 of 6 pairs on this page"
            page.select_option("#filter", "style")
            page.fill("#limit", "0.45")
            assert unfaded() == 3  # p3 x starry night (p3 x wave failed), p4 x both
            page.fill("#limit", "0.65")
            assert unfaded() == 2
            page.select_option("#filter", "all")
            assert unfaded() == 6
            # The detail view shows the pair's scores.
            page.locator("a.pair:not(.failed)").first.click()
            viewer.wait_for(state="visible")
            details = page.locator("#v-table").inner_text()
            assert "style score\t0.4" in details and "content score\t0.3" in details
            page.keyboard.press("Escape")

            # The review page: the failed pair with its message, and the worst scores.
            page.locator("a[href='review.html']").click()
            page.wait_for_url("**/review.html")
            failed = page.locator("#failed").inner_text()
            assert "wave.jpg × p3.png" in failed and "the loss became NaN" in failed
            for image in page.locator("table.list img").all():
                image.scroll_into_view_if_needed()
            page.wait_for_function(ALL_IMAGES_LOADED.replace("table.grid", "table.list"))
            widths = page.eval_on_selector_all(
                "table.list img", "els => els.map((e) => e.naturalWidth)"
            )
            assert len(widths) == 2 * 9 and all(widths), widths  # 9 pairs with images, twice
            page.go_back()
            page.wait_for_url("**/index.html")

            # The pager: page 2 and back.
            page.locator("a[rel=next]").click()
            page.wait_for_url("**/page-2.html")
            images = load_every_thumbnail(page)
            assert len(images) == 2 + 2 + 4 and all(i["width"] > 0 for i in images)
            page.locator("a[rel=prev]").click()
            page.wait_for_url("**/index.html")
        finally:
            browser.close()

    assert not problems, f"console errors: {problems}"
    remote = [u for u in requests if urlparse(u).scheme not in ("file", "data", "about")]
    assert not remote, f"the gallery asked the network for {remote}"


FAR = 5000  # px below the window: beyond the distance at which Chromium starts lazy loads


def test_thumbnails_far_below_the_fold_load_only_when_scrolled_to(tmp_path):
    """A page of many rows fetches the thumbnails near the window on open, and those far
    below it only when the user scrolls there (the `loading="lazy"` attribute)."""
    from playwright.sync_api import sync_playwright

    binary = chromium()
    contents = [f"p{n:02}.png" for n in range(40)]
    # Portrait results: rows of about 260 px, so the page is about 10,000 px tall.
    make_results(tmp_path, contents, ["wave.jpg", "starry.jpg"], size=(200, 300))
    build(tmp_path, rows_per_page=len(contents))
    index = tmp_path / "results" / "gallery" / "index.html"
    requested = set()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("request", lambda r: requested.add(r.url))
            page.goto(index.as_uri())  # returns after the load event
            page.wait_for_timeout(500)  # and lazy loads near the window have started
            images = page.eval_on_selector_all(
                "table.grid img",
                "els => els.map((e) => ({url: e.src, top: e.getBoundingClientRect().top,"
                " width: e.naturalWidth}))",
            )
            near = [i for i in images if i["top"] < 800]
            far = [i for i in images if i["top"] > 800 + FAR]
            assert near and len(far) >= 20, (len(near), len(far))
            assert all(i["width"] > 0 for i in near), "thumbnails in the window load at once"
            loaded = [i["url"] for i in far if i["url"] in requested or i["width"] > 0]
            assert not loaded, f"{len(loaded)} thumbnails far below the fold loaded on open"
            # Scrolled to, they load.
            shown = load_every_thumbnail(page)
            assert all(i["width"] > 0 for i in shown)
            assert {i["url"] for i in far} <= requested
        finally:
            browser.close()


def test_a_masked_pairs_detail_view_lays_its_mask_over_the_photo(tmp_path):
    from playwright.sync_api import sync_playwright

    binary = chromium()
    results = make_results(tmp_path, ["photo.png", "plain.png"], ["wave.jpg"])
    summary = read_rows(results / "summary.tsv")
    summary[0]["mask"] = "halves.png"  # photo.png x wave.jpg; plain.png has no mask
    write_table(results / "summary.tsv", SUMMARY_COLUMNS, summary)
    halves = Image.new("RGB", (30, 40), "black")  # not the photo's size: stretched over it
    halves.paste("white", (0, 0, 15, 40))
    (tmp_path / "masks").mkdir()
    halves.save(tmp_path / "masks" / "halves.png")
    build(tmp_path, RunTables(masks="masks"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto((tmp_path / "results" / "gallery" / "index.html").as_uri())
            page.locator('a.pair[data-pair="wave/photo"]').click()
            page.locator("#v-overlay").wait_for(state="visible")
            page.wait_for_function(
                "() => ['v-photo', 'v-mask'].every((id) => document.getElementById(id).complete)"
            )
            shown = page.eval_on_selector_all(
                "#v-overlay img",
                "els => els.map((e) => {const r = e.getBoundingClientRect();"
                " return {w: e.naturalWidth, box: [r.x, r.y, r.width, r.height],"
                " opacity: getComputedStyle(e).opacity}})",
            )
            photo, mask = shown
            assert photo["w"] == 64 and mask["w"] == 30  # the photo and the mask files
            assert mask["box"] == photo["box"] and float(mask["opacity"]) < 1  # over it
            page.keyboard.press("ArrowRight")  # the next pair has no mask: no overlay
            page.locator("#v-overlay").wait_for(state="hidden")
        finally:
            browser.close()


def test_compare_variants_in_headless_chromium(tmp_path):
    """With variants: the grid's detail view names the variant and its changes, and the
    compare pages open from the front page with every variant's image loaded."""
    from playwright.sync_api import sync_playwright

    binary = chromium()
    contents = ["photo 0.png", "a#b%c d.png", "p2.png"]
    make_variant_results(tmp_path, VARIANTS, contents, ["wave.jpg", "starry night.jpg"])
    build_variants(tmp_path, VARIANTS, rows_per_page=2)
    gallery = tmp_path / "results" / "gallery"
    shots = tmp_path / "results" / "screenshots"
    shots.mkdir()
    problems = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("requestfailed", lambda r: problems.append(f"failed request {r.url}"))
            page.goto((gallery / "index.html").as_uri())
            page.locator('a.pair[data-pair="strong/wave/a#b%c d"]').click()
            page.locator("#viewer").wait_for(state="visible")
            assert "variant\tstrong: style_weight=20" in page.locator("#v-table").inner_text()
            assert "wave.jpg · strong" in page.locator("#v-title").inner_text()
            page.keyboard.press("Escape")

            page.get_by_role("link", name="Compare variants").click()
            page.wait_for_url("**/compare.html")
            listed = page.locator("table.variants").inner_text()
            assert all(name in listed for name in VARIANTS) and "style_weight=20" in listed
            page.locator("a.style", has_text="wave.jpg").click()
            page.wait_for_url("**/compare-1-wave.html")
            images = load_every_thumbnail(page)
            broken = [i["src"] for i in images if i["width"] == 0]
            assert not broken, f"thumbnails that did not load: {broken}"
            pairs = [i["src"] for i in images if "/stylized/" in i["src"]]
            assert sorted(p.split("/")[3] for p in pairs) == sorted(list(VARIANTS) * 2)
            assert len(images) == 2 + len(pairs)  # and the two photos' own thumbnails
            header = page.locator("thead").inner_text()
            assert "style_weight=20" in header and "as configured" in header
            page.screenshot(path=shots / "gallery-compare.png", full_page=True)
            keep(shots / "gallery-compare.png")
            page.locator("a[rel=next]").click()  # the third photo (photo 0), on page 2
            page.wait_for_url("**/compare-2-wave.html")
            images = load_every_thumbnail(page)
            assert len(images) == 1 + len(VARIANTS) and all(i["width"] > 0 for i in images)
            page.locator("td a.full").first.click()  # the full image
            page.wait_for_url("**/variants/base/stylized/wave/photo%200.png")
            full = page.eval_on_selector("img", "e => [e.naturalWidth, e.naturalHeight]")
            assert tuple(full) == FULL_SIZE
        finally:
            browser.close()
    assert not problems, f"console errors: {problems}"
