"""The paper of a small study: compiles cleanly, refers to every float, carries metadata, has a visible page 1."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from report.latex_tables import LANDSCAPE_CHARS, header_words, layout

pytestmark = pytest.mark.slow

EXTRA = """
[manifold]
tsne = false
umap = false

[clustering]
hdbscan = false
"""


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    from analysis.config import load_config
    from report.driver import run
    from tests.conftest import write_small_config

    folder = tmp_path_factory.mktemp("paper")
    path = write_small_config(folder, paper=True, subsets='["all"]', n_identities=10, extra=EXTRA)
    text = path.read_text(encoding="utf-8").replace(
        "[study]", '[study]\nauthors = ["Ada Lovelace", "Alan Turing"]\naffiliation = "Analytical Engines Ltd"\n'
                   'keywords = ["face recognition", "embeddings"]', 1)
    path.write_text(text, encoding="utf-8")
    run(load_config(path), progress=False)
    return folder / "out" / "paper"


def test_latex_log_has_no_undefined_reference_and_no_overfull_box_over_10pt(paper):
    log = (paper / "report.log").read_text(errors="replace")
    assert not re.search(r"(Reference|Citation) `[^']+' .*undefined", log), "undefined reference or citation"
    assert "There were undefined references" not in log
    overfull = [float(m) for m in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert all(w <= 10 for w in overfull), f"overfull boxes: {sorted(overfull)[-5:]}"


def test_every_figure_and_table_label_is_referenced_in_the_text(paper):
    # The main file and the parts it inputs (each section, figure and table has its own file under atlas/).
    tex = "\n".join(p.read_text(encoding="utf-8") for p in [paper / "report.tex", *sorted((paper / "atlas").rglob("*.tex"))])
    labels = set(re.findall(r"\\label\{((?:fig|tab):[^}]+)\}", tex))
    refs = set(re.findall(r"\\ref\{([^}]+)\}", tex))
    assert len(labels) >= 10
    assert labels <= refs, f"never referenced: {sorted(labels - refs)[:5]}"
    assert "\\resizebox" not in tex
    # The paper has the sections a reader expects, and no column identifier as a header.
    for title in ("Introduction", "Data", "Methods", "Results", "Discussion", "Conclusion"):
        assert f"\\section{{{title}}}" in tex
    assert "images\\_per\\_identity" not in tex


def test_pdf_metadata_comes_from_the_config(paper):
    from pypdf import PdfReader

    meta = PdfReader(paper / "report.pdf").metadata
    assert meta.title == "Mini study"
    assert meta.author == "Ada Lovelace, Alan Turing"
    assert "net-32" in meta.subject and "mini" in meta.subject
    assert meta.get("/Keywords") == "face recognition, embeddings"


def test_page_one_is_not_blank(paper, tmp_path):
    from PIL import Image

    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(paper / "report.pdf"), str(tmp_path / "p")],
                   check=True)
    (png,) = tmp_path.glob("p*.png")
    pixels = np.asarray(Image.open(png).convert("L"))
    assert (pixels < 128).mean() > 0.01  # text covers more than 1% of the page


def test_abstract_states_data_and_findings_with_numbers(paper):
    tex = (paper / "report.tex").read_text(encoding="utf-8")
    assert "\\begin{abstract}\n\\input{atlas/abstract}\n\\end{abstract}" in tex
    abstract = (paper / "atlas" / "abstract.tex").read_text(encoding="utf-8")
    assert "mini (" in abstract and "identities" in abstract
    # Its numbers are keys of the registry (report.values): an EER with its interval ...
    assert re.search(r"Equal error rates range from \\atlasvalue\{mini/net-\d+/all/similarity/eer\} "
                     r"\\atlasinterval\{mini/net-\d+/all/similarity/eer\}", abstract), abstract
    # ... printed from values.tex as the site shows it: "6.03% [3.12%, 12.13%]".
    text = subprocess.run(["pdftotext", "-l", "1", str(paper / "report.pdf"), "-"], capture_output=True, text=True).stdout
    assert re.search(r"Equal error rates range from \d+\.\d+% \[\d+\.\d+%, \d+\.\d+%\]", " ".join(text.split())), text


def test_wide_tables_go_to_the_appendix_not_below_footnotesize():
    import pandas as pd

    from report.model import Table

    narrow = Table("n", "c", pd.DataFrame({"a": [1.0], "b": ["x"]}))
    wide = Table("w", "c", pd.DataFrame({f"column_{i}": [0.123456] for i in range(30)}))
    assert layout(narrow).place == "body" and layout(narrow).size == "small"
    assert layout(wide).place == "appendix" and layout(wide).size == "footnotesize"
    assert header_words("images_per_identity_min") == "images per identity min"
    assert LANDSCAPE_CHARS > 100
