"""Build the static companion site from the committed executed notebooks and figures (nothing is re-run).

    python tools/build_site.py [--out build/site]

- ``index.html``: what the paper claims, every notebook's claims table (stacked, one column per field, verdicts
  coloured) and the gallery of ``figures/*.png`` in reading order (notebook by notebook, in the order each draws
  them), each captioned from the notebook (its section heading and the prose that introduces the figure) and
  linked to that section;
- one page per notebook (nbconvert's HTML exporter, lab template): prose, code folded, outputs, figures; no
  ``In [n]`` / ``Out [n]`` prompts (the hidden computed-prose cells would leave gaps in the counts), the claims
  table drawn as on the index;
- ``notebook.css`` (nbconvert's stylesheet, once for every page), ``site.css`` (this site's), ``figures/`` (one
  copy of each PNG: a notebook output that is a committed figure, byte for byte, links to it instead of
  embedding it).

Offline-readable: no external scripts, fonts or stylesheets (nbconvert's require.js, MathJax and mermaid
links are left out). ``tests/test_site.py`` opens every page in a headless browser.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import math
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = Path(__file__).resolve().parent / "site"

PAPER = """<p><em>Early Quantization Shrinks Codebook: A Simple Fix for Diversity-Preserving Tokenization</em>
(arXiv 2603.17052) argues that a vector quantizer switched on at step 0 anchors its codebook to the outputs of an
untrained encoder: the codebook <strong>shrinks</strong> into a narrow region and few codes are used
(<strong>tokens collapse</strong>); too little encoder capacity bunches the embeddings themselves
(<strong>embeddings collapse</strong>). Its fix, <strong>deferred quantization</strong>, trains the autoencoder
continuously first and builds the codebook from the trained encoder; generators trained on such tokens make more
diverse samples. The notebooks below test these claims on Gaussian mixtures, CIFAR-10 and an ImageNet sample,
compare the fixes, and measure generative diversity. Each claims table gives every claim with n, the effect, its
interval and a verdict: agrees, disagrees or inconclusive.</p>"""

VERDICT_COLOURS = {"agrees": "#d9f2d9", "disagrees": "#f8d7d7", "inconclusive": "#fff2cc"}
NOTEBOOK_CSS = "notebook.css"
SITE_CSS = "site.css"

SITE_STYLE = """/* vqlib site: the index and what every notebook page adds to nbconvert's stylesheet (notebook.css) */
body.vq-index { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1360px; padding: 0 20px 40px; }
nav.vq-nav { font: 14px sans-serif; padding: 8px 16px; border-bottom: 1px solid #ddd; }
details.vq-code > summary { cursor: pointer; color: #666; font: 12px monospace; margin: 2px 0; }

/* claims tables: the same on the index and on every notebook page (.vq-claims-wrap outranks nbconvert's
   table rules); fixed column widths, so the stacked tables line up and the claim column takes the rest */
.vq-claims-wrap { max-width: 100%; overflow-x: auto; }
.vq-claims-wrap table.vq-claims { border-collapse: collapse; width: 100%; min-width: 1000px; table-layout: fixed;
                                  font: 12.5px/1.35 system-ui, sans-serif; margin: 4px 0 8px; color: #222; }
.vq-claims-wrap table.vq-claims th, .vq-claims-wrap table.vq-claims td {
  border: 1px solid #ddd; padding: 3px 6px; vertical-align: top; text-align: left; max-width: none;
  white-space: normal; line-height: 1.35; overflow-wrap: break-word; }
.vq-claims-wrap table.vq-claims thead th { background: #f4f4f4; font-weight: 600; vertical-align: bottom; }
.vq-claims-wrap table.vq-claims td.num { text-align: right; font-variant-numeric: tabular-nums; }
.vq-claims-wrap table.vq-claims td.interval { font-variant-numeric: tabular-nums; }
.vq-claims-wrap table.vq-claims .how { display: block; color: #666; font-size: 11px; }
.vq-claims-wrap table.vq-claims .kind { color: #666; font-size: 11px; font-weight: normal; }
.vq-claims-wrap table.vq-claims td.verdict { font-weight: 600; }
.vq-claims-wrap table.vq-claims tbody tr { background: #fff; }
.vq-claims-wrap table.vq-claims tbody tr:nth-child(even) { background: #fafafa; }
""" + "".join(f".vq-claims-wrap table.vq-claims td.verdict.{verdict} {{ background: {colour}; }}\n"
              for verdict, colour in VERDICT_COLOURS.items()) + """
/* the index */
section.claims { margin: 0 0 22px; }
section.claims h3 { margin: 10px 0 4px; }
p.vq-note { color: #555; font-size: 13px; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 18px; }
.gallery figure { margin: 0; }
.gallery img { width: 100%; border: 1px solid #eee; }
.gallery figcaption { font-size: 13px; color: #333; }
.gallery figcaption .title { display: block; font-weight: 600; margin: 2px 0; }
.gallery figcaption .what { display: block; color: #444; }
.gallery figcaption .file { display: block; color: #777; font: 11px monospace; margin-top: 2px; }
h3.vq-gallery-notebook { margin: 22px 0 8px; }
"""


# --- the notebooks --------------------------------------------------------------------------------------------

@dataclass
class Figure:
    """One committed figure as a notebook draws it: where, under which heading, and what the notebook says of it."""

    name: str  # file name in figures/, e.g. 01_tsne.png
    page: str  # the notebook's page
    heading: str  # HTML of the section heading that draws it
    anchor: str  # that heading's id on the page (nbconvert's)
    what: str | None  # HTML: the first sentence(s) of the prose that introduces it


@dataclass
class Notebook:
    path: Path
    title: str
    page: str
    claims: list[dict] | None = None
    claims_anchor: str | None = None
    figures: list[Figure] = field(default_factory=list)


def notebooks(root: Path) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def title_of(nb, path: Path) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def _markdown(text: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(text)


def _heading(line: str) -> tuple[str, str]:
    """(inner HTML, id) of a markdown heading line, as nbconvert renders it on the page."""
    rendered = _markdown(line)
    match = re.match(r'<h\d id="([^"]*)">(.*?)<a class="anchor-link"', rendered, re.S)
    if not match:
        return html.escape(line.lstrip("#").strip()), ""
    return match.group(2), html.unescape(match.group(1))


_ABBREVIATIONS = ("e.g.", "i.e.", "vs.", "cf.", "etc.", "approx.")


def _sentences(text: str) -> list[str]:
    """Split prose into sentences (a full stop, ! or ? followed by white space), keeping abbreviations whole."""
    parts, start = [], 0
    for match in re.finditer(r"[.!?](?=\s+\S)", text):
        if text[:match.end()].lower().endswith(_ABBREVIATIONS):
            continue
        parts.append(text[start:match.end()].strip())
        start = match.end()
    rest = text[start:].strip()
    return parts + [rest] if rest else parts


def _summary(markdown: str) -> str | None:
    """HTML of the first sentence of a paragraph (and the next one where the first is short)."""
    paragraph = " ".join(markdown.strip().split("\n\n")[0].split())
    sentences = _sentences(paragraph)
    if not sentences:
        return None
    text = sentences[0]
    if len(text) < 80 and len(sentences) > 1 and len(text) + len(sentences[1]) < 420:
        text += " " + sentences[1]
    rendered = _markdown(text).strip()
    return re.sub(r"^<p>(.*)</p>$", r"\1", rendered, flags=re.S)


def _prose_after_heading(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.startswith("#")).strip()


def _what(cells: list, at: int) -> str | None:
    """What the figure drawn by cell ``at`` shows, in the notebook's words: the nearest prose before it in its
    section (the heading cell's own paragraph included), else the paper's claim the section tests (a markdown cell
    after it starting with **Paper), else the first computed-prose output after it, else nothing."""
    for cell in reversed(cells[:at]):
        if cell.cell_type != "markdown":
            continue
        prose = _prose_after_heading(cell.source)
        if prose and not prose.startswith("**Paper"):
            return _summary(prose)
        if any(line.startswith("#") for line in cell.source.splitlines()):
            break
    for cell in cells[at + 1:]:
        if cell.cell_type == "markdown":
            if any(line.startswith("#") for line in cell.source.splitlines()):
                break
            if cell.source.startswith("**Paper"):
                return _summary(cell.source)
    for cell in cells[at + 1:]:
        if cell.cell_type == "markdown":
            break
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/markdown")
            if text:
                return _summary(text)
    return None


def _figure_hashes(root: Path) -> dict[str, str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest(): p.name for p in sorted((root / "figures").glob("*.png"))}


# --- claims tables --------------------------------------------------------------------------------------------

class _TableParser(HTMLParser):
    """Rows of the first <table> of a pandas HTML output: the header, then the body rows, as lists of text."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[tuple[str, str]]] = []
        self._cell: list[str] | None = None
        self._tables = 0

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._tables += 1
        elif self._tables == 1 and tag == "tr":
            self.rows.append([])
        elif self._tables == 1 and tag in ("td", "th") and self.rows:
            self._cell = [tag]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append((self._cell[0], "".join(self._cell[1:]).strip()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse_claims(table_html: str) -> list[dict]:
    """The rows of a claims table (the HTML pandas wrote for ``claims_table(...)``), without pandas' index column."""
    parser = _TableParser()
    parser.feed(table_html)
    header, *body = parser.rows
    names = [text for _, text in header]
    index = 1 if header and header[0][1] == "" else 0
    return [dict(zip(names[index:], [text for _, text in row[index:]])) for row in body if row]


def _decimals(text: str) -> int | None:
    match = re.fullmatch(r"-?\d+(?:\.(\d*))?", text.strip())
    return None if match is None else len(match.group(1) or "")


def number(value: float | str, available: int | None = None) -> str:
    """Three significant digits (whole numbers from 100 on), never more decimals than ``available``: the one
    number format of every claims table."""
    if isinstance(value, str):
        if available is None:
            available = _decimals(value)
        try:
            value = float(value)
        except ValueError:
            return value
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(abs(value))))
    if available is not None:
        decimals = min(decimals, available)
    return f"{value:.{decimals}f}"


def _interval(text: str) -> str:
    """``[low, high]`` with both ends in the table's number format (the notebook wrote them to 3 significant
    digits, so they are formatted as such)."""
    match = re.fullmatch(r"\[\s*([^,\]]+?)\s*,\s*([^\]]+?)\s*\]", text.strip())
    if not match:
        return html.escape(text)
    return f"[{number(float(match.group(1)))}, {number(float(match.group(2)))}]"


_KIND_HEADER = {"ratio": "effect<br>(first / second)", "difference": "effect<br>(first &minus; second)"}
# widths of every column but the claim's (which takes the rest): expected, source, n, first, second, effect,
# interval, measured, verdict
_COLUMNS = "<colgroup><col>" + "".join(f'<col style="width: {w}px">'
                                       for w in (86, 140, 62, 76, 76, 112, 150, 90, 104)) + "</colgroup>"
_KIND_CELL = {"ratio": "ratio", "difference": "difference"}


def _inline(text: str) -> str:
    """A claim's text: escaped, *emphasis* kept."""
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", html.escape(text))


def _unfinished(row: dict) -> str:
    """Notes under the measured direction: of a row whose runs had not finished learning (column ``finished``:
    no; the direction is the gap at that budget), and of a row whose verdict one seed changes (column
    ``one seed out``: changes; within noise)."""
    notes = ["runs not finished"] if row.get("finished") == "no" else []
    notes += ["one seed changes the verdict"] if row.get("one seed out") == "changes" else []
    return "".join(f'<span class="how">{note}</span>' for note in notes)


def claims_table_html(rows: list[dict]) -> str:
    """The claims table as the site shows it, on the index and on the notebook's page alike."""
    kinds = {row.get("effect", "") for row in rows} - {""}
    one_kind = kinds.pop() if len(kinds) == 1 else None
    effect_header = _KIND_HEADER.get(one_kind, "effect<br>(ratio first / second, or difference first &minus; second)")
    head = ("<tr><th>claim</th><th>expected</th><th>source</th><th>n</th><th>first<br>(mean)</th>"
            f"<th>second<br>(mean)</th><th>{effect_header}</th><th>interval<br><span class=\"kind\">bootstrap 95 % "
            "or min-max</span></th><th>measured</th><th>verdict</th></tr>")
    body = []
    for row in rows:
        kind = row.get("effect", "")
        effect = number(row.get("effect size", ""))
        if kind and one_kind is None:
            effect += f' <span class="kind">({_KIND_CELL.get(kind, html.escape(kind))})</span>'
        verdict = row.get("verdict", "")
        body.append(
            f'<tr><td class="claim">{_inline(row.get("claim", ""))}</td><td>{html.escape(row.get("expected", ""))}</td>'
            f'<td>{html.escape(row.get("source", ""))}</td><td class="num count">{html.escape(row.get("n", ""))}</td>'
            f'<td class="num">{number(row.get("first", ""))}</td><td class="num">{number(row.get("second", ""))}</td>'
            f'<td class="num">{effect if kind else "&mdash;"}</td>'
            f'<td class="interval">{_interval(row.get("interval", ""))}'
            f'<span class="how">{html.escape(row.get("interval kind", ""))}</span></td>'
            f'<td>{html.escape(row.get("measured", ""))}{_unfinished(row)}</td>'
            f'<td class="verdict {html.escape(verdict)}">{html.escape(verdict)}</td></tr>')
    return (f'<div class="vq-claims-wrap"><table class="vq-claims">{_COLUMNS}<thead>{head}</thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


# --- a notebook's page ----------------------------------------------------------------------------------------

def prepare(path: Path, figures_by_hash: dict[str, str]):
    """The notebook, read and ready to export (the file is not touched), and what the index needs from it.

    Figures that are committed files are marked (the page links to figures/NAME.png); the claims table is
    replaced by the site's rendering of it."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    info = Notebook(path=path, title=title_of(nb, path), page=path.stem + ".html")
    heading, anchor = html.escape(info.title), ""
    for at, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if re.match(r"#{1,6} ", line):
                    heading, anchor = _heading(line)
            continue
        if cell.cell_type != "code":
            continue
        is_claims = "claims_table(" in cell.source
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                png = data["image/png"]
                png = "".join(png) if isinstance(png, list) else png
                name = figures_by_hash.get(hashlib.sha256(base64.b64decode(png)).hexdigest())
                if name:
                    output.setdefault("metadata", {})["vqlib_figure"] = name
                    info.figures.append(Figure(name, info.page, heading, anchor, _what(nb.cells, at)))
            if is_claims and info.claims is None and "text/html" in data:
                info.claims = parse_claims(data["text/html"])
                info.claims_anchor = anchor
                data["text/html"] = claims_table_html(info.claims)
    return nb, info


def _exporter():
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(template_name="lab", extra_template_paths=[str(TEMPLATE_DIR)],
                            template_file="vqlib_page.html.j2", embed_images=True,
                            # prompts off: computed-prose cells (input hidden) would leave gaps in the counts
                            exclude_input_prompt=True, exclude_output_prompt=True)
    # computed prose (vqlib.studies.prose.say) reads as prose: the cell's code is hidden, its Markdown shown
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={"remove-input"}, enabled=True), True)
    return exporter


_HEAD_STYLE = re.compile(r"\s*<style[^>]*>(.*?)</style>", re.S)


def export_page(nb, info: Notebook, out: Path, exporter, stylesheets: dict[str, str]) -> str:
    """Write the notebook's page; its head's stylesheets go to a shared file (``stylesheets``: CSS -> file name,
    written once). Returns the page's file name."""
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": info.path.stem,
                                                                       "path": str(info.path.parent)}})
    head_end = body.index("</head>")
    head, rest = body[:head_end], body[head_end:]
    css = "\n".join(match.group(1).strip() for match in _HEAD_STYLE.finditer(head))
    if css not in stylesheets:
        name = NOTEBOOK_CSS if not stylesheets else f"notebook-{len(stylesheets) + 1}.css"
        stylesheets[css] = name
        (out / name).write_text(css + "\n", encoding="utf-8")
    links = (f'<link rel="stylesheet" href="{stylesheets[css]}">\n'
             f'<link rel="stylesheet" href="{SITE_CSS}">\n')
    head = _HEAD_STYLE.sub("", head).rstrip() + "\n" + links
    nav = '<nav class="vq-nav"><a href="index.html">&larr; vqlib: all notebooks, claims and figures</a></nav>'
    rest = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, rest, count=1)
    (out / info.page).write_text(head + rest, encoding="utf-8")
    return info.page


# --- the index ------------------------------------------------------------------------------------------------

def _href(page: str, anchor: str | None) -> str:
    return html.escape(f"{page}#{anchor}" if anchor else page)


def gallery_html(books: list[Notebook], unplaced: list[str]) -> str:
    parts = []
    for book in books:
        if not book.figures:
            continue
        parts.append(f'<h3 class="vq-gallery-notebook"><a href="{book.page}">{html.escape(book.title)}</a></h3>'
                     '<div class="gallery">')
        for fig in book.figures:
            what = f'<span class="what">{fig.what}</span>' if fig.what else ""
            parts.append(
                f'<figure data-figure="{html.escape(fig.name)}"><a href="figures/{html.escape(fig.name)}">'
                f'<img src="figures/{html.escape(fig.name)}" alt="{html.escape(fig.name)}"></a>'
                f'<figcaption><a class="title" href="{_href(fig.page, fig.anchor)}">{fig.heading}</a>{what}'
                f'<span class="file">figures/{html.escape(fig.name)}</span></figcaption></figure>')
        parts.append("</div>")
    if unplaced:
        parts.append('<h3 class="vq-gallery-notebook">Figures no notebook shows</h3><div class="gallery">')
        parts.extend(f'<figure data-figure="{html.escape(name)}"><a href="figures/{html.escape(name)}">'
                     f'<img src="figures/{html.escape(name)}" alt="{html.escape(name)}"></a>'
                     f'<figcaption><span class="file">figures/{html.escape(name)}</span></figcaption></figure>'
                     for name in unplaced)
        parts.append("</div>")
    return "".join(parts)


def index_page(books: list[Notebook], unplaced: list[str]) -> str:
    claims = "".join(
        f'<section class="claims"><h3><a href="{_href(book.page, book.claims_anchor)}">{html.escape(book.title)}</a>'
        f'</h3>{claims_table_html(book.claims) if book.claims else "<p>(no claims table)</p>"}</section>'
        for book in books)
    listing = "".join(f'<li><a href="{book.page}">{html.escape(book.title)}</a></li>' for book in books)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>vqlib: codebook collapse in vector quantization</title>
<link rel="stylesheet" href="{SITE_CSS}">
</head>
<body class="vq-index">
<h1>vqlib &mdash; understand, measure and fix codebook collapse</h1>
<h2>What the paper claims</h2>{PAPER}
<h2>The notebooks</h2><ol>{listing}</ol>
<h2>Every claim, notebook by notebook</h2>
<p class="vq-note">First and second are the means of the two sides of the claim (n values each); the effect is
their ratio, or their difference where a value is not positive; numbers to three significant digits (whole
numbers from 100 on).</p>
{claims}
<h2>Gallery</h2>
<p class="vq-note">In reading order: notebook by notebook, as each draws them. A caption's title links to the
section of the notebook that draws the figure.</p>
{gallery_html(books, unplaced)}
<p><small>Built by <code>make site</code> from the committed executed notebooks and <code>figures/</code>
(default scale); nothing was re-run.</small></p>
</body></html>
"""


def build(root: Path, out: Path) -> list[str]:
    """Build the site into ``out`` (emptied first); returns the page names."""
    if out.exists():
        shutil.rmtree(out)
    (out / "figures").mkdir(parents=True)
    figures_by_hash = _figure_hashes(root)
    exporter, stylesheets, books = _exporter(), {}, []
    for path in notebooks(root):
        nb, info = prepare(path, figures_by_hash)
        export_page(nb, info, out, exporter, stylesheets)
        books.append(info)
    names = sorted(p.name for p in (root / "figures").glob("*.png"))
    for name in names:
        shutil.copy2(root / "figures" / name, out / "figures" / name)
    shown = {fig.name for book in books for fig in book.figures}
    unplaced = [name for name in names if name not in shown]
    (out / SITE_CSS).write_text(SITE_STYLE, encoding="utf-8")
    (out / "index.html").write_text(index_page(books, unplaced), encoding="utf-8")
    return ["index.html"] + [book.page for book in books]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "site"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    pages = build(ROOT, Path(args.out))
    size = sum(p.stat().st_size for p in Path(args.out).rglob("*") if p.is_file())
    print(f"{len(pages)} pages in {args.out} ({size / 1e6:.1f} MB, {time.perf_counter() - start:.1f} s): "
          f"open {args.out}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
