"""The differentials page finds the demo's planted differential and names the right groups.

The demo's generator plants two effects in its ``cohort`` column (B: the most spread identities, so a
higher FNMR; C: identities pulled close together, so a higher FMR) and none in ``session``; the page
must find both, name B and C, show intervals that separate them, say the effect was planted, and
find nothing in ``session``.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from analysis.config import load_config
from analysis.embedding.datasets.groups import attach_groups, group_data
from analysis.embedding.synthetic import generate
from analysis.statistics.verification.differentials.differentials import analyze_differentials
from analysis.types import Cell
from report.contexts import CellContext
from report.model import Admonition, BulletList, Figure, Paragraph, Table
from report.pages import differentials as page_module
from tests.conftest import ROOT


def _text(parts) -> str:
    return "".join(getattr(p, "text", "") for p in parts)


def _bullets(section) -> list[str]:
    return [_text(item) for b in section.blocks if isinstance(b, BulletList) for item in b.items]


@pytest.fixture(scope="module")
def demo_pages():
    """Both demo networks' ``all`` cells as the demo config makes them, analysed and paged."""
    cfg = load_config(ROOT / "configs" / "demo.toml")
    spec = cfg.datasets[0]
    nets = {n.name: n.options for n in cfg.networks}
    embs = generate(spec.options, nets, spec.name, cfg.study.seed)
    out = {}
    for name, emb in embs.items():
        emb = attach_groups(spec.name, spec.groups, emb, *group_data(spec.groups, emb.items, generated=emb.groups))
        assert emb.group_columns == ("cohort", "session")
        params = cfg.differentials.following(cfg.similarity)
        r = analyze_differentials(emb, params, cfg.study.seed)
        ctx = CellContext(Cell(spec.name, name, "all"), "all images", True, emb.n_dims, cfg.study.seed)
        out[name] = (r, page_module.page(ctx, r))
    return out


@pytest.mark.parametrize("network", ["arcface-like-512", "dlib-like-128"])
def test_page_finds_the_planted_fnmr_and_fmr_groups(demo_pages, network):
    r, page = demo_pages[network]
    cohort = next(s for s in page.sections if s.title == "By cohort")
    bullets = _bullets(cohort)
    fnmr = next(b for b in bullets if b.startswith("FNMR at the threshold for FMR 1e-2"))
    fmr = next(b for b in bullets if b.startswith("FMR at the threshold for FMR 1e-2"))
    assert "highest in B " in fnmr and "beyond the intervals" in fnmr
    assert "highest in C " in fmr and "beyond the intervals" in fmr
    # The result agrees with the words: the ratio's interval excludes 1 and names the same groups.
    col = r.columns[0]
    assert col.ratio("FNMR", 0.01).highest == "B" and col.ratio("FNMR", 0.01).interval.low > 1
    assert col.ratio("FMR", 0.01).highest == "C" and col.ratio("FMR", 0.01).interval.low > 1
    planted = [b for b in page.intro if isinstance(b, Admonition) and "Planted" in b.title]
    assert planted and "cohort B" in _text(planted[0].parts) and "cohort C" in _text(planted[0].parts)


@pytest.mark.parametrize("network", ["arcface-like-512", "dlib-like-128"])
def test_page_finds_nothing_where_nothing_was_planted(demo_pages, network):
    r, page = demo_pages[network]
    session = next(s for s in page.sections if s.title == "By session")
    bullets = _bullets(session)
    assert bullets and all("within the intervals" in b for b in bullets)
    mixed = [b for b in session.blocks if isinstance(b, Paragraph) and "per-image covariate" in _text(b.parts)]
    assert mixed, "session varies within identities and the page says so"


def test_page_blocks_hold_every_group_and_estimable_level(demo_pages):
    r, page = demo_pages["arcface-like-512"]
    cohort = next(s for s in page.sections if s.title == "By cohort")
    rates = next(b for b in cohort.blocks if isinstance(b, Table) and b.key.endswith("cohort-0-rates"))
    assert set(rates.frame["group"]) == {"A", "B", "C"}
    assert set(rates.frame["FMR target"]) == {"1e-2", "1e-3", "1e-4"}
    for col in ("FNMR", "FNMR low", "FNMR high", "FMR", "false matches", "non-mated pairs binned"):
        assert pd.api.types.is_numeric_dtype(rates.frame[col]), col
    figures = [b for b in cohort.blocks if isinstance(b, Figure)]
    assert {f.key.rsplit("-", 2)[-2] for f in figures} == {"rates", "cross"}
    for f in figures:  # each figure draws from its data without error and shows text
        fig = f.plot(f.data)
        assert any(t.get_text() for ax in fig.axes for t in ax.get_xticklabels())
        fig.clf()


def test_compare_names_the_groups_per_network(demo_pages):
    results = {Cell("demo", n, "all"): r for n, (r, _) in demo_pages.items()}
    sections = page_module.compare(results, {})
    cohort = next(s for s in sections if "cohort" in s.title)
    table = next(b for b in cohort.blocks if isinstance(b, Table))
    assert list(table.frame["highest FNMR"]) == ["B (at 1e-2)"] * 2
    assert list(table.frame["highest FMR"]) == ["C (at 1e-2)"] * 2
    assert any(isinstance(b, Figure) for b in cohort.blocks)


def test_built_demo_page_says_it_and_links_its_csv(demo_build):
    out = demo_build[0]
    for network in ("arcface-like-512", "dlib-like-128"):
        md = (out / "docs" / "demo" / network / "all" / "differentials.md").read_text(encoding="utf-8")
        assert "Planted differential" in md
        assert re.search(r"FNMR at the threshold for FMR 1e-2: </strong>highest in B .*beyond the intervals", md)
        assert re.search(r"FMR at the threshold for FMR 1e-2: </strong>highest in C .*beyond the intervals", md)
        csv = out / "docs" / "tables" / f"demo-{network}-all-differentials-cohort-0-rates.csv"
        frame = pd.read_csv(csv)
        assert {"FNMR", "FNMR low", "FNMR high", "FMR", "mated pairs"} <= set(frame.columns)
        assert np.isfinite(frame["FNMR"]).all()
    methods = (out / "docs" / "methods.md").read_text(encoding="utf-8")
    assert "Demographic and covariate differentials" in methods and "NIST IR 8280" in methods


def test_built_demo_explorer_colours_by_the_group_columns(demo_build):
    """The map of a study with group columns can be coloured by each of them, row by row as the data says."""
    import base64
    import json

    out, _, _, (results, _, _) = demo_build
    emb = next(i for i in results.inputs if i.spec.name == "demo").embeddings["arcface-like-512"]
    scripts = sorted((out / "docs" / "explorer").glob("*demo-arcface-like-512-all*"))
    text = next(p.read_text(encoding="utf-8") for p in scripts if "ATLAS_EXPLORER" in p.read_text(encoding="utf-8"))
    data = json.loads(text.split(" = ", 2)[-1].rstrip().rstrip(";"))
    cols = {c["name"]: c for c in data["columns"]}
    assert {"cohort", "session"} <= set(cols) and cols["identity"]["labels"]  # the explorer's own identity column stays
    codes = np.frombuffer(base64.b64decode(cols["cohort"]["codes"]["b64"]), dtype="<" + cols["cohort"]["codes"]["dtype"])
    shown = [cols["cohort"]["labels"][c] for c in codes]
    by_item = dict(zip(emb.items.tolist(), (v or "(missing)" for v in emb.group("cohort").tolist())))
    assert shown == [by_item[i] for i in data["items"]]
    assert set(shown) == {"A", "B", "C", "(missing)"}  # the demo plants rows without a cohort


def test_a_group_column_never_replaces_an_explorer_column():
    from report.pages.explorer import group_label

    taken: dict = {}
    assert group_label("cohort", taken) == "cohort"
    assert group_label("identity", taken) == "identity (group)"
    assert group_label("PCA x", taken) == "PCA x (group)"
    taken["sex (group)"] = 1
    taken["sex"] = 1
    assert group_label("sex", taken) == "sex (group 2)"
