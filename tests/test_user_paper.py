"""The researcher's own words across rebuilds (issue 22): a discussion file and a site page of theirs, keyed numbers.

One small synthetic study (one module-scoped build, shared by every test) with ``[paper] discussion``,
``[paper] bibliography`` and ``[site] pages``, each user file using three keys. Checked: the PDF
text and the published page hold the user's sentences with the registry's numbers; a rebuild with
nothing changed gives byte-identical ``values.csv``, ``values.tex``, ``source.zip`` and pages; after
a change of seed the sentences are the same and the numbers are the new ones; an unknown key is one
``error:`` line (file, line, closest keys; exit 2) and publishes nothing; ``source.zip`` rebuilds
the same PDF in an empty folder; the study compiles in IEEEtran, llncs and acmart without an
overfull box over 10 pt or an undefined reference; a main file of the user's compiles instead of
the generated report.
"""
from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.conftest import write_small_config

pytestmark = pytest.mark.slow

EER, DPRIME, INPUTS = "mini/net-64/all/similarity/eer", "mini/net-64/all/similarity/d-prime", "mini/data/inputs"
TWONN = "mini/net-32/all/geometry/twonn"
DISCUSSION = rf"""% The researcher's discussion: their words, the study's numbers.
Our net has an EER of \atlasvalue{{{EER}}} \atlasinterval{{{EER}}}, a d-prime of \atlasvalue{{{DPRIME}}},
on \atlasvalue{{{INPUTS}}} rows (Figure~\ref{{fig:mini-net-64-all-similarity-roc}}); as in~\cite{{mine2024}}.
% \atlasvalue{{not/a/key}} in a comment is not a use.
"""
NOTE = f"""# Our findings

The EER is {{{{ value("{EER}") }}}} {{{{ interval("{EER}") }}}} on {{{{ value("{INPUTS}") }}}} rows,
and the TwoNN dimension is {{{{ value("{TWONN}") }}}}.

!!! note "Not a template"
    {{{{ config }}}} and {{% include "x" %}} stay as written; so does `{{{{ value("in/code") }}}}`.

$$ d' = \\frac{{|\\mu_g-\\mu_i|}}{{\\sigma}} $$

![a plot of ours](img/plot.png) Definitions: [Methods](../methods.md).
"""
BIB = "@article{mine2024, title={Our Earlier Paper}, author={Doe, Jane}, journal={J. Faces}, volume={1}, " \
      "pages={1--9}, year={2024}}\n"
EXTRA = """
[manifold]
enabled = false

[clustering]
hdbscan = false

[paper]
discussion = "discussion.tex"
bibliography = "refs.bib"
{paper}
[site]
pages = "notes"
"""


def _write_study(folder: Path, seed: int = 3, paper: str = "", discussion: str = DISCUSSION) -> Path:
    path = write_small_config(folder, site=True, paper=True, subsets='["all"]', n_identities=8,
                              extra=EXTRA.format(paper=paper))
    path.write_text(path.read_text(encoding="utf-8").replace("seed = 3", f"seed = {seed}", 1), encoding="utf-8")
    (folder / "discussion.tex").write_text(discussion, encoding="utf-8")
    (folder / "refs.bib").write_text(BIB, encoding="utf-8")
    (folder / "notes" / "img").mkdir(parents=True, exist_ok=True)
    (folder / "notes" / "findings.md").write_text(NOTE, encoding="utf-8")
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 40, 40)).save(folder / "notes" / "img" / "plot.png")
    return path


def _build(path: Path, **kw):
    from analysis.config import load_config
    from report.driver import run

    return run(load_config(path), progress=False, **kw)


def _values(out: Path) -> dict[str, dict]:
    with open(out / "docs" / "tables" / "values.csv", encoding="utf-8", newline="") as fh:
        rows = {r["key"]: r for r in csv.DictReader(fh)}
    for r in rows.values():  # text cells starting "-" carry the CSV's formula guard (report.escape.csv_cell)
        for col in ("shown as", "interval"):
            if r[col][:2] in ("'-", "'+", "'=", "'@"):
                r[col] = r[col][1:]
    return rows


def _pdf_text(pdf: Path) -> str:
    # -raw: the content stream's order, i.e. reading order, column by column in two-column classes.
    text = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(text.split())


def _snapshot(out: Path) -> dict[str, str]:
    files = [out / "docs" / "tables" / "values.csv", out / "paper" / "values.tex", out / "paper" / "source.zip",
             *sorted((out / "docs").rglob("*.md"))]
    return {str(f.relative_to(out)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """(folder, config path, first build's values, snapshot of the first build, snapshot of the rebuild)."""
    folder = tmp_path_factory.mktemp("user-paper")
    path = _write_study(folder)
    results, outputs, build = _build(path)
    out = folder / "out"
    first = _snapshot(out)
    pdf_first = _pdf_text(out / "paper" / "report.pdf")
    values = _values(out)
    _build(path)  # nothing changed
    return folder, path, values, first, _snapshot(out), pdf_first, results


def _sentences(v: dict[str, dict]) -> dict[str, str]:
    eer, dp, n = v[EER], v[DPRIME], v[INPUTS]
    return {"eer": f"Our net has an EER of {eer['shown as']} {eer['interval']}, a d-prime of {dp['shown as']}, "
                   f"on {n['shown as']} rows"}


def test_the_pdf_holds_the_users_sentence_with_the_registrys_numbers(study):
    folder, _, values, _, _, text, _ = study
    assert values[EER]["interval"].startswith("[") and values[EER]["shown as"].endswith("%")
    assert _sentences(values)["eer"] in text, text[text.find("Discussion"):][:600]
    assert "Jane Doe. Our earlier paper" in text  # the merged bibliography (plainnat lower-cases titles)
    assert "??" not in text and "not/a/key" not in text
    log = (folder / "out" / "paper" / "report.log").read_text(errors="replace")
    assert "Atlas value" not in log and "There were undefined references" not in log
    # The generated heading stays; the user's file is the build's copy, the original untouched.
    assert (folder / "out" / "paper" / "user" / "discussion.tex").read_text(encoding="utf-8") == DISCUSSION
    assert (folder / "discussion.tex").read_text(encoding="utf-8") == DISCUSSION


def test_the_site_page_holds_the_users_sentences_and_files(study):
    folder, _, values, _, _, _, _ = study
    from report.escape import md

    out = folder / "out"
    page = (out / "docs" / "notes" / "findings.md").read_text(encoding="utf-8")
    v = values
    assert (f"The EER is {md(v[EER]['shown as'])} {md(v[EER]['interval'])} on {md(v[INPUTS]['shown as'])} rows,\n"
            f"and the TwoNN dimension is {md(v[TWONN]['shown as'])}.") in page
    # Not a template: Jinja syntax and placeholders in code stay as written.
    assert "{{ config }} and {% include \"x\" %}" in page and '`{{ value("in/code") }}`' in page
    assert (out / "docs" / "notes" / "img" / "plot.png").read_bytes() == (folder / "notes" / "img" / "plot.png").read_bytes()
    html = (out / "site" / "notes" / "findings.html").read_text(encoding="utf-8")
    assert "Our findings" in html and "{{ config }}" in html and "mathjax" in html.lower()
    assert re.search(r"The EER is \d+\.\d+% \[\d+\.\d+%, \d+\.\d+%\] on \d+ rows", html), html[:2000]
    nav = (out / "mkdocs.yml").read_text(encoding="utf-8")
    assert nav.index("- Overview: index.md") < nav.index("- Our findings: notes/findings.md") < nav.index("- Data:")


def test_every_value_is_shown_as_written_on_its_page(study):
    """The registry and the site cannot disagree: each value's text (and interval) is on the page it names."""
    from report.escape import md

    folder, _, values, _, _, _, _ = study
    docs = folder / "out" / "docs"
    assert len(values) > 80
    for key, v in values.items():
        assert re.fullmatch(r"[a-z0-9-]+(/[a-z0-9-]+){1,4}", key), key
        page = (docs / v["page"]).read_text(encoding="utf-8")
        for text in (v["shown as"], v["interval"]):
            assert not text or md(text) in page, (key, text, v["page"])
    labels = (docs / "tables" / "labels.csv").read_text(encoding="utf-8")
    assert "fig:mini-net-64-all-similarity-roc" in labels and "tab:paper-verification-intervals" in labels


def test_a_rebuild_gives_the_same_bytes(study):
    _, _, _, first, again, _, _ = study
    assert first == again


def test_the_source_zip_rebuilds_the_same_pdf_in_an_empty_folder(study, tmp_path):
    folder = study[0]
    paper = folder / "out" / "paper"
    with zipfile.ZipFile(paper / "source.zip") as z:
        names = z.namelist()
        z.extractall(tmp_path)
    assert {"report.tex", "values.tex", "references.bib", "atlas/results.tex", "user/discussion.tex"} <= set(names)
    assert any(n.startswith("figures/") for n in names) and not any(n.endswith((".aux", ".log", ".bbl")) for n in names)
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1")
    subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "report.tex"], cwd=tmp_path,
                   env=env, capture_output=True, check=True)
    assert _pdf_text(tmp_path / "report.pdf") == _pdf_text(paper / "report.pdf")
    assert (tmp_path / "report.pdf").read_bytes() == (paper / "report.pdf").read_bytes()


def test_unknown_keys_stop_the_build_with_one_error_line_and_publish_nothing(study, tmp_path, capsys):
    from report.cli import main

    folder, path, _, first, _, _, _ = study
    out = folder / "out"
    for name, bad, line in (("discussion.tex", DISCUSSION.replace(f"{{{DPRIME}}}", "{mini/net-64/all/similarity/d-prim}"), 2),
                            ("notes/findings.md", NOTE.replace(f'value("{TWONN}")', 'value("mini/net-32/all/geometry/twon")'), 4)):
        original = (folder / name).read_text(encoding="utf-8")
        (folder / name).write_text(bad, encoding="utf-8")
        try:
            rc = main(["build", "--config", str(path), "--quiet"])
        finally:
            (folder / name).write_text(original, encoding="utf-8")
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1, err
        assert err[0].startswith(f"error: {folder / name}:{line}: unknown value key"), err[0]
        closest = err[0].split("closest: ")[1]
        assert (DPRIME if name.endswith(".tex") else TWONN) in closest and closest.count(",") == 2, err[0]
        assert _snapshot(out) == first  # nothing was published


def _variant(study, name: str, paper_line: str) -> Path:
    """A config beside the study's (same data, cache and user files) writing into out-<name>, with a [paper] line."""
    folder, path = study[0], study[1]
    text = path.read_text(encoding="utf-8").replace('output_dir = "out"', f'output_dir = "out-{name}"', 1)
    variant = folder / f"{name}.toml"
    variant.write_text(text.replace("[paper]\n", f"[paper]\n{paper_line}\n", 1), encoding="utf-8")
    return variant


@pytest.mark.parametrize("cls", ["IEEEtran", "llncs", "acmart"])
def test_the_study_compiles_in_each_venue_class(cls, study):
    folder = study[0]
    _build(_variant(study, cls, f'class = "{cls}"'), build_site=False)
    paper = folder / f"out-{cls}" / "paper"
    log = (paper / "report.log").read_text(errors="replace")
    assert f"Document Class: {cls}" in log
    overfull = [float(m) for m in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert all(w <= 10 for w in overfull), f"{cls}: overfull boxes {sorted(overfull)[-3:]}"
    assert not re.search(r"(Reference|Citation) `[^']+' .*undefined", log) and "There were undefined" not in log
    text = _pdf_text(paper / "report.pdf")
    assert _sentences(study[2])["eer"] in text and "??" not in text
    tex = "\n".join(p.read_text(encoding="utf-8") for p in sorted((paper / "atlas").rglob("*.tex")))
    if cls in ("IEEEtran", "acmart"):  # two columns: figures (drawn for the text width) span both
        assert "\\begin{figure*}" in tex and "\\begin{figure}" not in tex and "\\begin{table*}" in tex


def test_a_main_file_of_the_users_compiles_instead_of_the_report(study):
    folder, values = study[0], study[2]
    (folder / "sections").mkdir(exist_ok=True)
    (folder / "sections" / "extra.tex").write_text(rf"The TwoNN dimension is \atlasvalue{{{TWONN}}}.", encoding="utf-8")
    (folder / "my-paper.tex").write_text("\n".join([
        r"\documentclass[11pt]{article}", r"\usepackage[T1]{fontenc}", r"\usepackage[numbers]{natbib}",
        r"\input{atlas/packages}", r"\begin{document}", r"\section{My own introduction}",
        rf"We measured an EER of \atlasvalue{{{EER}}} (Table~\ref{{tab:paper-verification-intervals}}).",
        r"\input{sections/extra}", r"\input{atlas/results}", r"\input{atlas/discussion}", r"\bibliographystyle{plainnat}",
        r"\bibliography{references}", r"\end{document}", ""]), encoding="utf-8")
    variant = _variant(study, "main", 'main = "my-paper.tex"')
    before = sorted(p.name for p in folder.iterdir())
    _build(variant, build_site=False)
    paper = folder / "out-main" / "paper"
    text = _pdf_text(paper / "report.pdf")
    v = values
    assert f"We measured an EER of {v[EER]['shown as']}" in text and f"The TwoNN dimension is {v[TWONN]['shown as']}" in text
    assert "My own introduction" in text and _sentences(v)["eer"] in text  # the user's discussion, through atlas/
    assert (paper / "report.tex").read_text(encoding="utf-8") == (folder / "my-paper.tex").read_text(encoding="utf-8")
    with zipfile.ZipFile(paper / "source.zip") as z:
        assert "sections/extra.tex" in z.namelist()  # found in the user's folder, packed at its path
    # The build wrote nothing beside the user's files (only its own output folder appeared).
    assert sorted(p.name for p in folder.iterdir()) == sorted({*before, "out-main"})
    assert sorted(p.name for p in (folder / "sections").iterdir()) == ["extra.tex"]


def test_after_a_change_of_data_the_words_stay_and_the_numbers_follow(study):
    """The same folder rebuilt with another seed (last: it changes the shared study's outputs)."""
    from report.escape import md

    folder, path, old, *_ = study
    path.write_text(path.read_text(encoding="utf-8").replace("seed = 3", "seed = 5", 1), encoding="utf-8")
    try:
        _build(path, build_site=False)
    finally:
        path.write_text(path.read_text(encoding="utf-8").replace("seed = 5", "seed = 3", 1), encoding="utf-8")
    new = _values(folder / "out")
    assert (new[EER]["shown as"], new[DPRIME]["shown as"]) != (old[EER]["shown as"], old[DPRIME]["shown as"])
    text = _pdf_text(folder / "out" / "paper" / "report.pdf")
    assert _sentences(new)["eer"] in text and _sentences(old)["eer"] not in text
    page = (folder / "out" / "docs" / "notes" / "findings.md").read_text(encoding="utf-8")
    assert f"The EER is {md(new[EER]['shown as'])} {md(new[EER]['interval'])} on {md(new[INPUTS]['shown as'])} rows" in page
