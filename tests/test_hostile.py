"""A study whose identity names, item names and title are hostile builds a clean site and paper.

Names such as ``<script>``, ``](javascript:...)``, ``\\input{/etc/passwd}`` or ``\\write18`` must be
shown as text in the site and the paper, never interpreted, and must not break either build.
"""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from tests.conftest import chromium_path

pytestmark = pytest.mark.slow

HOSTILE_NAMES = [
    "<script>alert('x')</script>",
    "](javascript:alert(1))",
    "[link](javascript:alert(2))",
    "\\input{/etc/passwd}",
    "\\write18{touch /tmp/pwned}",
    "_&%$#{}~^\\",
    "<img src=x onerror=alert(3)>",
    "**bold** `code` $x$",
    "| a | b |",
    "# heading\nnext line",
    "Zoë Saldaña 中文 😀",
    "x" * 300,
    "\\end{document}",
    "%comment {",
    "{{ jinja }} {% raw %}",
    "&lt;already&gt; &amp;",
    "Aaron_Eckhart",
]
TITLE = "<b>Study</b> & \\input{/etc/passwd} $5"


def write_study(folder):
    rng = np.random.default_rng(0)
    rows = []
    for i, name in enumerate(HOSTILE_NAMES):
        centre = rng.standard_normal(32)
        for j in range(8):
            vec = centre + 0.5 * rng.standard_normal(32)
            rows.append({"person_id": name, "image_file": f"{name}/<img {j}>.jpg",
                         "embedding": "[" + ", ".join(f"{v:.6f}" for v in vec) + "]"})
    pd.DataFrame(rows).to_csv(folder / "hostile.csv", index=False)
    toml_title = TITLE.replace("\\", "\\\\").replace('"', '\\"')
    (folder / "study.toml").write_text(f'''
subsets = ["all"]

[study]
title = "{toml_title}"
output_dir = "out"
cache_dir = "cache"

[[datasets]]
name = "hostile"
kind = "csv-embeddings"
embeddings_file = "hostile.csv"
network = "net"

[manifold]
umap = false
''', encoding="utf-8")
    return folder / "study.toml"


@pytest.fixture(scope="module")
def hostile_build(tmp_path_factory):
    from analysis.config import load_config
    from report.driver import run

    folder = tmp_path_factory.mktemp("hostile")
    cfg = load_config(write_study(folder))
    results, outputs, build = run(cfg, progress=False)
    return folder / "out", results, outputs


def test_hostile_study_builds_site_and_paper(hostile_build):
    out, results, outputs = hostile_build
    assert outputs.site_index is not None and outputs.site_index.is_file()
    assert outputs.pdf is not None and outputs.pdf.is_file()
    names = set(results.inputs[0].embeddings["net"].identities)
    assert len(names) >= 15


def test_nothing_injects_into_the_site(hostile_build):
    out = hostile_build[0]
    html = "\n".join(p.read_text(encoding="utf-8") for p in (out / "site").rglob("*.html"))
    assert "<script>alert" not in html
    assert "<img src=x" not in html and "<b>Study</b>" not in html
    assert 'href="javascript:' not in html.lower()
    # The names are there, as text.
    assert "&lt;script&gt;alert" in html or "&#60;script&#62;alert" in html
    assert "Aaron_Eckhart" in html or "Aaron&#95;Eckhart" in html


def test_nothing_injects_into_the_paper(hostile_build):
    out = hostile_build[0]
    # The main file, the parts it inputs (atlas/) and the values it prints (values.tex).
    tex = "\n".join(p.read_text(encoding="utf-8") for p in sorted((out / "paper").rglob("*.tex")))
    assert "\\input{atlas/results}" in tex and "\\atlas@set{" in tex
    assert "\\input{/etc/passwd}" not in tex and "\\write18{" not in tex
    assert "\\end{document}" in tex and tex.count("\\end{document}") == 1
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(out / "paper" / "report.pdf"), "-"], capture_output=True,
                              text=True).stdout
        assert "/etc/passwd" in text  # printed as text in the title
        assert "root:x:0" not in text


def test_no_script_runs_in_a_browser(hostile_build):
    playwright = pytest.importorskip("playwright.sync_api")
    exe = chromium_path()
    if exe is None:
        pytest.skip("chromium not installed")
    site = hostile_build[0] / "site"
    pages = sorted(site.rglob("*.html"))
    dialogs = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu",
                                                                "--disable-background-networking"])
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for html_file in pages:
            page.goto(html_file.as_uri(), wait_until="load")
        browser.close()
    assert not dialogs, dialogs
