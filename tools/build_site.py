"""Build the static companion site from the committed executed notebooks and figures (nothing is re-run).

    python tools/build_site.py [--out build/site]

- ``index.html``: what the paper claims, every notebook's claims table side by side (taken from the executed
  notebooks' outputs, verdicts coloured), and the gallery of ``figures/*.png``;
- one page per notebook (nbconvert's HTML exporter, lab template): prose, code folded, outputs, figures.

Offline-readable: no external scripts, fonts or stylesheets (nbconvert's require.js, MathJax and mermaid
links are left out; images are embedded or copied beside the pages). ``tests/test_site.py`` opens every page
in a headless browser.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
import time
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


def notebooks(root: Path) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def title_of(nb: dict, path: Path) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def claims_html(nb: dict) -> str | None:
    """The HTML of the executed claims table: the output of the cell that calls ``claims_table(``."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "claims_table(" in "".join(cell["source"]):
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "text/html" in data:
                    table = "".join(data["text/html"])
                    for verdict, colour in VERDICT_COLOURS.items():
                        table = table.replace(f"<td>{verdict}</td>",
                                              f'<td style="background:{colour}">{verdict}</td>')
                    return table
    return None


def export_page(path: Path, out: Path) -> str:
    """Write the notebook's page; returns its file name."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(template_name="lab", extra_template_paths=[str(TEMPLATE_DIR)],
                            template_file="vqlib_page.html.j2", embed_images=True)
    # computed prose (vqlib.studies.prose.say) reads as prose: the cell's code is hidden, its Markdown shown
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={"remove-input"}, enabled=True), True)
    body, _ = exporter.from_filename(str(path))
    nav = '<nav class="vq-nav"><a href="index.html">&larr; vqlib: all notebooks, claims and figures</a></nav>'
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, body, count=1)
    name = path.stem + ".html"
    (out / name).write_text(body, encoding="utf-8")
    return name


def index_page(pages: list[tuple[str, str, str | None]], figures: list[str]) -> str:
    claims = "".join(
        f'<section class="claims"><h3><a href="{page}">{html.escape(title)}</a></h3>'
        f'{table or "<p>(no claims table)</p>"}</section>' for title, page, table in pages)
    listing = "".join(f'<li><a href="{page}">{html.escape(title)}</a></li>' for title, page, _ in pages)
    gallery = "".join(f'<figure><a href="figures/{name}"><img src="figures/{name}" alt="{name}"></a>'
                      f"<figcaption>{name}</figcaption></figure>" for name in figures)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>vqlib: codebook collapse in vector quantization</title>
<style>
 body {{ font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1500px; padding: 0 20px 40px; }}
 .claims-row {{ display: flex; gap: 16px; overflow-x: auto; align-items: flex-start; }}
 section.claims {{ flex: 1 0 560px; font-size: 12px; }}
 section.claims table {{ border-collapse: collapse; }}
 section.claims td, section.claims th {{ border: 1px solid #ddd; padding: 2px 4px; vertical-align: top; }}
 .gallery {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 14px; }}
 .gallery img {{ width: 100%; border: 1px solid #eee; }} figcaption {{ font-size: 12px; color: #555; }}
</style></head>
<body>
<h1>vqlib &mdash; understand, measure and fix codebook collapse</h1>
<h2>What the paper claims</h2>{PAPER}
<h2>The notebooks</h2><ol>{listing}</ol>
<h2>Every claim, side by side</h2><div class="claims-row">{claims}</div>
<h2>Gallery</h2><div class="gallery">{gallery}</div>
<p><small>Built by <code>make site</code> from the committed executed notebooks and <code>figures/</code>
(default scale); nothing was re-run.</small></p>
</body></html>
"""


def build(root: Path, out: Path) -> list[str]:
    """Build the site into ``out`` (emptied first); returns the page names."""
    if out.exists():
        shutil.rmtree(out)
    (out / "figures").mkdir(parents=True)
    pages = []
    for path in notebooks(root):
        nb = json.loads(path.read_text(encoding="utf-8"))
        pages.append((title_of(nb, path), export_page(path, out), claims_html(nb)))
    figures = sorted(p.name for p in (root / "figures").glob("*.png"))
    for name in figures:
        shutil.copy2(root / "figures" / name, out / "figures" / name)
    (out / "index.html").write_text(index_page(pages, figures), encoding="utf-8")
    return ["index.html"] + [page for _, page, _ in pages]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "site"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    pages = build(ROOT, Path(args.out))
    print(f"{len(pages)} pages in {args.out} ({time.perf_counter() - start:.1f} s): open {args.out}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
