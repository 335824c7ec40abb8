"""Hostile names at every sink: a study whose dataset, network, title, authors and identities are payloads.

Issue 12 item 3: every string is data. The study below takes its dataset name, network name,
title, authors and 44 identity names from :data:`PAYLOADS`, builds the site and the paper, and
checks each sink: the HTML (``<title>``, navigation, alt text) in Chromium with a dialog trap,
the Markdown sources, the TeX source and the PDF text, every CSV (no live formula, no bidi
control) and the figures (a ``$`` in a name must not reach mathtext).
"""
from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import chromium_path

PAYLOADS = [
    "</title><script>alert('ds')</script>",
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(3)>",
    "<svg onload=alert(4)>",
    "\"><script>alert(5)</script>",
    "'><iframe src=javascript:alert(6)>",
    "](javascript:alert(1))",
    "[link](javascript:alert(2))",
    "![img](x onerror=alert(7))",
    "javascript:alert(8)",
    "$$\\def$$",
    "$\\mathrm{\\input{/etc/passwd}}$",
    "\\input{/etc/passwd}",
    "\\write18{touch /tmp/pwned}",
    "\\immediate\\write18{id}",
    "\\end{document}",
    "\\catcode`\\@=11",
    "%comment {",
    "_&%$#{}~^\\",
    "{{ 7*7 }}",
    "{% raw %}",
    "{# comment #}",
    "${7*7}",
    "../../etc",
    "..\\..\\windows",
    "/etc/passwd",
    "x" * 300,
    "Zoë Saldaña 中文 😀",
    "😀😀😀",
    "\u202eevil\u202c.exe",
    "abc\u200fdef\u2066ghi",
    "=HYPERLINK(\"http://x\",\"y\")",
    "@SUM(1+1)",
    "+1+1",
    "-2+3",
    "\tTAB",
    "| a | b |",
    "# heading\nnext line",
    "**bold** `code`",
    "&lt;already&gt; &amp;",
    "NA",
    "null",
    "None",
    "Aaron_Eckhart",
]
DATASET = "</title><script>alert('ds')</script>"
NETWORK = "<img src=x onerror=alert('net')>$x$"
TITLE = "<b>Study</b> & \\input{/etc/passwd} $5 {{ 7*7 }}"
#: Group values of the differentials (per identity, cycled) and of a per-image covariate.
GROUPS = ["<svg onload=alert('grp')>", "$\\input{/etc/passwd}$", "=HYPERLINK(\"http://x\",\"g\")", "\u202eevil\u202c"]
SESSIONS = ["| a | b |", "{{ 7*7 }}"]
AUTHORS = "\\write18{touch /tmp/pwned} & <script>alert('au')</script>"


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def write_study(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for k, name in enumerate(PAYLOADS):
        centre = rng.standard_normal(24)
        for j in range(6):
            vec = centre + 0.5 * rng.standard_normal(24)
            rows.append({"person_id": name, "image_file": f"{name}/<img {j}>.jpg", "group": GROUPS[k % len(GROUPS)],
                         "session": SESSIONS[j % 2], "embedding": "[" + ", ".join(f"{v:.6f}" for v in vec) + "]"})
    pd.DataFrame(rows).to_csv(folder / "hostile.csv", index=False)
    (folder / "study.toml").write_text(f'''
subsets = ["all"]

[study]
title = {_toml_str(TITLE)}
authors = {_toml_str(AUTHORS)}
output_dir = "out"
cache_dir = "cache"

[[datasets]]
name = {_toml_str(DATASET)}
kind = "csv-embeddings"
embeddings_file = "hostile.csv"
network = {_toml_str(NETWORK)}
group_columns = ["group", "session"]

[differentials]
min_identities = 5
bootstrap_reps = 20

[manifold]
umap = false
tsne = false
''', encoding="utf-8")
    return folder / "study.toml"


def test_payload_list_is_long_enough():
    assert len(set(PAYLOADS)) >= 40


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    from analysis.config import load_config
    from report.driver import run

    folder = tmp_path_factory.mktemp("hostile-names")
    pwned_before = Path("/tmp/pwned").exists()
    results, outputs, _ = run(load_config(write_study(folder)), progress=False)
    return folder / "out", results, outputs, pwned_before


@pytest.mark.slow
def test_every_payload_survives_as_an_identity(hostile):
    out, results, outputs, _ = hostile
    assert outputs.site_index is not None and outputs.site_index.is_file()
    assert outputs.pdf is not None and outputs.pdf.is_file()
    emb = results.inputs[0].embeddings[NETWORK]
    # NA-like strings are identities, not missing values; every payload is kept.
    assert len(set(emb.identities)) == len(PAYLOADS)
    # Hostile group values are groups like any other, on a page of their own.
    assert set(emb.group("group")) == set(GROUPS) and set(emb.group("session")) == set(SESSIONS)
    (diff,) = results.cell_results["differentials"].values()
    assert [c.names for c in diff.columns] == [tuple(sorted(GROUPS)), tuple(sorted(SESSIONS))]
    assert list((out / "docs").rglob("differentials.md"))


@pytest.mark.slow
def test_html_has_no_live_markup(hostile):
    out = hostile[0]
    pages = sorted((out / "site").rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        title = re.search(r"<title>(.*?)</title>", text, re.S).group(1)
        assert "<" not in title, (page, title)
        for bad in ("<script>alert", "<img src=x", "<svg onload", "<iframe", "<b>Study</b>"):
            assert bad not in text, (page, bad)
        # Live markup only: a name such as "'><iframe src=javascript:alert(6)>" is shown as text, so
        # the characters "src=javascript:" may appear escaped in a paragraph; no real attribute may.
        assert _javascript_urls(text) == [], page
        assert "\u202e" not in text


@pytest.mark.slow
def test_markdown_sources_are_escaped(hostile):
    out = hostile[0]
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((out / "docs").rglob("*.md")))
    assert "<script>" not in text and "</title>" not in text and "<img src=x" not in text
    assert "](javascript:" not in text
    assert "&#123;&#123; 7&#42;7 &#125;&#125;" in text  # names with template syntax are shown as text ...
    assert "$5 49" not in text and "&#36;5 49" not in text  # ... never evaluated


@pytest.mark.slow
def test_tex_and_pdf_print_names_as_text(hostile):
    out = hostile[0]
    # The main file, the parts it inputs (atlas/) and the values it prints (values.tex).
    tex = "\n".join(p.read_text(encoding="utf-8") for p in sorted((out / "paper").rglob("*.tex")))
    assert "\\input{atlas/results}" in tex and "\\atlas@set{" in tex
    for bad in ("\\input{/etc/passwd}", "\\write18{", "\\immediate", "\\catcode", "\\def$"):
        assert bad not in tex, bad
    assert tex.count("\\end{document}") == 1
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(out / "paper" / "report.pdf"), "-"], capture_output=True,
                              text=True).stdout
        assert "/etc/passwd" in text and "root:x:0" not in text


@pytest.mark.slow
def test_no_file_escapes_the_output_folder_and_nothing_ran(hostile):
    out, _, _, pwned_before = hostile
    assert Path("/tmp/pwned").exists() == pwned_before  # \write18 never ran
    for p in out.rglob("*"):
        assert p.resolve().is_relative_to(out.resolve()), p
        assert ".." not in p.name.split(".")[0:1] or p.name.startswith("."), p


def _csv_cells(out: Path):
    for f in sorted((out / "docs").rglob("*.csv")):
        for row in csv.reader(io.StringIO(f.read_text(encoding="utf-8"))):
            for cell in row:
                yield f, cell


@pytest.mark.slow
def test_csv_cells_are_not_formulas(hostile):
    out = hostile[0]
    seen_hyperlink = False
    for f, cell in _csv_cells(out):
        assert "\u202e" not in cell and "\u2066" not in cell and "\u200f" not in cell, (f, cell)
        if cell[:1] in ("=", "+", "@", "\t", "\r"):
            pytest.fail(f"{f.name}: live formula cell {cell!r}")
        if cell.startswith("-"):  # negative numbers are fine, "-2+3" is a formula
            float(cell)
        seen_hyperlink |= cell.startswith("'=HYPERLINK")
    assert seen_hyperlink  # the name is there, defused


@pytest.mark.slow
def test_figures_were_drawn_with_dollar_names(hostile):
    out, _, outputs, _ = hostile
    assert outputs.figures_drawn > 0
    assert len(list((out / "docs" / "figures").glob("*.png"))) == outputs.figures_drawn + outputs.figures_reused


@pytest.mark.slow
def test_no_dialog_in_a_browser(hostile):
    playwright = pytest.importorskip("playwright.sync_api")
    exe = chromium_path()
    if exe is None:
        pytest.skip("chromium not installed")
    dialogs = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu",
                                                                "--disable-background-networking"])
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for html_file in sorted((hostile[0] / "site").rglob("*.html")):
            page.goto(html_file.as_uri(), wait_until="load")
        browser.close()
    assert not dialogs, dialogs


def test_mathtext_never_parses_names():
    """A tick label ``$$\\def$$`` used to raise matplotlib's ParseException and kill the build."""
    import matplotlib.pyplot as plt

    from report import plotting

    with plotting.style():
        fig, ax = plotting.figure(3, 2)
        ax.set_xticks([0, 1], ["$$\\def$$", "$\\mathrm{\\input{/etc/passwd}}$"])
        ax.set_title("$x^2$ {{ 7*7 }}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        texts = [t.get_text() for t in ax.get_xticklabels()]
    plt.close(fig)
    assert texts[0] == "$$\\def$$" and buf.getbuffer().nbytes > 1000


@pytest.mark.parametrize("cell, expected", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("@SUM(1)", "'@SUM(1)"), ("+1", "'+1"), ("-2+3", "'-2+3"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("\u202eevil", "evil"), ("Aaron_Eckhart", "Aaron_Eckhart"), ("a=b", "a=b"),
])
def test_csv_cell(cell, expected):
    from report.escape import csv_cell

    assert csv_cell(cell) == expected


def test_csv_frame_keeps_numbers_and_defuses_text():
    from report.escape import csv_frame

    frame = pd.DataFrame({"identity": ["=1+1", "ok", "\u202ex"], "value": [-0.5, 1.0, 2.0]})
    text = csv_frame(frame).to_csv(index=False)
    assert "'=1+1" in text and "-0.5" in text and "\u202e" not in text


def test_log_axes_keep_readable_labels_with_mathtext_off(tmp_path):
    """parse_math=False must not print '$\\mathdefault{10^{0}}$' on log axes (plain '1', '10', '100')."""
    import matplotlib.pyplot as plt

    from report import plotting

    with plotting.style():
        fig, ax = plotting.figure(3, 2)
        ax.hist([1, 5, 50, 300], bins=[1, 10, 100, 1000])
        ax.set_xscale("log")
        plotting.plain_tick_labels(fig)
        fig.savefig(tmp_path / "f.png")
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    plt.close(fig)
    assert labels and not any("$" in t or "mathdefault" in t for t in labels), labels
    assert {"10", "100"} <= set(labels)


def test_console_text_neutralises_terminal_escapes():
    from report.cli import terminal_text

    assert terminal_text("a\x1b[2Jb\u202ec d") == "a\\u001b[2Jb\\u202ec d"


def _javascript_urls(html_text: str) -> list[tuple[str, str, str]]:
    """``(tag, attribute, value)`` of every real attribute whose URL runs JavaScript."""
    from html.parser import HTMLParser

    found = []

    class Attributes(HTMLParser):
        def handle_starttag(self, tag, attrs):
            for name, value in attrs:
                if value and re.sub(r"[\x00-\x20]", "", value).lower().startswith(("javascript:", "vbscript:")):
                    found.append((tag, name, value))

    Attributes(convert_charrefs=True).feed(html_text)
    return found


def test_javascript_url_finder_sees_attributes_not_text():
    assert _javascript_urls('<a href=" JaVaScRiPt:alert(1)">x</a>') == [("a", "href", " JaVaScRiPt:alert(1)")]
    assert _javascript_urls("<p>&lt;iframe src=javascript:alert(6)&gt;</p>") == []


@pytest.mark.slow
def test_value_keys_of_hostile_names_are_slugs_and_print_in_the_paper(hostile):
    """Issue 22: keys are built from the site's slugs, so a hostile dataset or network name gives a safe key."""
    from report.escape import slugify
    from report.values import KEY_PATTERN

    out = hostile[0]
    with open(out / "docs" / "tables" / "values.csv", encoding="utf-8", newline="") as fh:
        keys = [row["key"] for row in csv.DictReader(fh)]
    assert len(keys) > 50 and all(KEY_PATTERN.match(k) for k in keys), [k for k in keys if not KEY_PATTERN.match(k)][:3]
    prefix = f"{slugify(DATASET)}/{slugify(NETWORK)}/"  # "title-script-alert-ds-script-<hash>/img-src-x-...-<hash>/"
    assert any(k.startswith(prefix) and k.endswith("/similarity/eer") for k in keys), prefix
    log = (out / "paper" / "report.log").read_text(errors="replace")
    assert "Atlas value" not in log  # every key the paper prints is defined


_INJECTED = ("() => document.querySelectorAll('.atlas-explorer script, .atlas-explorer iframe, .atlas-explorer img,"
             " .atlas-explorer [onload], .atlas-explorer [onerror], .atlas-point a[href^=javascript]').length")


@pytest.mark.slow
def test_explorer_shows_hostile_names_as_text(hostile):
    """Click, hover, search, select and download in the explorer of the hostile study: names stay text."""
    playwright = pytest.importorskip("playwright.sync_api")
    exe = chromium_path()
    if exe is None:
        pytest.skip("chromium not installed")
    out, results = hostile[0], hostile[1]
    names = set(results.inputs[0].embeddings[NETWORK].identities.tolist())
    (explorer,) = sorted((out / "site").rglob("explorer.html"))
    dialogs, errors = [], []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: errors.append(str(e)) if "search" not in str(e) else None)
        page.goto(explorer.as_uri(), wait_until="load")
        page.wait_for_selector(".atlas-explorer[data-drawn]", timeout=60000)
        legend = set(page.locator(".legendtext").all_text_contents())
        assert legend and legend - {"identities"} and any("<" in t for t in legend), legend  # names drawn as typed
        box = page.evaluate("() => { const gd = document.querySelector('.atlas-plot'); const L = gd._fullLayout;"
                            " const r = gd.getBoundingClientRect(); const t = gd._fullData[gd._fullData.length - 1];"
                            " return {x: r.left + L._size.l + L.xaxis.l2p(t.x[0]), y: r.top + L._size.t + L.yaxis.l2p(t.y[0]),"
                            " left: r.left + L._size.l, top: r.top + L._size.t, w: L._size.w, h: L._size.h}; }")
        page.mouse.move(box["x"], box["y"])
        page.wait_for_selector(".atlas-tooltip:not([hidden])", timeout=10000)
        assert page.locator(".atlas-tooltip").text_content().split("\n")[0] in names
        page.mouse.click(box["x"], box["y"])
        page.wait_for_selector(".atlas-point .atlas-title", timeout=10000)
        assert page.locator(".atlas-point .atlas-title").text_content().endswith(">.jpg")
        assert page.locator(".atlas-point dd").first.text_content() in names
        page.locator(".atlas-controls input[type=search]").fill("<script>")
        page.wait_for_function("() => document.querySelector('.atlas-plot')._fullData.some(t => t.name.startsWith('search: '))")
        page.locator(".atlas-controls select").nth(2).select_option("select")
        page.mouse.move(box["left"] + 2, box["top"] + 2)
        page.mouse.down()
        page.mouse.move(box["left"] + box["w"] - 2, box["top"] + box["h"] - 2, steps=10)
        page.mouse.up()
        page.wait_for_selector(".atlas-selection .atlas-download", timeout=10000)
        with page.expect_download() as download:
            page.locator(".atlas-selection .atlas-download").click()
        rows = list(csv.reader(open(download.value.path(), encoding="utf-8")))
        assert page.evaluate(_INJECTED) == 0
        browser.close()
    assert not dialogs and not errors, (dialogs, errors)
    assert len(rows) > 100
    for row in rows[1:]:
        for cell in row:
            assert cell[:1] not in ("=", "+", "@", "\t", "\r"), cell
            assert "\u202e" not in cell
            if cell.startswith("-"):
                float(cell)
    assert any(cell.startswith("'=HYPERLINK") for row in rows for cell in row)
