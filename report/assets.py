"""Static files every site carries: MathJax, Plotly, the explorer script, the MathJax hook and the CSS.

Everything the pages load comes from the site itself, so a site opened from ``file://`` or
served by any static host works offline and no request leaves the reader's machine. MathJax is
copied from the vendored build (``make setup`` runs ``scripts/vendor_mathjax.sh``; located by
:func:`report.resources.mathjax_dir`), Plotly from the installed ``plotly`` package; each is
copied once per site, never linked from a CDN.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from report.resources import mathjax_dir, templates_dir

#: Site-relative paths of the scripts (pages link them with relative URLs).
MATHJAX_CONFIG_JS = "javascripts/mathjax-config.js"
MATHJAX_JS = "javascripts/mathjax/tex-chtml.js"
PLOTLY_JS = "javascripts/plotly.min.js"
EXPLORER_JS = "javascripts/explorer.js"
ATLAS_CSS_FILE = "stylesheets/atlas.css"

# MathJax typesets the page by itself when it starts. Material's ``document$`` emits once for the
# first page (it is a replaying subject) and again after every instant navigation: the first
# emission is skipped, because clearing MathJax's output there removes the CHTML glyph styles it
# just inserted and leaves every formula an empty box. Later emissions re-typeset the new content.
MATHJAX_CONFIG = """window.MathJax = {
  tex: { inlineMath: [["\\\\(", "\\\\)"]], displayMath: [["\\\\[", "\\\\]"]], processEscapes: true, processEnvironments: true },
  options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex" },
  startup: {
    pageReady: function () {
      return MathJax.startup.defaultPageReady().then(function () {
        if (typeof window.document$ === "undefined") { return; }
        var first = true;
        window.document$.subscribe(function () {
          if (first) { first = false; return; }
          MathJax.startup.output.clearCache(); MathJax.typesetClear(); MathJax.texReset(); MathJax.typesetPromise();
        });
      });
    }
  }
};
"""

# Tables fit the column: cells wrap (long identity names break anywhere), numbers never wrap.
# Display formulas scroll inside their own box instead of widening the page.
ATLAS_CSS = """.md-typeset figure img { max-width: 100%; height: auto; background: white; cursor: zoom-in; }
.md-typeset figcaption { max-width: 48rem; font-size: .72rem; text-align: left; }
.md-typeset table:not([class]) { font-size: .68rem; display: table; width: 100%; }
.md-typeset table:not([class]) td, .md-typeset table:not([class]) th { padding: .5em .6em; overflow-wrap: anywhere; }
.md-typeset .md-typeset__table { display: block; max-width: 100%; }
.md-typeset .md-typeset__table table:not([class]) { display: table; }
.md-typeset .atlas-note { font-size: .68rem; color: var(--md-default-fg-color--light); }
.md-typeset div.arithmatex { overflow-x: auto; overflow-y: hidden; max-width: 100%; }
.md-typeset div.arithmatex mjx-container[display="true"] { margin: .6em 0; }
.md-typeset ol.atlas-references li { margin-bottom: .4em; }
.atlas-explorer { width: 100%; position: relative; }
.atlas-explorer .atlas-controls { display: flex; flex-wrap: wrap; gap: .4rem .8rem; align-items: center; font-size: .7rem; margin-bottom: .4rem; }
.atlas-explorer .atlas-controls select, .atlas-explorer .atlas-controls input { font: inherit; padding: .1rem .3rem;
  color: var(--md-default-fg-color); background: var(--md-default-bg-color); border: 1px solid var(--md-default-fg-color--lighter); }
.atlas-explorer .atlas-plot { width: 100%; height: 40rem; max-height: 85vh; }
.atlas-explorer .atlas-loading { padding: 2rem 0; color: var(--md-default-fg-color--light); }
.atlas-explorer .atlas-panel { display: grid; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr)); gap: 0 1.5rem; font-size: .68rem; }
.atlas-explorer .atlas-panel > div:empty { display: none; }
.atlas-explorer .atlas-panel dl { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .6rem; margin: .3rem 0; }
.atlas-explorer .atlas-panel dt { font-weight: 700; }
.atlas-explorer .atlas-panel dd { margin: 0; overflow-wrap: anywhere; }
.atlas-explorer .atlas-title { margin: .6rem 0 .2rem; overflow-wrap: anywhere; }
.atlas-explorer table.atlas-list { font-size: .64rem; width: 100%; border-collapse: collapse; }
.atlas-explorer table.atlas-list td, .atlas-explorer table.atlas-list th { padding: .15rem .4rem; text-align: left;
  border-bottom: 1px solid var(--md-default-fg-color--lightest); overflow-wrap: anywhere; }
.atlas-explorer table.atlas-list td.num, .atlas-explorer table.atlas-list th { white-space: nowrap; overflow-wrap: normal; }
.atlas-explorer table.atlas-list td.num { text-align: right; font-variant-numeric: tabular-nums; }
.atlas-explorer .atlas-download { font-size: .64rem; padding: .3rem .8rem; margin: .2rem 0 .4rem; cursor: pointer; }
.atlas-explorer .atlas-tooltip { position: absolute; z-index: 5; pointer-events: none; white-space: pre; font-size: .62rem;
  padding: .3rem .5rem; background: var(--md-default-bg-color); color: var(--md-default-fg-color);
  border: 1px solid var(--md-default-fg-color--lighter); border-radius: .2rem; max-width: 28rem; overflow: hidden; }
/* The explorer's page gives the map the whole content width: no table of contents beside it, no width cap. */
.md-main__inner:has(.atlas-explorer) > .md-sidebar--secondary { display: none; }
.md-main__inner.md-grid:has(.atlas-explorer) { max-width: none; }
[data-md-color-scheme="slate"] .md-typeset figure img { filter: brightness(.92); }
"""


def plotly_js() -> Path:
    """``plotly.min.js`` of the installed ``plotly`` package (found without importing it: 0.3 s saved)."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - plotly is pinned
        raise ImportError("the embedding explorer needs plotly: pip install plotly")
    path = Path(list(spec.submodule_search_locations)[0]) / "package_data" / "plotly.min.js"
    if not path.is_file():  # pragma: no cover - a plotly without package_data
        raise ImportError(f"plotly is installed without {path.name}: reinstall plotly")
    return path


def write_site_assets(docs: Path, with_plotly: bool) -> None:
    """Copy MathJax, Plotly (when a page has an explorer) and write the project's JS/CSS into ``docs``.

    Raises
    ------
    FileNotFoundError
        When the vendored MathJax is missing: a site without it would show raw TeX offline.
    """
    src = mathjax_dir()
    if not (src / "tex-chtml.js").is_file():
        raise FileNotFoundError(
            f"vendored MathJax not found at {src}: run `make setup` (scripts/vendor_mathjax.sh) so that formulas "
            "render offline"
        )
    js = docs / "javascripts"
    (js / "mathjax").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "tex-chtml.js", docs / MATHJAX_JS)
    shutil.copytree(src / "output" / "chtml" / "fonts" / "woff-v2", js / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2")
    # TeX packages MathJax autoloads on first use (\boldsymbol, \cancel ...): local, not fetched.
    if (src / "input" / "tex" / "extensions").is_dir():
        shutil.copytree(src / "input" / "tex" / "extensions", js / "mathjax" / "input" / "tex" / "extensions")
    (docs / MATHJAX_CONFIG_JS).write_text(MATHJAX_CONFIG, encoding="utf-8")
    if with_plotly:
        shutil.copyfile(plotly_js(), docs / PLOTLY_JS)
        shutil.copyfile(templates_dir() / "explorer.js", docs / EXPLORER_JS)
    (docs / "stylesheets").mkdir(exist_ok=True)
    (docs / ATLAS_CSS_FILE).write_text(ATLAS_CSS, encoding="utf-8")
