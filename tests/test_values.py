"""The value registry, values.tex, the researcher's files and the venue classes, without a build.

Keys from hostile names, the LaTeX macros compiled (known key, unknown key, escaped text), not
estimable values, the Markdown placeholders (and what is never evaluated), links that leave the
pages folder, oversized and colliding pages, the bibliography merge, the LaTeX scan, the
``[paper]`` / ``[site]`` config tables and the class layouts.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from analysis.config import ConfigError, parse_config
from analysis.types import Cell
from report.values import KEY_PATTERN, Value, cell_key, closest, dataset_key, index, network_key, template_spans, values_tex
from tests.test_hostile_names import PAYLOADS


# --------------------------------------------------------------------------- keys
def test_hostile_names_give_valid_distinct_keys():
    keys = set()
    for name in PAYLOADS:
        for key in (cell_key(Cell(name, "net", "all"), "similarity", "eer"), cell_key(Cell("d", name, "all"), "geometry",
                    "twonn"), network_key(name, name, "embedded"), dataset_key(name, "data", "inputs")):
            assert KEY_PATTERN.match(key), (name, key)
            keys.add(key)
    assert len(keys) == 4 * len(PAYLOADS)  # distinct names never share a key
    assert cell_key(Cell("demo", "arcface-like-512", "all"), "similarity", "eer") == "demo/arcface-like-512/all/similarity/eer"
    assert cell_key(Cell("My Data", "n", "min-10"), "audit", "merged-pairs").startswith("my-data-")


def test_closest_keys_are_the_three_nearest():
    keys = ["demo/a/all/similarity/eer", "demo/b/all/similarity/eer", "demo/a/all/similarity/auc", "demo/data/inputs"]
    assert closest("demo/a/all/similarity/eeer", keys)[:2] == ["demo/a/all/similarity/eer", "demo/b/all/similarity/eer"]
    assert len(closest("zzz", keys)) == 3


def test_sentence_templates_name_only_reported_values():
    from report.model import Val

    spans = template_spans("EER {eer}, d' {d-prime}.", lambda n: f"k/{n}", {"eer", "d-prime"})
    assert spans == ["EER ", Val("k/eer"), ", d' ", Val("k/d-prime"), "."]
    with pytest.raises(ValueError, match="d-prime"):
        template_spans("{d-prime}", lambda n: n, {"eer"})


# --------------------------------------------------------------------------- values.tex
def _compile(tmp_path: Path, body: str, values) -> tuple[str, str]:
    (tmp_path / "values.tex").write_text(values_tex(values), encoding="utf-8")
    (tmp_path / "t.tex").write_text("\\documentclass{article}\\usepackage[T1]{fontenc}\\usepackage[utf8]{inputenc}"
                                    "\\input{values}\\begin{document}" + body + "\\end{document}\n", encoding="utf-8")
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                   capture_output=True, check=True)
    text = subprocess.run(["pdftotext", "-raw", str(tmp_path / "t.pdf"), "-"], capture_output=True, text=True).stdout
    return " ".join(text.split()), (tmp_path / "t.log").read_text(errors="replace")


@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftotext") is None, reason="TeX Live")
def test_values_tex_prints_the_site_text_and_marks_unknown_keys(tmp_path):
    values = [Value("d/n/all/similarity/eer", 0.0123, "1.23%", 0.01, 0.015, "[1.00%, 1.50%]"),
              Value("d/n/all/similarity/tar-at-far-1e-4", None, "not estimable"),
              Value("d/n/all/clustering/best-method", "a_b#c$", "a_b#c$ {x} \\y")]
    text, log = _compile(tmp_path, r"EER \atlasvalue{d/n/all/similarity/eer} \atlasinterval{d/n/all/similarity/eer}; "
                                   r"TAR \atlasvalue{d/n/all/similarity/tar-at-far-1e-4}; "
                                   r"[\atlasinterval{d/n/all/similarity/tar-at-far-1e-4}]; "
                                   r"M \atlasvalue{d/n/all/clustering/best-method}; "
                                   r"X \atlasvalue{d/n/all/similarity/eeer}.", values)
    assert "EER 1.23% [1.00%, 1.50%]; TAR not estimable; []; M a_b#c$ {x} \\y; X ??." in text, text
    assert "Atlas value `d/n/all/similarity/eeer' undefined" in log  # like an undefined \ref


def test_values_tex_is_sorted_and_deterministic():
    a = [Value("b/data/x", 1, "1"), Value("a/data/y", 2, "2")]
    assert values_tex(a) == values_tex(list(reversed(a)))
    assert values_tex(a).index("a/data/y") < values_tex(a).index("b/data/x")


def test_a_tar_resting_on_too_few_pairs_is_not_estimable_everywhere():
    from analysis.statistics.verification.similarity import SimilarityParams, analyze_similarity
    from analysis.types import EmbeddingSet
    from report.value_sources import NOT_ESTIMABLE, similarity_values

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16))
    x = np.repeat(centres, 8, axis=0) + rng.normal(size=(160, 16))
    emb = EmbeddingSet("d", "n", x.astype(np.float32), np.repeat([f"id{i:02d}" for i in range(20)], 8),
                       np.array([f"i{k}" for k in range(160)]))
    r = analyze_similarity(emb, SimilarityParams(n_bins=1000, bootstrap_reps=20, far_levels=(1e-1, 1e-3)), 0)
    entries = {e.name: e for e in similarity_values(r)}
    assert entries["tar-at-far-1e-3"].text == NOT_ESTIMABLE and entries["tar-at-far-1e-3"].value is None
    assert entries["tar-at-far-1e-3"].interval_text == "" and "impostor pairs" in entries["tar-at-far-1e-3"].description
    assert entries["tar-at-far-1e-1"].interval_text.startswith("[") and entries["eer"].text.endswith("%")
    # The similarity page says so with the same words.
    from report.contexts import CellContext
    from report.pages.similarity import page
    from report.site import MarkdownRenderer

    md_text = MarkdownRenderer().page(page(CellContext(Cell("d", "n", "all"), "every image", False, 16), r))
    assert NOT_ESTIMABLE in md_text and entries["eer"].text in md_text


# --------------------------------------------------------------------------- site pages
def _values():
    return index([Value("d/n/all/similarity/eer", 0.0123, "1.23%", 0.01, 0.015, "[1.00%, 1.50%]", "d/n/all/similarity.md"),
                  Value("d/data/inputs", 70, "70", page="data/d.md")])


def test_placeholders_are_filled_and_nothing_else_is_evaluated():
    from report.user_pages import fill_placeholders

    text = "\n".join([
        '# EER {{ value("d/n/all/similarity/eer") }}',
        "EER {{value('d/n/all/similarity/eer')}} {{ interval(\"d/n/all/similarity/eer\") }} on {{ value(\"d/data/inputs\") }}.",
        "{{ config }} {% include '/etc/passwd' %} {{ 7*7 }} {# c #} {{ ''.__class__ }}",
        '`{{ value("not/a/key") }}` stays as code', "```", '{{ value("also/not/a/key") }}', "```", "$$ x^2 $$"])
    out = fill_placeholders(text, _values(), "p.md").split("\n")
    assert out[0] == "# EER 1.23%"
    assert out[1] == "EER 1.23% &#91;1.00%, 1.50%&#93; on 70."
    assert out[2] == "{{ config }} {% include '/etc/passwd' %} {{ 7*7 }} {# c #} {{ ''.__class__ }}"
    assert out[3:] == text.split("\n")[3:]


def test_unknown_and_malformed_placeholders_are_errors_with_line_and_closest_keys():
    from report.user_latex import UnknownValueKey
    from report.user_pages import fill_placeholders

    with pytest.raises(UnknownValueKey) as e:
        fill_placeholders('a\nb {{ value("d/n/all/similarity/er") }} {{ value("x/y") }}', _values(), "notes/p.md")
    msg = str(e.value)
    assert msg.startswith("notes/p.md:2: unknown value key 'd/n/all/similarity/er' (1 more unknown key in this file)")
    assert "closest: d/n/all/similarity/eer, d/data/inputs" in msg
    with pytest.raises(ConfigError, match=r"p.md:1: malformed placeholder"):
        fill_placeholders("{{ value(d/data/inputs) }}", _values(), "p.md")


def _notes(tmp_path: Path, text: str = "# Notes\n\nEER {{ value(\"d/n/all/similarity/eer\") }}\n") -> Path:
    folder = tmp_path / "notes"
    folder.mkdir(exist_ok=True)
    (folder / "a.md").write_text(text, encoding="utf-8")
    return folder


def test_pages_publish_their_images_and_refuse_links_out_of_the_folder(tmp_path):
    from report.user_pages import user_pages

    folder = _notes(tmp_path, "# A\n![p](img/p.png) [site](https://x.org) [m](../methods.md) [#](#top)\n$x$ is math\n")
    (folder / "img").mkdir()
    (folder / "img" / "p.png").write_bytes(b"\x89PNG")
    (folder / "b.md").write_text("no heading", encoding="utf-8")
    (folder / ".hidden.md").write_text("x", encoding="utf-8")
    pages, warnings = user_pages(folder, _values(), ["index.md", "methods.md"])
    assert [(p.file, p.title) for p in pages] == [("notes/a.md", "A"), ("notes/b.md", "b")] and not warnings
    assert pages[0].assets == (("notes/img/p.png", (folder / "img" / "p.png").resolve()),)
    assert "mathjax" in pages[0].text and "mathjax" not in pages[1].text
    (tmp_path / "secret.txt").write_text("secret", encoding="utf-8")
    (folder / "img" / "link.png").symlink_to(tmp_path / "secret.txt")
    for bad, match in (("![x](../secret.txt)", "leaves the pages folder"), ("![x](/etc/passwd)", "absolute"),
                       ("<img src=\"img/../../secret.txt\">", "leaves the pages folder"),
                       ("![x](img/link.png)", "leaves the pages folder"), ("![x](img/missing.png)", "names no file"),
                       ("![x](..\\..\\secret.txt)", "Windows")):
        (folder / "a.md").write_text(f"# A\n\n{bad}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=match):
            user_pages(folder, _values(), [])


def test_pages_that_are_huge_collide_or_are_left_out_by_the_nav_file(tmp_path):
    from report import user_pages as up

    folder = _notes(tmp_path)
    with pytest.raises(ConfigError, match="is a generated page's"):
        up.user_pages(folder, _values(), ["notes/a.md"])
    (folder / "z.md").write_text("# Z", encoding="utf-8")
    (folder / ".pages").write_text("nav:\n  - z.md\n", encoding="utf-8")
    pages, warnings = up.user_pages(folder, _values(), [])
    assert [p.file for p in pages] == ["notes/z.md"] and "leaves out a.md" in warnings[0]
    (folder / ".pages").write_text("nav: [missing.md]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'missing.md' is not a Markdown file"):
        up.user_pages(folder, _values(), [])
    (folder / ".pages").write_text("nav: {a: 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="needs a list of file names"):
        up.user_pages(folder, _values(), [])
    (folder / ".pages").unlink()
    (folder / "big.md").write_bytes(b"x" * (up.MAX_PAGE_BYTES + 1))
    with pytest.raises(ConfigError, match="more than the"):
        up.user_pages(folder, _values(), [])
    (folder / "big.md").write_bytes(b"\xff\xfe binary")
    with pytest.raises(ConfigError, match="not UTF-8"):
        up.user_pages(folder, _values(), [])


# --------------------------------------------------------------------------- the researcher's LaTeX
def test_latex_scan_ignores_comments_and_follows_own_inputs(tmp_path):
    from report.user_latex import UnknownValueKey, has_heading, scan_tree

    known = {"d/data/inputs"}
    (tmp_path / "parts").mkdir()
    (tmp_path / "main.tex").write_text("% \\atlasvalue{x/y}\n50\\% of \\atlasvalue{d/data/inputs}\n\\input{parts/one}\n",
                                       encoding="utf-8")
    (tmp_path / "parts" / "one.tex").write_text("ok\n\\atlasinterval{ d/data/input }\n", encoding="utf-8")
    with pytest.raises(UnknownValueKey, match=r"parts/one.tex:2: unknown value key ' d/data/input '; closest: d/data/inputs"):
        scan_tree(tmp_path / "main.tex", known)
    # TeX keeps the spaces of "{ key }" in the name it looks up (the PDF said ??): refused like a typo.
    (tmp_path / "parts" / "one.tex").write_text("ok\n\\atlasvalue{ d/data/inputs }\n", encoding="utf-8")
    with pytest.raises(UnknownValueKey, match=r"parts/one.tex:2: unknown value key ' d/data/inputs '"):
        scan_tree(tmp_path / "main.tex", known)
    (tmp_path / "parts" / "one.tex").write_text("ok\n", encoding="utf-8")
    scan_tree(tmp_path / "main.tex", known)
    assert has_heading("% mine\n\n\\section{Discussion and outlook}\n") and not has_heading("Text \\section{x}")


def test_bibliography_merge_keeps_the_users_entry_on_a_shared_key():
    from report.references import bibtex
    from report.user_latex import bib_keys, merge_bibliography

    mine = ('@string{jf = "J. Faces"}\n@article{deng2019arcface, title={ArcFace (our copy)}, year={2019}}\n'
            "@misc(mine2024, title={A (b) c}, year={2024})\n")
    merged, overridden = merge_bibliography(bibtex(), mine)
    assert overridden == ["deng2019arcface"]
    keys = bib_keys(merged)
    assert keys.count("deng2019arcface") == 1 and "mine2024" in keys and "facco2017twonn" in keys
    assert "ArcFace (our copy)" in merged and '@string{jf = "J. Faces"}' in merged
    assert len(keys) == len(bib_keys(bibtex())) + 1


# --------------------------------------------------------------------------- config
def _parse(tmp_path: Path, **tables):
    raw = {"datasets": [{"name": "d", "kind": "synthetic"}], "networks": [{"name": "n", "kind": "synthetic"}],
           "study": {"output_dir": "out"}, **tables}
    return parse_config(raw, source=tmp_path / "s.toml")


def test_paper_and_site_tables_are_validated_at_load(tmp_path):
    (tmp_path / "disc.tex").write_text("x", encoding="utf-8")
    (tmp_path / "notes").mkdir()
    cfg = _parse(tmp_path, paper={"class": "llncs", "discussion": "disc.tex"}, site={"pages": "notes"})
    assert cfg.paper.document_class == "llncs" and cfg.paper.discussion == tmp_path / "disc.tex"
    assert cfg.site.pages == tmp_path / "notes" and _parse(tmp_path).paper.document_class == "article"
    (tmp_path / "out" / "paper").mkdir(parents=True)
    (tmp_path / "out" / "paper" / "mine.tex").write_text("x", encoding="utf-8")
    (tmp_path / "huge.tex").write_bytes(b"%" * (4 * 2**20 + 1))
    for tables, match in (
            ({"paper": {"class": "revtex"}}, r"\[paper\] class must be one of 'article', 'IEEEtran', 'llncs', 'acmart'"),
            ({"paper": {"discussion": "nope.tex"}}, "does not exist"),
            ({"paper": {"discussion": "notes"}}, "is not a file"),
            ({"paper": {"main": "out/paper/mine.tex"}}, "lies inside .*out/paper, which every build replaces"),
            ({"paper": {"abstract": "huge.tex"}}, "more than the 4,194,304"),
            ({"paper": {"results": "disc.tex"}}, "unknown key 'results' in \\[paper\\]"),
            ({"paper": {"discussion": 3}}, "must be a path string"),
            ({"site": {"pages": "disc.tex"}}, "is not a folder"),
            ({"site": {"pages": "."}}, "contains the output folder"),
            ({"site": {"page": "notes"}}, "did you mean 'pages'")):
        with pytest.raises(ConfigError, match=match):
            _parse(tmp_path, **tables)


def test_the_folders_the_config_protects_are_the_ones_the_build_replaces():
    from analysis.publishing import GENERATED_FOLDERS
    from report.ownership import MANAGED

    assert set(GENERATED_FOLDERS) == {m for m in MANAGED if "." not in m}


# --------------------------------------------------------------------------- classes
def test_tables_and_formulas_fit_each_class():
    import pandas as pd

    from report.latex import math_tex
    from report.latex_tables import layout
    from report.model import Table
    from report.paper_classes import ACMART, ARTICLE, IEEETRAN, LLNCS

    narrow = Table("n", "c", pd.DataFrame({"network": ["a"], "EER": [0.01]}))
    medium = Table("m", "c", pd.DataFrame({f"metric {i}": [0.123456] for i in range(8)}))
    wide = Table("w", "c", pd.DataFrame({f"column_{i}": [0.123456] for i in range(30)}))
    assert layout(narrow, IEEETRAN) == layout(narrow, ACMART) == layout(narrow) and not layout(narrow, IEEETRAN).wide
    assert layout(medium, IEEETRAN).wide and layout(medium, IEEETRAN).place == "body" and not layout(medium).wide
    assert layout(medium, LLNCS).size == "footnotesize" or layout(medium, LLNCS).place == "appendix"
    assert all(layout(wide, c).place == "appendix" for c in (ARTICLE, IEEETRAN, LLNCS, ACMART))
    formula = r"a = 1,\qquad b = 2,\quad c = 3."
    assert math_tex(formula).startswith("\\[") and math_tex(formula, ARTICLE).count("\\\\") == 0
    assert re.fullmatch(r"\\begin\{gather\*\}\na = 1, \\\\\nb = 2, \\\\\nc = 3.\n\\end\{gather\*\}\n",
                        math_tex(formula, IEEETRAN))
    assert math_tex(r"x \quadrat", IEEETRAN).startswith("\\[")  # a command that only starts like \quad


def test_a_page_span_prints_the_registry_text_on_the_site_and_the_key_in_latex():
    from report.latex import inline
    from report.model import P, Page, Val
    from report.site import MarkdownRenderer

    page = Page(("x",), "X", (P("EER ", Val("d/n/all/similarity/eer"), " ", Val("d/n/all/similarity/eer", True)),))
    assert "EER 1.23% &#91;1.00%, 1.50%&#93;" in MarkdownRenderer(values=_values()).page(page)
    with pytest.raises(KeyError, match="not in the registry"):
        MarkdownRenderer(values={}).page(page)
    assert inline(page.intro[0].parts) == r"EER \atlasvalue{d/n/all/similarity/eer} \atlasinterval{d/n/all/similarity/eer}"
