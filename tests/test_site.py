"""`make site`: the static companion site, opened in a real headless browser (Debian's chromium, driven by
Playwright without downloading a browser of its own). The browser tests are skipped, saying why, where no
chromium is installed; CI installs it first.

What a reader meets is checked as a reader meets it, at a 1,400 px wide window: every verdict of every claims
table visible (on the index and on the notebook pages) and coloured the same way everywhere, the gallery in
reading order with captions that lead to the section drawing each figure, no stray prompts, one stylesheet and
one copy of each figure. Screenshots of the index and of a notebook page are left beside the built site (in
pytest's temporary folder) for a person to look at."""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.util
import json
import math
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
build_site = importlib.util.module_from_spec(spec)
sys.modules["build_site"] = build_site  # its dataclasses look their module up there
spec.loader.exec_module(build_site)

WIDTH = 1400
FIGURES = sorted((ROOT / "figures").glob("*.png"))


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")} if folder.exists() else {}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def drawn_order() -> list[str]:
    """The committed figures in reading order: notebook by notebook, in the order each notebook's outputs show
    them (an output is a figure when its bytes are the file's), then any figure no notebook shows, by name."""
    by_hash = {_sha(p.read_bytes()): p.name for p in FIGURES}
    order: list[str] = []
    for path in build_site.notebooks(ROOT):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            for output in cell.get("outputs", []):
                png = output.get("data", {}).get("image/png")
                if png:
                    name = by_hash.get(_sha(base64.b64decode("".join(png) if isinstance(png, list) else png)))
                    if name and name not in order:
                        order.append(name)
    return order + sorted(p.name for p in FIGURES if p.name not in order)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site as `make site` builds it, but into a temporary folder (``tools/build_site.py --out``): tests never
    write into the repository, whose build/site/ is what a person last built."""
    out = tmp_path_factory.mktemp("site") / "site"
    before = _snapshot(ROOT / "build" / "site")  # where `make site` writes
    return out, build_site.build(ROOT, out), before


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no chromium browser installed (apt-get install chromium; CI does)")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make setup does)")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


def test_the_site_is_built_outside_the_repository(site):
    out, _, before = site
    assert ROOT not in out.parents
    assert _snapshot(ROOT / "build" / "site") == before, "building the site changed the repository's build/site/"


def test_the_site_has_an_index_and_a_page_per_notebook_without_external_resources(site):
    out, pages, _ = site
    assert pages[0] == "index.html" and len(pages) == 1 + len(build_site.notebooks(ROOT))
    index = (out / "index.html").read_text()
    assert index.count('<section class="claims">') == len(pages) - 1
    assert "agrees" in index and index.count("<img ") == len(FIGURES)
    for name in pages + [build_site.NOTEBOOK_CSS, build_site.SITE_CSS]:
        text = (out / name).read_text()
        for outside in ('src="http', 'src="//', 'rel="stylesheet" href="http', "@import url(http", "<script src=",
                        "url(http", "url(//"):
            assert outside not in text, f"{name} loads an outside resource ({outside})"
    assert "<details class=\"vq-code\">" in (out / pages[1]).read_text()  # code folded


def test_one_stylesheet_and_one_copy_of_each_figure(site):
    """nbconvert's stylesheet is written once and linked by every page; a notebook output that is a committed
    figure links figures/NAME.png instead of embedding it; figures/ holds each PNG once, and nothing else."""
    out, pages, _ = site
    hashes = {_sha(p.read_bytes()) for p in FIGURES}
    for name in pages:
        text = (out / name).read_text()
        head = text[:text.index("</head>")]
        assert "<style" not in head, f"{name} carries its own stylesheet in its head"
        assert f'href="{build_site.SITE_CSS}"' in head, name
        embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
        assert not [p for p in embedded if _sha(base64.b64decode(p)) in hashes], f"{name} embeds a committed figure"
        if name != "index.html":
            assert f'href="{build_site.NOTEBOOK_CSS}"' in head, name
            assert len(text) < 200_000, f"{name} is {len(text)} characters"
    assert sorted(p.name for p in out.rglob("*.png")) == sorted(p.name for p in FIGURES)
    assert {p.name for p in out.glob("*.css")} == {build_site.NOTEBOOK_CSS, build_site.SITE_CSS}
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    figures = sum(p.stat().st_size for p in FIGURES)
    assert total < figures + 1_500_000, f"the site is {total / 1e6:.1f} MB for {figures / 1e6:.1f} MB of figures"


def test_notebook_pages_have_no_prompts(site):
    """No In [n] / Out[n] prompts: the hidden computed-prose cells would leave gaps in their counts."""
    out, pages, _ = site
    for name in pages[1:]:
        text = (out / name).read_text()
        assert not re.search(r"(In|Out)(&nbsp;|\s)?\[\d*(&nbsp;)?\]:", text), f"{name} shows execution prompts"
        assert "jp-InputPrompt" not in text and "jp-OutputPrompt" not in text, name


def _claims_tables(text: str) -> list[str]:
    return re.findall(r'<table class="vq-claims">.*?</table>', text, re.S)


def test_claims_tables_one_format_no_index_column_and_the_effect_named(site):
    out, pages, _ = site
    index = (out / "index.html").read_text()
    with_claims = [p for p in build_site.notebooks(ROOT) if "claims_table(" in p.read_text(encoding="utf-8")]
    assert len(_claims_tables(index)) == len(with_claims) >= 4
    for name in pages:
        for table in _claims_tables((out / name).read_text()):
            headers = [re.sub(r"<[^>]+>", " ", h) for h in re.findall(r"<th>(.*?)</th>", table, re.S)]
            assert headers[0] == "claim", f"{name}: the first column is {headers[0]!r}, not the claim"
            assert any("first / second" in h or "first &minus; second" in h for h in headers), name
            cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", table, re.S)]
            assert not {"ratio", "difference"} & set(cells), f"{name}: a column only names the effect's kind"
            for cell in re.findall(r'<td class="num">([-\d.]+)', table) + \
                    [n for c in re.findall(r'<td class="interval">\[([^\]]*)\]', table) for n in c.split(", ")]:
                value = float(cell)
                digits = cell.lstrip("-").replace(".", "").lstrip("0")
                if abs(value) >= 100:
                    assert "." not in cell, f"{name}: {cell} (whole numbers from 100 on)"
                else:
                    assert len(digits) <= 3, f"{name}: {cell} has more than 3 significant digits"
                    assert value == 0 or math.floor(math.log10(abs(value))) >= -6, cell
            verdicts = re.findall(r'<td class="verdict ([a-z]+)">([a-z]+)</td>', table)
            assert verdicts and all(cls == word and word in build_site.VERDICT_COLOURS for cls, word in verdicts)


_VERDICT_BOXES = """() => [...document.querySelectorAll('table.vq-claims td.verdict')].map(cell => {
    const box = cell.getBoundingClientRect();
    let clipped = null;
    for (let el = cell.parentElement; el && el !== document.documentElement; el = el.parentElement) {
        const style = getComputedStyle(el);
        if (style.overflowX !== 'visible' || style.overflowY !== 'visible') {
            const frame = el.getBoundingClientRect();
            const right = frame.left + el.clientLeft + el.clientWidth;
            if (box.left < frame.left - 0.5 || box.right > right + 0.5) { clipped = el.className || el.tagName; }
        }
    }
    return {text: cell.textContent.trim(), left: box.left, right: box.right, width: box.width,
            truncated: cell.scrollWidth > cell.clientWidth + 1, clipped: clipped,
            colour: getComputedStyle(cell).backgroundColor,
            visible: getComputedStyle(cell).visibility === 'visible' && box.width > 0 && box.height > 0};
})"""


def test_every_verdict_is_visible_at_1400_px_and_coloured_the_same_everywhere(site, browser):
    out, pages, _ = site
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    colours: dict[str, set[str]] = {}
    counted = 0
    for name in pages:
        page.goto((out / name).as_uri())
        page.wait_for_load_state("load")
        width = page.evaluate("document.documentElement.clientWidth")
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways"
        for cell in page.evaluate(_VERDICT_BOXES):
            counted += 1
            where = f"{name}: verdict {cell['text']!r}"
            assert cell["visible"], f"{where} is not visible"
            assert 0 <= cell["left"] and cell["right"] <= min(width, WIDTH), f"{where} lies at {cell['right']:.0f} px"
            assert cell["clipped"] is None, f"{where} is cut off by a scrolling container ({cell['clipped']})"
            assert not cell["truncated"], f"{where} is cut short"
            colours.setdefault(cell["text"], set()).add(cell["colour"])
    page.close()
    index = (out / "index.html").read_text()
    assert counted == 2 * sum(len(re.findall(r'<td class="verdict ', t)) for t in _claims_tables(index))
    assert {"agrees", "disagrees"} <= set(colours)
    for verdict, seen in colours.items():
        assert len(seen) == 1, f"{verdict!r} is coloured {seen} on different pages"
    assert len({next(iter(seen)) for seen in colours.values()}) == len(colours), "two verdicts share a colour"
    assert "rgba(0, 0, 0, 0)" not in {next(iter(seen)) for seen in colours.values()}


_HEADINGS_AND_FIGURES = """() => [...document.querySelectorAll(
    'h1[id], h2[id], h3[id], h4[id], h5[id], h6[id], img[id]')].map(el => [el.tagName, el.id])"""


def test_the_gallery_follows_reading_order_and_leads_to_the_drawing_section(site, browser):
    out, _, _ = site
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    page.goto((out / "index.html").as_uri())
    cards = page.eval_on_selector_all(
        ".gallery figure", """els => els.map(e => ({figure: e.dataset.figure, img: e.querySelector('img').alt,
            title: (e.querySelector('figcaption .title') || {}).textContent || '',
            href: (e.querySelector('figcaption a.title') || {href: ''}).getAttribute('href') || '',
            what: (e.querySelector('figcaption .what') || {}).textContent || ''}))""")
    assert [c["figure"] for c in cards] == drawn_order()
    assert [c["img"] for c in cards] == drawn_order()
    sections: dict[str, list] = {}
    for card in cards:
        name = card["figure"]
        assert card["title"].strip() and Path(name).stem not in card["title"], f"{name}: captioned {card['title']!r}"
        target, _, fragment = card["href"].partition("#")
        assert target.endswith(".html") and fragment, f"{name}: caption links to {card['href']!r}"
        if target not in sections:
            page.goto((out / target).as_uri())
            sections[target] = page.evaluate(_HEADINGS_AND_FIGURES)
        order = sections[target]
        ids = [i for _, i in order]
        assert fragment in ids, f"{name}: {target} has no section #{fragment}"
        assert f"figure-{name}" in ids, f"{name}: {target} does not show it"
        drawn = ids.index(f"figure-{name}")
        heading = [i for tag, i in order[:drawn] if tag != "IMG"][-1]
        assert heading == fragment, f"{name} is drawn under #{heading}, the caption links to #{fragment}"
    assert sum(bool(c["what"].strip()) for c in cards) >= 0.8 * len(cards), "most captions should say what it shows"
    page.close()


def test_every_page_loads_in_a_headless_browser_with_its_images_and_links(site, browser):
    out, pages, _ = site
    outside: list[str] = []
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    for name in pages:
        response = page.goto((out / name).as_uri())
        assert response is None or response.ok, name
        page.wait_for_load_state("load")
        images = page.eval_on_selector_all("img", "els => els.map(e => [e.alt, e.naturalWidth, e.naturalHeight])")
        assert images, f"{name} shows no image"
        broken = [alt for alt, w, h in images if not (w > 0 and h > 0)]
        assert not broken, f"{name}: images that did not load: {broken[:5]}"
        sheets = page.eval_on_selector_all("link[rel=stylesheet]", "els => els.map(e => e.getAttribute('href'))")
        assert sheets and all((out / href).exists() for href in sheets), f"{name}: stylesheets {sheets}"
        if name != "index.html":  # nbconvert's stylesheet applies (a JupyterLab theme variable is set)
            assert page.evaluate("getComputedStyle(document.body).getPropertyValue('--jp-ui-font-size1')").strip()
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            parsed = urlparse(href)
            if parsed.scheme or not parsed.path:
                continue
            target = out / unquote(parsed.path)
            assert target.exists(), f"{name}: broken link {href}"
            if parsed.fragment and target.suffix == ".html":
                ids = {html.unescape(i) for i in re.findall(r'\sid="([^"]*)"', target.read_text())}
                assert parsed.fragment in ids, f"{name}: {href} points to no element of {target.name}"
    # for a person to look at (beside the site, not in it): the whole index and the whole first notebook page
    for name, shot in (("index.html", "index-screenshot.png"), (pages[1], "notebook-screenshot.png")):
        page.goto((out / name).as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(out.parent / shot), full_page=True)
        assert (out.parent / shot).stat().st_size > 10_000
    page.close()
    assert not outside, f"pages requested outside resources: {outside[:5]}"


def test_a_table_of_both_kinds_names_the_kind_beside_each_effect():
    rows = [{"claim": "a vs b", "expected": "higher", "source": "the paper", "n": "3 vs 3", "first": "2.5",
             "second": "1.25", "effect": kind, "effect size": size, "interval": "[1.5, 2.5]",
             "interval kind": "min-max of 3 pairs", "measured": "higher", "verdict": "agrees"}
            for kind, size in (("ratio", "2.0"), ("difference", "-0.012345"))]
    table = build_site.claims_table_html(rows)
    assert "ratio first / second, or difference first &minus; second" in table
    assert '2.0 <span class="kind">(ratio)</span>' in table
    assert '-0.0123 <span class="kind">(difference)</span>' in table
    assert build_site.claims_table_html(rows[:1]).count("(ratio)") == 0
    assert [build_site.number(v) for v in ("4365.0510", "0.0247", "1.000", "14.545", "0.002", "0")] == \
        ["4365", "0.0247", "1.00", "14.5", "0.002", "0"]


def test_a_row_whose_runs_had_not_finished_says_so_beside_its_direction_not_in_its_verdict():
    row = {"claim": "a vs b", "expected": "higher", "source": "the paper", "n": "5 vs 5", "first": "2.5",
           "second": "1.25", "effect": "ratio", "effect size": "2.0", "interval": "[1.5, 2.5]",
           "interval kind": "bootstrap 95 % (paired)", "measured": "higher", "verdict": "agrees"}
    unfinished = build_site.claims_table_html([{**row, "finished": "no"}])
    assert '<td>higher<span class="how">runs not finished</span></td>' in unfinished
    assert '<td class="verdict agrees">agrees</td>' in unfinished  # the verdict cell holds the verdict alone
    for finished in ("yes", "not checked"):
        assert "runs not finished" not in build_site.claims_table_html([{**row, "finished": finished}])
    fragile = build_site.claims_table_html([{**row, "one seed out": "changes"}])
    assert '<td>higher<span class="how">one seed changes the verdict</span></td>' in fragile
    assert "one seed changes" not in build_site.claims_table_html([{**row, "one seed out": "same"}])
