"""Hostile identity names never break or inject into Markdown/HTML or LaTeX output."""
from __future__ import annotations

import shutil
import subprocess

import markdown
import pytest

from report.escape import html, latex, md, slugify

HOSTILE = [
    "<script>alert(1)</script>",
    "](javascript:alert(1))",
    "[click](javascript:alert(1))",
    "\\input{/etc/passwd}",
    "\\write18{rm -rf /}",
    "_&%$#{}~^\\",
    "$x^2$ and \\(y\\)",
    "**bold** _it_ `code`",
    "| pipe | table |",
    "<img src=x onerror=alert(1)>",
    "line\nbreak\n# heading",
    "1. list",
    "- item",
    ":smile: ==mark==",
    "Zoë Saldaña 中文 😀",
    "",
    "x" * 500,
    "\\end{document}",
    "%comment",
    "&amp; &lt;",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_markdown_escape_renders_the_text_and_nothing_else(name):
    out = markdown.markdown(f"Name: {md(name)}", extensions=["tables", "attr_list", "md_in_html"])
    assert "<script" not in out and "href" not in out
    assert "<a " not in out and "<img" not in out and "<strong>" not in out and "<em>" not in out and "<code>" not in out
    assert out.startswith("<p>") and out.count("<p>") == 1  # no new block (heading, list)


@pytest.mark.parametrize("name", HOSTILE)
def test_markdown_escape_inside_a_table_cell(name):
    table = f"| a | b |\n| --- | --- |\n| {md(name)} | 1 |\n"
    out = markdown.markdown(table, extensions=["tables"])
    assert out.count("<td>") == 2  # a pipe in a name does not add a column


@pytest.mark.parametrize("name", HOSTILE)
def test_html_escape_has_no_tags_or_quotes(name):
    out = html(name)
    assert not set("<>\"'`") & set(out)


def test_latex_escape_compiles(tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed")
    body = "\n\n".join(f"Name {i}: {latex(n)}" for i, n in enumerate(HOSTILE))
    doc = ("\\documentclass{article}\\usepackage[T1]{fontenc}\\usepackage[utf8]{inputenc}\\usepackage{lmodern}"
           "\\begin{document}\n" + body + "\n\\end{document}\n")
    (tmp_path / "t.tex").write_text(doc, encoding="utf-8")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "t.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    text = subprocess.run(["pdftotext", "t.pdf", "-"], cwd=tmp_path, capture_output=True, text=True).stdout
    assert "Name 19" in text  # \end{document} inside a name did not end the document
    assert "/etc/passwd" in text  # printed, not input
    assert "root:" not in text


def test_latex_escape_has_no_active_characters():
    for name in HOSTILE:
        out = latex(name)
        stripped = out
        for cmd in ("\\textbackslash{}", "\\textasciitilde{}", "\\textasciicircum{}", "\\textless{}", "\\textgreater{}",
                    "\\textbar{}", "\\textquotedbl{}", "\\allowbreak{}", "\\{", "\\}", "\\$", "\\&", "\\%", "\\#", "\\_",
                    "{[}", "{]}"):
            stripped = stripped.replace(cmd, "")
        assert not set("\\{}$&%#_~^") & set(stripped), (name, out)


def test_slugs_are_safe_and_distinct():
    names = HOSTILE + ["A B", "A_B", "a-b", "A-B", "a b"]
    slugs = [slugify(n) for n in names]
    assert len(set(slugs)) == len(set(names))
    for s in slugs:
        assert s and all(c.isalnum() and c.isascii() or c == "-" for c in s)
        assert len(s) <= 70
    assert slugify("arcface-512") == "arcface-512"
