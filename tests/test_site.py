"""`make site`: the static companion site, opened in a real headless browser (Debian's chromium, driven by
Playwright without downloading a browser of its own). Skipped, saying why, where no chromium is installed; CI
installs it first."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
build_site = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_site)


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")} if folder.exists() else {}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site as `make site` builds it, but into a temporary folder (``tools/build_site.py --out``): tests never
    write into the repository, whose build/site/ is what a person last built."""
    out = tmp_path_factory.mktemp("site") / "site"
    before = _snapshot(ROOT / "build" / "site")  # where `make site` writes
    return out, build_site.build(ROOT, out), before


def test_the_site_is_built_outside_the_repository(site):
    out, _, before = site
    assert ROOT not in out.parents
    assert _snapshot(ROOT / "build" / "site") == before, "building the site changed the repository's build/site/"


def test_the_site_has_an_index_and_a_page_per_notebook_without_external_resources(site):
    out, pages, _ = site
    assert pages[0] == "index.html" and len(pages) == 1 + len(build_site.notebooks(ROOT))
    index = (out / "index.html").read_text()
    assert index.count('<section class="claims">') == len(pages) - 1
    assert "agrees" in index and index.count("<img ") == len(list((ROOT / "figures").glob("*.png")))
    for name in pages:
        text = (out / name).read_text()
        for outside in ('src="http', 'src="//', 'rel="stylesheet" href="http', "@import url(http", "<script src="):
            assert outside not in text, f"{name} loads an outside resource ({outside})"
    assert "<details class=\"vq-code\">" in (out / pages[1]).read_text()  # code folded


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium browser installed (apt-get install chromium; CI does)")
def test_every_page_loads_in_a_headless_browser_with_its_images_and_links(site):
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make setup does)")
    out, pages, _ = site
    outside: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        for name in pages:
            response = page.goto((out / name).as_uri())
            assert response is None or response.ok, name
            page.wait_for_load_state("load")
            images = page.eval_on_selector_all("img", "els => els.map(e => [e.alt, e.naturalWidth, e.naturalHeight])")
            assert images, f"{name} shows no image"
            broken = [alt for alt, w, h in images if not (w > 0 and h > 0)]
            assert not broken, f"{name}: images that did not load: {broken[:5]}"
            for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
                parsed = urlparse(href)
                if parsed.scheme or href.startswith("#") or not parsed.path:
                    continue
                assert (out / unquote(parsed.path)).exists(), f"{name}: broken link {href}"
        page.goto((out / "index.html").as_uri())
        page.screenshot(path=str(out / "index-screenshot.png"), full_page=False)
        browser.close()
    assert not outside, f"pages requested outside resources: {outside[:5]}"
    assert (out / "index-screenshot.png").stat().st_size > 10_000
