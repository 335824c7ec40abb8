"""Write every output: figures (cached), docs/ (Markdown + CSV), mkdocs.yml, site/, paper/.

The output folder is rebuilt atomically: ``docs/``, ``site/`` and ``paper/`` are each built in
a staging sibling and swapped in (:mod:`report.ownership`), so an interrupted run never leaves a
half-written folder behind. ``mkdocs build`` and
``latexmk`` run only when their inputs changed (hash of the sources kept next to the outputs).
"""
from __future__ import annotations

import errno
import hashlib
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import joblib

from report import assets as site_assets
from report import exports
from report import latex as latex_renderer
from report import site as site_renderer
from report.model import Explorer, Figure, Page, Report, Table
from report.png import figure_png
from report import ownership
from report import paper_sources
from report.paper_classes import paper_class
from report.progress import bar as progress_bar
from report.references import bibtex
from report.resources import templates_dir
from report.user_latex import PaperInputs
from analysis.embedding import lifeline
from analysis.embedding.store import atomic_write_text, content_hash

FIGURE_VERSION = "2"  # 2: PNGs encoded by report.png


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


def pdf_width_in(cls_name: str = "article") -> float:
    """Width (inches) the paper's figure PDFs are drawn at in a class: its text width, at most
    :data:`PAPER_FIGURE_WIDTH_IN` (wider classes scale the figure up a little, never down)."""
    return min(PAPER_FIGURE_WIDTH_IN, round(paper_class(cls_name).text_width_in - 0.05, 2))


def pdf_cache_name(digest: str, width_in: float = PAPER_FIGURE_WIDTH_IN) -> str:
    """File of a figure's PDF in the cache: the article's width keeps the plain name."""
    return f"{digest}.pdf" if width_in == PAPER_FIGURE_WIDTH_IN else f"{digest}-w{width_in:.2f}.pdf"


def draw_figure(fig: Figure, png: Path | None, pdf: Path | None = None, width_in: float = PAPER_FIGURE_WIDTH_IN) -> None:
    """Draw one figure to PNG (site) and/or PDF (paper) without timestamps or software tags.

    The PDF is always laid out after a PNG rendering (written to memory when ``png`` is None),
    so its bytes do not depend on whether the PNG was wanted in the same call; a figure wider
    than ``width_in`` (the paper class's text width) is re-laid out narrower for its PDF.
    """
    from report import plotting

    with plotting.style():
        f = fig.plot(fig.data)
        plotting.plain_tick_labels(f)  # mathtext is off: log axes get plain labels
        plotting.readable_text(f)  # no text under 9 CSS px once the site scales the figure to its column
        # Rendered once at 150 dpi and encoded by report.png (a palette where it is invisible): the
        # PDF below is laid out after this rendering whether or not the PNG was wanted.
        data = figure_png(f, dpi=150)
        if png is not None:
            Path(png).write_bytes(data)
        if pdf is not None:
            w, h = f.get_size_inches()
            if w > width_in:
                # At most a quarter narrower, so that panels of wide multi-panel figures keep room for their
                # titles and labels (narrower, the axis labels of three panels no longer fit: measured in llncs);
                # less height lost than width, since the fonts keep their size.
                target = max(width_in, 0.75 * w)
                f.set_size_inches(target, min(h, h * target / w * 1.3))
            f.savefig(pdf, format="pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    plotting.close(f)


def _draw_to_cache(fig: Figure, cache: Path, digest: str, want_png: bool, want_pdf: bool,
                   width_in: float = PAPER_FIGURE_WIDTH_IN) -> None:
    lifeline.die_with_parent()  # a loky worker exits when the build is killed
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        png, pdf = Path(tmp) / "f.png", Path(tmp) / "f.pdf"
        draw_figure(fig, png if want_png else None, pdf if want_pdf else None, width_in)
        # Each file is complete when it appears (os.replace): the cache holds PNGs and PDFs apart.
        if want_pdf:
            os.replace(pdf, cache / pdf_cache_name(digest, width_in))
        if want_png:
            os.replace(png, cache / f"{digest}.png")


def render_figures(figures: list[Figure], cache: Path, progress: bool,
                   pdf_keys: frozenset[str] = frozenset(), width_in: float = PAPER_FIGURE_WIDTH_IN,
                   ) -> tuple[dict[str, str], int, int]:
    """Draw the figures that are not in the cache; returns key -> digest, drawn, reused.

    Every figure gets a PNG (the site); only those whose key is in ``pdf_keys`` (the paper's,
    about one in ten) also get a PDF, drawn for a text ``width_in`` inches wide (the paper
    class's): drawing a PDF costs more than the PNG, and the site never links one.
    """
    cache.mkdir(parents=True, exist_ok=True)
    digests = {f.key: figure_hash(f) for f in figures}
    # One drawing per distinct digest: figures with the same plot and data share a cache entry.
    distinct: dict[str, Figure] = {}
    pdf_digests = {digests[k] for k in pdf_keys if k in digests}
    for f in figures:
        distinct.setdefault(digests[f.key], f)
    work = []
    for d, f in distinct.items():
        want_png = not (cache / f"{d}.png").is_file()
        want_pdf = d in pdf_digests and not (cache / pdf_cache_name(d, width_in)).is_file()
        if want_png or want_pdf:
            work.append((f, d, want_png, want_pdf))
    if work:
        # Worker processes, one per core: matplotlib is single-threaded and figures are independent.
        # The paper's figures (PNG + PDF) go first: the longest tasks first keep both workers busy.
        work.sort(key=lambda w: (not w[3], w[1]))
        jobs = min(len(work), max(1, (os.cpu_count() or 1)))
        lifeline.mark_parent()  # loky workers exit when the build dies (kill -9 included)
        with progress_bar(len(work), "figures", progress, unit="fig") as bar:
            for _ in joblib.Parallel(n_jobs=jobs, backend="loky" if jobs > 1 and len(work) > 4 else "sequential",
                                     return_as="generator_unordered")(
                    joblib.delayed(_draw_to_cache)(f, cache, d, png, pdf, width_in) for f, d, png, pdf in work):
                bar.update(1)
    return digests, len(work), len(figures) - len(work)


def _counted(items, bar):
    """Yield ``items``, advancing ``bar`` as each is handed out, then close it."""
    for item in items:
        yield item
        bar.update(1)
    bar.close()


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
def pdf_is_readable(pdf: Path) -> bool:
    """True when ``pdf`` is a complete PDF: ``pdfinfo`` (poppler) or pypdf reads it, trailer included."""
    if not pdf.is_file() or pdf.stat().st_size < 64:
        return False
    if shutil.which("pdfinfo"):
        proc = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, errors="replace")
        return proc.returncode == 0 and "Pages:" in proc.stdout
    try:
        import pypdf
    except ImportError:  # neither reader: at least the header and the end-of-file marker
        data = pdf.read_bytes()
        return data.startswith(b"%PDF-") and b"%%EOF" in data[-2048:]
    try:
        return len(pypdf.PdfReader(str(pdf), strict=True).pages) > 0
    except Exception:  # any parse error means "not readable"
        return False


def paper_figure_keys(report: Report) -> frozenset[str]:
    """Keys of the figures the paper includes (they need a PDF as well as the site's PNG)."""
    return frozenset(f.key for f in latex_renderer.paper_figures(report))


def paper_inputs_hash(tex_text: str, figure_files: dict[str, Path]) -> str:
    """Hash of the paper's inputs: the TeX sources (``tex_text``), the bibliography and every figure (name and bytes)."""
    h = hashlib.sha256((tex_text + bibtex()).encode())
    for name in sorted(figure_files):
        h.update(f"figures/{name}".encode())
        h.update(hashlib.sha256(figure_files[name].read_bytes()).digest())
    return h.hexdigest()


def _same_class(old_main: Path, new_text: str) -> bool:
    """Whether the previous main file used the same ``\\documentclass`` line as ``new_text``."""
    def first_class(text: str) -> str:
        return next((line.strip() for line in text.splitlines() if line.lstrip().startswith("\\documentclass")), "")

    return old_main.is_file() and first_class(old_main.read_text(encoding="utf-8", errors="replace")) == first_class(new_text)


def paper_stamp(files: dict[str, str], figures: dict[str, Path], user: PaperInputs, paper_dir: Path) -> str:
    """The inputs hash of a paper: its text files, figures, the researcher's folders and what the last compile read there.

    The researcher's files the last compile read from their folders (a main file's own ``\\input``'s, images)
    count: a change to one of them must recompile, though the build copies none of them.
    """
    theirs = paper_sources.user_files_read(paper_dir, user)
    return paper_inputs_hash("".join(f"{k}\n{files[k]}" for k in sorted(files))
                             + "".join(f"{d}\n" for d in user.search_dirs) + theirs, figures)


def build_paper(report: Report, paper_dir: Path, digests: dict[str, str], fig_cache: Path, settings=None,
                user: PaperInputs | None = None) -> tuple[Path | None, bool, tuple[str, ...]]:
    """Write paper/ and run latexmk when its inputs changed. Returns (pdf, rebuilt, warnings).

    ``settings`` is the study's ``[paper]`` table (:class:`analysis.publishing.PaperSettings`: the
    class); ``user`` the researcher's files, read and checked (:func:`report.user_latex.paper_inputs`).
    Written: ``report.tex`` (or the researcher's main file), the parts under ``atlas/``,
    ``values.tex``, ``references.bib``, ``user/`` copies, ``figures/``, then ``source.zip`` of what the
    compile read (:mod:`report.paper_sources`). The paper is compiled in a staging folder beside
    ``paper/`` and swapped in only once ``pdfinfo`` reads the new PDF; the inputs hash is removed
    from ``paper/`` before compiling and written only next to a readable PDF, so a killed or failed
    compile can never leave a stale or broken PDF that a later build calls "unchanged".
    """
    cls = paper_class(getattr(settings, "document_class", "article"))
    user = user or PaperInputs({}, {}, None, None, ())
    files, warnings = paper_sources.text_files(report, cls, user)
    width = pdf_width_in(cls.name)
    figures = {f"{f.key}.pdf": fig_cache / pdf_cache_name(digests[f.key], width)
               for f in latex_renderer.paper_figures(report)}
    inputs = paper_stamp(files, figures, user, paper_dir)
    pdf = paper_dir / "report.pdf"
    stamp = paper_dir / ".inputs.sha256"
    if stamp.is_file() and stamp.read_text() == inputs and pdf_is_readable(pdf):
        return pdf, False, tuple(warnings)
    if shutil.which("latexmk") is None or shutil.which("pdflatex") is None:
        raise RuntimeError(
            "latexmk/pdflatex not found: install TeX Live (Debian: apt-get install latexmk texlive-latex-extra "
            "texlive-fonts-recommended texlive-bibtex-extra texlive-publishers) or set build_paper = false in [study]"
        )
    stamp.unlink(missing_ok=True)  # from here on, paper/ is not known to match anything
    staged = ownership.staging_dir(paper_dir.parent, "paper")
    try:
        if paper_dir.is_dir() and _same_class(paper_dir / "report.tex", files["report.tex"]):
            # keep latexmk's aux files: fewer passes (not across classes: their aux files hold class macros)
            shutil.copytree(paper_dir, staged, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("figures", "atlas", "user", paper_sources.ZIP_NAME))
        (staged / "figures").mkdir(exist_ok=True)
        for rel_path, text in files.items():
            (staged / rel_path).parent.mkdir(parents=True, exist_ok=True)
            (staged / rel_path).write_text(text, encoding="utf-8")
        for name, src in figures.items():
            shutil.copyfile(src, staged / "figures" / name)
        env = paper_sources.search_env(user, dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1"))
        # errors="replace": TeX writes the 8-bit bytes of a box's text (a name with an accent) into its
        # messages as they are, not as UTF-8; decoding them strictly stopped the build.
        proc = subprocess.run(
            ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error", "report.tex"],
            cwd=staged, env=env, capture_output=True, text=True, errors="replace",
            preexec_fn=lifeline.kill_with_parent,  # no orphan latexmk writing after a kill -9
        )
        log_text = (staged / "report.log").read_text(errors="replace") if (staged / "report.log").is_file() else ""
        if proc.returncode != 0 or not pdf_is_readable(staged / "report.pdf"):
            _raise_if_disk_full(proc.stdout + proc.stderr + log_text, paper_dir)
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
            raise RuntimeError(f"latexmk failed (exit {proc.returncode}) or wrote no readable PDF; the previous "
                               f"paper/ is kept. Last lines:\n{tail}")
        warnings += [
            line.strip() for line in log_text.splitlines()
            if "undefined" in line.lower() and ("reference" in line.lower() or "citation" in line.lower()
                                                or "atlas value" in line.lower())
        ]
        (staged / paper_sources.ZIP_NAME).write_bytes(paper_sources.source_zip(staged, user))
        (staged / ".inputs.sha256").write_text(inputs)
        ownership.swap_in(staged, paper_dir)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return pdf, True, tuple(warnings)


# --------------------------------------------------------------------------- site
def write_docs(pages: list[Page], tables: list[Table], digests: dict[str, str], fig_cache: Path, docs_dir: Path,
               pdf: Path | None, embedding_files: dict[str, str], copied_files: dict[str, Path] | None = None,
               values=None, vector_sets: tuple = ()) -> None:
    """Write docs/ atomically: build in a temporary sibling folder, then swap.

    ``embedding_files`` are text files and ``copied_files`` files copied as they are (the researcher's
    pages' images, the paper's sources), both by ``docs/``-relative path; ``values`` the registry by key
    (:func:`report.values.index`), for the pages' :class:`report.model.Val` spans; ``vector_sets``
    (:class:`report.exports.VectorSet`, ``[study] publish_vectors = true`` only) adds the vectors file
    and the Projector pair of each (dataset, network).
    """
    parent = docs_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = ownership.staging_dir(parent, "docs")
    try:
        md = site_renderer.MarkdownRenderer(values=values)
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
            (tmp / rel_path).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel_path).write_text(text, encoding="utf-8")
        for rel_path, src in (copied_files or {}).items():
            (tmp / rel_path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, tmp / rel_path)
        explorers = [b for page in pages for b in page.blocks() if isinstance(b, Explorer)]
        exports.write_explorer_files(explorers, tmp)
        exports.write_vector_files(list(vector_sets), tmp)
        exports.write_data_zip(tmp)
        site_assets.write_site_assets(tmp, with_plotly=bool(explorers))
        ownership.swap_in(tmp, docs_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_theme(output_dir: Path) -> None:
    """Copy the theme override (``templates/theme``) to ``output_dir/overrides``, recorded as the build's own."""
    src = templates_dir() / "theme"
    target = output_dir / site_renderer.THEME_DIR
    names = sorted(p.name for p in src.iterdir() if p.is_file())
    ownership.record(output_dir, [f"{site_renderer.THEME_DIR}/{n}" for n in names])
    target.mkdir(exist_ok=True)
    for n in names:
        text = (src / n).read_text(encoding="utf-8")
        if not (target / n).is_file() or (target / n).read_text(encoding="utf-8") != text:
            atomic_write_text(target / n, text)


def _raise_if_disk_full(tool_output: str, folder: Path) -> None:
    """A tool (mkdocs, latexmk) that failed on a full disk: raise it as the OSError it was, naming ``folder``."""
    from report.disk import FULL_TEXT

    if any(t in tool_output for t in FULL_TEXT):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder))


def build_site(output_dir: Path) -> tuple[Path, bool]:
    """Run ``mkdocs build --strict`` when docs/ or mkdocs.yml changed."""
    docs = output_dir / "docs"
    site = output_dir / "site"
    stamp = output_dir / ".site-inputs.sha256"
    digest = tree_hash(docs, (output_dir / "mkdocs.yml").read_text(encoding="utf-8")
                       + tree_hash(output_dir / site_renderer.THEME_DIR))
    index = site / "index.html"
    if index.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return index, False
    stamp.unlink(missing_ok=True)
    staged = ownership.staging_dir(output_dir, "site")  # built beside site/, swapped in when complete
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "-q", "-f", "mkdocs.yml",
         "-d", str(staged)],
        cwd=output_dir, capture_output=True, text=True, errors="replace", preexec_fn=lifeline.kill_with_parent,
        env=dict(os.environ, SOURCE_DATE_EPOCH="0", NO_MKDOCS_2_WARNING="1", DISABLE_MKDOCS_2_WARNING="true"),
    )
    if proc.returncode != 0 or not (staged / "index.html").is_file():
        shutil.rmtree(staged, ignore_errors=True)
        _raise_if_disk_full(proc.stdout + proc.stderr, site)  # one line naming the folder, not mkdocs' traceback
        raise RuntimeError(f"mkdocs build --strict failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    ownership.swap_in(staged, site)
    atomic_write_text(stamp, digest)
    return index, True
