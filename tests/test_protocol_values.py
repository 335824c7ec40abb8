"""The field's protocols in the value registry: FNMR at FMR, 1:N identification, differentials.

A researcher cites ``{{ value("demo/arcface-like-512/all/identification/rank-1") }}`` in their own
pages and ``\\atlasvalue{...}`` in their LaTeX; those texts must be the characters the protocol's
page shows. Each test analyses the demo's ``all`` cell (its planted group differential included),
renders the page to Markdown, and finds every entry's text and interval on it.
"""
from __future__ import annotations

import pytest

from analysis.config import load_config
from analysis.embedding.datasets.groups import attach_groups, group_data
from analysis.embedding.synthetic import generate
from analysis.types import Cell
from report.contexts import CellContext
from report.escape import md, slugify
from report.site import MarkdownRenderer
from report.value_sources import CELL_VALUES, NOT_ESTIMABLE, differentials_values
from tests.conftest import ROOT

NETWORK = "arcface-like-512"


@pytest.fixture(scope="module")
def demo():
    cfg = load_config(ROOT / "configs" / "demo.toml")
    spec = cfg.datasets[0]
    embs = generate(spec.options, {n.name: n.options for n in cfg.networks}, spec.name, cfg.study.seed)
    emb = embs[NETWORK]
    emb = attach_groups(spec.name, spec.groups, emb, *group_data(spec.groups, emb.items, generated=emb.groups))
    ctx = CellContext(Cell(spec.name, NETWORK, "all"), "all images", True, emb.n_dims, cfg.study.seed)
    return cfg, emb, ctx


def _page_text(module, ctx, result) -> str:
    return MarkdownRenderer().page(module.page(ctx, result))


def _check_shown(entries, text: str) -> None:
    assert entries
    for e in entries:
        assert md(e.text) in text, (e.name, e.text)
        assert not e.interval_text or md(e.interval_text) in text, (e.name, e.interval_text)


def test_fnmr_at_fmr_values_are_the_similarity_pages_numbers(demo):
    from analysis.statistics.verification.similarity import analyze_similarity
    from report.pages import similarity

    cfg, emb, ctx = demo
    r = analyze_similarity(emb, cfg.similarity, cfg.study.seed)
    entries = {e.name: e for e in CELL_VALUES["similarity"](r)}
    op = r.operating_points
    estimable = [row for row in op.fnmr_at_fmr if row.estimable]
    assert estimable and len(estimable) < len(op.fnmr_at_fmr)  # the demo has both kinds
    for row in op.fnmr_at_fmr:
        e = entries[f"fnmr-at-fmr-{row.fmr:.0e}".replace("e-0", "e-")]
        if row.estimable:
            assert e.value == pytest.approx(row.fnmr) and e.low <= e.value <= e.high
        else:
            assert e.value is None and e.text == NOT_ESTIMABLE
    assert entries["zero-fmr"].value == pytest.approx(op.zero_fmr.value)
    _check_shown([e for e in entries.values() if e.name.startswith(("fnmr-", "zero-", "threshold-at-"))],
                 _page_text(similarity, ctx, r))


def test_identification_values_are_the_identification_pages_numbers(demo):
    from analysis.statistics.identification.identification import analyze_identification
    from report.pages import identification

    cfg, emb, ctx = demo
    r = analyze_identification(emb, cfg.identification, cfg.study.seed)
    entries = {e.name: e for e in CELL_VALUES["identification"](r)}
    assert entries["rank-1"].value == pytest.approx(r.rank1.estimate)
    assert entries["rank-1"].low <= entries["rank-1"].value <= entries["rank-1"].high
    assert entries["templates"].value == len(r.names) and entries["probes"].value == r.n_probes
    assert any(n.startswith("fnir-at-fpir-") for n in entries)
    _check_shown(list(entries.values()), _page_text(identification, ctx, r))


def test_differentials_values_name_the_planted_groups_and_are_on_the_page(demo):
    from analysis.statistics.verification.differentials.differentials import analyze_differentials
    from report.pages import differentials

    cfg, emb, ctx = demo
    r = analyze_differentials(emb, cfg.differentials.following(cfg.similarity), cfg.study.seed)
    entries = {e.name: e for e in CELL_VALUES["differentials"](r)}
    # The generator plants a higher FNMR in cohort B and a higher FMR in cohort C.
    assert entries["cohort-fnmr-highest-at-fmr-1e-2"].value == "B"
    assert entries["cohort-fmr-highest-at-fmr-1e-2"].value == "C"
    assert entries["cohort-fnmr-ratio-at-fmr-1e-2"].low > 1
    b = f"cohort-{slugify('B')}-fnmr-at-fmr-1e-2"  # b-<hash>: B and b are two groups
    assert entries[b].value == pytest.approx(next(g for g in r.columns[0].groups if g.name == "B").fnmr[0].estimate)
    assert "session-fnmr-ratio-at-fmr-1e-2" in entries
    _check_shown(list(entries.values()), _page_text(differentials, ctx, r))


def test_hostile_group_names_give_distinct_valid_keys(demo):
    """Columns and groups that slug alike (``Sex`` and ``sex``, ``a`` + ``b-c`` and ``a-b`` + ``c``) never share a key."""
    import dataclasses

    from analysis.statistics.verification.differentials.differentials import analyze_differentials
    from report.values import KEY_PATTERN

    cfg, emb, _ = demo
    r = analyze_differentials(emb, cfg.differentials.following(cfg.similarity), cfg.study.seed)
    cohort = next(c for c in r.columns if c.column == "cohort")
    hostile = []
    for column, groups in (("a", ("b-c", "B-C")), ("a-b", ("c", "<script>")), ("Sex", ("\u200f", "")),
                           ("sex", ("x" * 500, "C"))):
        renamed = tuple(dataclasses.replace(g, name=n) for g, n in zip(cohort.groups, groups)) + cohort.groups[len(groups):]
        hostile.append(dataclasses.replace(cohort, column=column, groups=renamed))
    entries = differentials_values(dataclasses.replace(r, columns=tuple(hostile)))
    names = [e.name for e in entries]
    assert len(names) == len(set(names)) and len(names) > 20
    # "a" + "b-c" and "a-b" + "c" would join alike: neither gets the key.
    assert "a-b-c-fnmr-at-fmr-1e-2" not in names
    assert f"a-b-{slugify('<script>')}-fnmr-at-fmr-1e-2" in names and f"a-{slugify('B-C')}-fnmr-at-fmr-1e-2" in names
    assert all(KEY_PATTERN.match(f"d/n/all/differentials/{n}") for n in names)
