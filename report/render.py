"""Write every output: figures (cached), docs/ (Markdown + CSV), mkdocs.yml, site/, paper/.

The output folder is rebuilt atomically: ``docs/`` is written into a temporary sibling and
swapped in, so an interrupted run never leaves a half-written docs/ behind. ``mkdocs build`` and
``latexmk`` run only when their inputs changed (hash of the sources kept next to the outputs).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import joblib
import pandas as pd

from report import assets as site_assets
from report import exports
from report import latex as latex_renderer
from report import site as site_renderer
from report.model import Explorer, Figure, Page, Report, Table
from report.escape import slugify
from report.progress import bar as progress_bar
from report.references import bibtex
from analysis.embedding.store import atomic_write_bytes, atomic_write_text, content_hash

FIGURE_VERSION = "1"


@dataclass(frozen=True)
class Outputs:
    """Where the outputs are and what this run had to (re)build."""

    output_dir: Path
    docs_dir: Path
    site_index: Path | None
    pdf: Path | None
    figures_drawn: int
    figures_reused: int
    site_rebuilt: bool
    paper_rebuilt: bool
    latex_warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------- figures
def _source_hash(fn) -> str:
    module = sys.modules[fn.__module__]
    from report import plotting

    text = inspect.getsource(module) + inspect.getsource(plotting) + FIGURE_VERSION
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def figure_hash(fig: Figure) -> str:
    """Cache key of a figure: the plot function's code, its module, the style and the data."""
    return content_hash((PAPER_FIGURE_WIDTH_IN, _PAPER_FIGURE_RULE, fig.plot.__module__, fig.plot.__qualname__, _source_hash(fig.plot),
                         fig.data))


#: Width of the paper's text (inches). A wider figure is re-laid out at this width for its PDF, so
#: that placed at the text width its fonts keep their point size instead of shrinking.
PAPER_FIGURE_WIDTH_IN = 6.4
_PAPER_FIGURE_RULE = "at most a quarter narrower"  # part of the figure cache key: change it with the rule


def draw_figure(fig: Figure, png: Path, pdf: Path) -> None:
    """Draw one figure to PNG (site) and PDF (paper) without timestamps or software tags."""
    from report import plotting

    with plotting.style():
        f = fig.plot(fig.data)
        plotting.readable_text(f)  # no text under 9 CSS px once the site scales the figure to its column
        f.savefig(png, format="png", dpi=150, metadata={"Software": None})
        w, h = f.get_size_inches()
        if w > PAPER_FIGURE_WIDTH_IN:
            # At most a quarter narrower, so that panels of wide multi-panel figures keep room for their
            # titles; less height lost than width, since the fonts keep their size.
            target = max(PAPER_FIGURE_WIDTH_IN, 0.75 * w)
            f.set_size_inches(target, min(h, h * target / w * 1.3))
        f.savefig(pdf, format="pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    plotting.close(f)


def _draw_to_cache(fig: Figure, cache: Path, digest: str) -> None:
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        png, pdf = Path(tmp) / "f.png", Path(tmp) / "f.pdf"
        draw_figure(fig, png, pdf)
        os.replace(pdf, cache / f"{digest}.pdf")  # pdf first: the png marks a complete entry
        os.replace(png, cache / f"{digest}.png")


def render_figures(figures: list[Figure], cache: Path, progress: bool) -> tuple[dict[str, str], int, int]:
    """Draw the figures that are not in the cache; returns key -> digest, drawn, reused."""
    cache.mkdir(parents=True, exist_ok=True)
    digests = {f.key: figure_hash(f) for f in figures}
    # One drawing per distinct digest: figures with the same plot and data share a cache entry.
    distinct: dict[str, Figure] = {}
    for f in figures:
        distinct.setdefault(digests[f.key], f)
    missing = [f for d, f in distinct.items() if not (cache / f"{d}.png").is_file()]
    if missing:
        # Two worker processes: matplotlib is single-threaded and figures are independent.
        jobs = min(len(missing), max(1, (os.cpu_count() or 1)))
        with progress_bar(len(missing), "figures", progress, unit="fig") as bar:
            for _ in joblib.Parallel(n_jobs=jobs, backend="loky" if jobs > 1 and len(missing) > 4 else "sequential",
                                     return_as="generator_unordered")(
                    joblib.delayed(_draw_to_cache)(f, cache, digests[f.key]) for f in missing):
                bar.update(1)
    return digests, len(missing), len(figures) - len(missing)


# --------------------------------------------------------------------------- helpers
def collect(pages: list[Page]) -> tuple[list[Figure], list[Table]]:
    """Every figure and table of the site, checking that keys are unique."""
    figures, tables, seen = [], [], {}
    for page in pages:
        for b in page.blocks():
            if isinstance(b, (Figure, Table)):
                if b.key in seen and seen[b.key] is not b:
                    raise ValueError(f"duplicate figure/table key {b.key!r} (pages {page.path}); keys must be unique")
                if b.key not in seen:
                    seen[b.key] = b
                    (figures if isinstance(b, Figure) else tables).append(b)
    return figures, tables


def tree_hash(folder: Path, extra: str = "") -> str:
    """Hash of every file under ``folder`` (paths and bytes, sorted)."""
    h = hashlib.sha256(extra.encode())
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


# --------------------------------------------------------------------------- paper
def build_paper(report: Report, paper_dir: Path, digests: dict[str, str], fig_cache: Path) -> tuple[Path | None, bool, tuple[str, ...]]:
    """Write paper/ and run latexmk when its inputs changed. Returns (pdf, rebuilt, warnings)."""
    paper_dir.mkdir(parents=True, exist_ok=True)
    (paper_dir / "figures").mkdir(exist_ok=True)
    tex_text = latex_renderer.render_tex(report)
    atomic_write_text(paper_dir / "report.tex", tex_text)
    atomic_write_text(paper_dir / "references.bib", bibtex())
    wanted = set()
    for f in latex_renderer.paper_figures(report):
        wanted.add(f"{f.key}.pdf")
        target = paper_dir / "figures" / f"{f.key}.pdf"
        src = fig_cache / f"{digests[f.key]}.pdf"
        if not target.is_file() or target.read_bytes() != src.read_bytes():
            atomic_write_bytes(target, src.read_bytes())
    for stale in (paper_dir / "figures").glob("*.pdf"):
        if stale.name not in wanted:
            stale.unlink()
    pdf = paper_dir / "report.pdf"
    stamp = paper_dir / ".inputs.sha256"
    inputs = tree_hash(paper_dir / "figures", tex_text + bibtex())
    if pdf.is_file() and stamp.is_file() and stamp.read_text() == inputs:
        return pdf, False, ()
    if shutil.which("latexmk") is None or shutil.which("pdflatex") is None:
        raise RuntimeError(
            "latexmk/pdflatex not found: install TeX Live (Debian: apt-get install latexmk texlive-latex-extra "
            "texlive-fonts-recommended texlive-bibtex-extra) or set build_paper = false in [study]"
        )
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1")
    proc = subprocess.run(
        ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error", "report.tex"],
        cwd=paper_dir, env=env, capture_output=True, text=True,
    )
    log_file = paper_dir / "report.log"
    log_text = log_file.read_text(errors="replace") if log_file.is_file() else ""
    if proc.returncode != 0 or not pdf.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"latexmk failed (exit {proc.returncode}); see {log_file}\n{tail}")
    warnings = tuple(
        line.strip() for line in log_text.splitlines()
        if "undefined" in line.lower() and ("reference" in line.lower() or "citation" in line.lower())
    )
    atomic_write_text(stamp, inputs)
    return pdf, True, warnings


# --------------------------------------------------------------------------- site
def write_docs(pages: list[Page], tables: list[Table], digests: dict[str, str], fig_cache: Path, docs_dir: Path,
               pdf: Path | None, embedding_files: dict[str, str]) -> None:
    """Write docs/ atomically: build in a temporary sibling folder, then swap."""
    parent = docs_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=".docs."))
    try:
        md = site_renderer.MarkdownRenderer()
        for page in pages:
            target = tmp / site_renderer.page_file(page)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(md.page(page), encoding="utf-8")
        (tmp / "figures").mkdir()
        figures, _ = collect(pages)
        for f in figures:
            shutil.copyfile(fig_cache / f"{digests[f.key]}.png", tmp / site_renderer.figure_file(f.key))
        (tmp / "tables").mkdir()
        for t in tables:
            (tmp / site_renderer.table_file(t.key)).write_text(site_renderer.table_csv(t), encoding="utf-8")
        (tmp / "downloads").mkdir()
        if pdf is not None and pdf.is_file():
            shutil.copyfile(pdf, tmp / "downloads" / "report.pdf")
        for rel_path, text in embedding_files.items():
            (tmp / rel_path).write_text(text, encoding="utf-8")
        explorers = [b for page in pages for b in page.blocks() if isinstance(b, Explorer)]
        exports.write_explorer_files(explorers, tmp)
        exports.write_data_zip(tmp)
        site_assets.write_site_assets(tmp, with_plotly=bool(explorers))
        old = parent / f".docs.old.{os.getpid()}"
        if docs_dir.exists():
            os.replace(docs_dir, old)
        os.replace(tmp, docs_dir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_site(output_dir: Path) -> tuple[Path, bool]:
    """Run ``mkdocs build --strict`` when docs/ or mkdocs.yml changed."""
    docs = output_dir / "docs"
    site = output_dir / "site"
    stamp = output_dir / ".site-inputs.sha256"
    digest = tree_hash(docs, (output_dir / "mkdocs.yml").read_text(encoding="utf-8"))
    index = site / "index.html"
    if index.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return index, False
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "-q", "-f", "mkdocs.yml"],
        cwd=output_dir, capture_output=True, text=True,
        env=dict(os.environ, SOURCE_DATE_EPOCH="0", NO_MKDOCS_2_WARNING="1", DISABLE_MKDOCS_2_WARNING="true"),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"mkdocs build --strict failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    atomic_write_text(stamp, digest)
    return index, True
