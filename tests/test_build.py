"""End to end: the demo study builds a site and a paper; rebuilds reuse everything and are byte-identical."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, write_small_config


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_demo_build_produces_site_and_paper(demo_build):
    out, _, cfg, (results, outputs, build) = demo_build
    assert outputs.site_index == out / "site" / "index.html" and outputs.site_index.is_file()
    # Every Markdown page has its HTML page.
    pages = sorted((out / "docs").rglob("*.md"))
    assert len(pages) >= 10
    for md_file in pages:
        html = out / "site" / md_file.relative_to(out / "docs").with_suffix(".html")
        assert html.is_file(), f"missing built page {html}"
    # The paper exists, has pages and is linked from the site.
    pdf = out / "paper" / "report.pdf"
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    n_pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert n_pages >= 4
    assert (out / "site" / "downloads" / "report.pdf").is_file()
    assert "downloads/report.pdf" in (out / "site" / "downloads.html").read_text(encoding="utf-8")
    # Every analysis ran on every cell of the demo grid.
    assert len(results.cells) == 2 * len(cfg.subsets)
    assert not outputs.latex_warnings, outputs.latex_warnings


def test_every_page_says_synthetic(demo_build):
    out = demo_build[0]
    for page in (out / "docs").rglob("*.md"):
        rel = page.relative_to(out / "docs").as_posix()
        if rel in ("methods.md", "reproducibility.md", "downloads.md"):
            continue  # pages without data
        assert "Synthetic demo, not faces" in page.read_text(encoding="utf-8"), rel


def test_every_table_has_its_csv(demo_build):
    out = demo_build[0]
    docs = out / "docs"
    csvs = {p.name for p in (docs / "tables").glob("*.csv")}
    assert csvs
    text = "".join(p.read_text(encoding="utf-8") for p in docs.rglob("*.md"))
    for name in csvs:
        assert f"tables/{name}" in text, f"{name} is not linked from any page"


def test_no_change_rebuild_recomputes_nothing_and_is_byte_identical(demo_build):
    from report.driver import run

    out, _, cfg, _ = demo_build
    before = tree_digest(out / "docs")
    pdf_before = (out / "paper" / "report.pdf").read_bytes()
    _, outputs, build = run(cfg, progress=False)
    assert build.computed == [], build.computed
    assert outputs.figures_drawn == 0
    assert not outputs.site_rebuilt and not outputs.paper_rebuilt
    assert tree_digest(out / "docs") == before
    assert (out / "paper" / "report.pdf").read_bytes() == pdf_before


def test_template_change_rerenders_without_recomputing(tmp_path, monkeypatch):
    from analysis.config import load_config
    from report import site
    from report.driver import run

    cfg = load_config(write_small_config(tmp_path))
    run(cfg, progress=False)
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    page = templates / "page.md.j2"
    page.write_text(page.read_text(encoding="utf-8").replace("# {{ page.title }}", "# {{ page.title }} (edited)"),
                    encoding="utf-8")
    monkeypatch.setattr(site, "templates_dir", lambda: templates)
    _, outputs, build = run(cfg, progress=False)
    assert build.computed == []
    assert outputs.figures_drawn == 0
    assert "(edited)" in (cfg.study.output_dir / "docs" / "index.md").read_text(encoding="utf-8")


def test_two_cold_builds_are_byte_identical(tmp_path):
    from analysis.config import load_config
    from report.driver import run

    digests, zips = [], []
    for name in ("a", "b"):
        cfg = load_config(write_small_config(tmp_path / name))
        run(cfg, progress=False)
        digests.append(tree_digest(cfg.study.output_dir / "docs"))
        zips.append(_zip_members(cfg.study.output_dir / "docs" / "downloads" / "atlas-data.zip"))
    # Timings are measured, so they legitimately differ between two cold runs; nothing else may.
    # The download zip bundles the timings table too: its other members must be identical.
    for d, z in zip(digests, zips):
        d.pop("tables/repro-timings.csv")
        d.pop("reproducibility.md")
        d.pop("downloads/atlas-data.zip")
        z.pop(TIMINGS_MEMBER)
    assert digests[0] == digests[1]
    assert zips[0] == zips[1] and len(zips[0]) > 10


TIMINGS_MEMBER = "tables/repro-timings.csv"


def _zip_members(path):
    import zipfile

    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_config_change_recomputes_only_what_depends_on_it(tmp_path):
    from analysis.config import load_config
    from report.driver import run

    path = write_small_config(tmp_path)
    run(load_config(path), progress=False)
    path.write_text(path.read_text(encoding="utf-8") + "\n[geometry]\ntop_n = 3\n", encoding="utf-8")
    _, _, build = run(load_config(path), progress=False)
    assert build.computed and all(c.startswith(("geometry", "figures")) for c in build.computed), build.computed
    assert not any(c.startswith("embeddings") for c in build.computed)


def test_cli_help_and_config_errors(tmp_path):
    help_text = subprocess.run([sys.executable, "build_report.py", "--help"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout
    for option in ("--config", "--output-dir", "--cache-dir", "--no-site", "--no-paper", "--quiet"):
        assert option in help_text
    bad = tmp_path / "bad.toml"
    bad.write_text('[study]\ntitel = "x"\n[[datasets]]\nname = "d"\nkind = "synthetic"\n', encoding="utf-8")
    proc = subprocess.run([sys.executable, "build_report.py", "--config", str(bad)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown key 'titel' in [study]" in proc.stderr and "did you mean 'title'" in proc.stderr


def test_cli_builds_small_study(tmp_path):
    path = write_small_config(tmp_path)
    proc = subprocess.run([sys.executable, "build_report.py", "--config", str(path), "--quiet"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "docs:" in proc.stdout and "computed" in proc.stdout
    again = subprocess.run([sys.executable, "build_report.py", "--config", str(path), "--quiet"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout
    assert "computed 0 items" in again
