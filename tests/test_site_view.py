"""What a reader of the site sees, without a browser: numbers, tables that fit, references, exports, assets.

Fast unit tests of report.format, report.table_view, report.bibliography, report.exports,
report.assets, report.pages.junk and the site renderer's math/script rules.
"""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from report import format as fmt
from report.bibliography import parse
from report.escape import md, md_block_start
from report.model import InlineMath, Math, P, Page, Section, Table
from report.references import bibtex
from report.table_view import MAX_COLUMNS, table_view


# --------------------------------------------------------------------------- numbers
@pytest.mark.parametrize("value, spec, text", [
    (68970.0, None, "68,970"),
    (68970.0, ".4g", "68,970"),
    (5, ".3f", "5"),
    (np.int64(1234567), None, "1,234,567"),
    (0.61234, None, "0.612"),
    (0.5, ".1%", "50.0%"),
    (float("nan"), ".3f", "\u2014"),
    (True, None, "yes"),
])
def test_table_cells_read_as_numbers(value, spec, text):
    assert fmt.cell(value, spec) == text


def test_counts_plurals_and_spreads():
    assert fmt.plural(1, "network") == "1 network"
    assert fmt.plural(2, "network") == "2 networks"
    assert fmt.plural(3, "identity", "identities") == "3 identities"
    assert fmt.pm(0.91234, 0.0101, 3) == "0.912 \u00b1 0.010"
    assert fmt.pm(0.9, 0.01, 1, percent=True) == "90.0% \u00b1 1.0%"
    assert "e+" not in fmt.num(68970.0) and fmt.num(68970.0) == "68,970"


# --------------------------------------------------------------------------- Markdown text
def test_digits_stay_readable_and_block_starts_are_guarded():
    assert md("0.613") == "0.613"
    assert md("version 2.4.6 (see below): ok") == "version 2.4.6 (see below): ok"
    assert md_block_start("1. not a list").startswith("&#49;")
    assert md_block_start("- not a list").startswith("&#45;")
    assert md_block_start("0.613 is fine") == "0.613 is fine"
    # Hostile text stays inert.
    assert "](" not in md("](javascript:alert(1))") and "<" not in md("<script>")


# --------------------------------------------------------------------------- tables
def test_wide_tables_show_headline_columns_and_one_row_tables_are_transposed():
    wide = Table("t-wide", "wide", pd.DataFrame({f"c{i}": [i, i + 1] for i in range(20)}))
    view = table_view(wide)
    assert len(view.header) == MAX_COLUMNS and view.hidden_columns == 20 - MAX_COLUMNS
    one = Table("t-one", "one", pd.DataFrame({f"metric {i}": [0.5 + i] for i in range(8)}))
    view = table_view(one)
    assert view.transposed and view.header == ("quantity", "value") and len(view.rows) == 8
    chosen = Table("t-chosen", "c", pd.DataFrame({f"c{i}": [i] * 2 for i in range(9)}), site_columns=("c8", "c1"))
    assert table_view(chosen).header == ("c8", "c1")


def test_junk_labels_leave_identity_tables_and_are_never_the_nearest_identity():
    from report.pages.junk import junk_note, without_junk
    from report.pages.nearest import nearest_frame

    frame = pd.DataFrame({"identity": ["a", "unknown", "b"], "images": [3, 9, 4]})
    assert list(without_junk(frame, ("unknown",))["identity"]) == ["a", "b"]
    assert junk_note(["a", "b"], [1, 2], ("unknown",)) is None
    assert junk_note(["a", "Unknown"], [1, 2], ("unknown",)) is not None

    class Nearest:
        names = np.array(["a", "b", "unknown"])
        count = np.array([3, 4, 9])
        neighbor = np.array([2, 2, 0])
        cosine = np.array([0.9, 0.8, 0.9])
        distance = np.array([0.4, 0.6, 0.4])
        radius = np.array([0.5, 0.5, 0.9])

    class Result:
        nearest = Nearest()
        centroid_cosine = np.array([[1.0, 0.3, 0.9], [0.3, 1.0, 0.8], [0.9, 0.8, 1.0]])
        centroid_euclidean = np.sqrt(2 - 2 * centroid_cosine)

    out = nearest_frame(Result(), ("unknown",))
    assert list(out["identity"]) == ["a", "b"]
    assert list(out["nearest other identity"]) == ["b", "a"]
    assert np.allclose(out["centroid cosine"], [0.3, 0.3])


# --------------------------------------------------------------------------- references
def test_references_are_formatted_not_bibtex():
    refs = parse(bibtex())
    assert len(refs) >= 10
    by_key = {r.key: r.text for r in refs}
    text = by_key["deng2019arcface"]
    assert text.startswith("J. Deng, J. Guo, N. Xue and S. Zafeiriou (2019). ArcFace")
    assert "4690\u20134699" in text
    assert not any(c in t for t in by_key.values() for c in "{}@\\")


# --------------------------------------------------------------------------- math scripts
def test_mathjax_only_on_pages_with_formulas_and_never_from_a_cdn():
    from report.site import mkdocs_config, page_scripts

    plain = Page(("plain",), "Plain", (P("no formula"),))
    inline = Page(("inline",), "Inline", (P("x ", InlineMath("a^2")),))
    display = Page(("display",), "Display", (), (Section("s", (Math("a^2"),)),))
    assert page_scripts(plain) == []
    assert page_scripts(inline) == page_scripts(display) == ["javascripts/mathjax-config.js", "javascripts/mathjax/tex-chtml.js"]
    yml = mkdocs_config("t", "", [plain, inline])
    assert "http" not in yml and "tex-chtml" not in yml and "glightbox" in yml


def test_mathjax_hook_keeps_the_first_typeset():
    from report.assets import MATHJAX_CONFIG

    # clearCache only after the first document$ emission (instant navigation), never before.
    assert MATHJAX_CONFIG.index("if (first)") < MATHJAX_CONFIG.index("clearCache")


def test_site_assets_are_copied_and_missing_mathjax_is_an_error(tmp_path, monkeypatch):
    from report import assets

    assets.write_site_assets(tmp_path, with_plotly=True)
    assert (tmp_path / assets.MATHJAX_JS).stat().st_size > 100_000
    assert (tmp_path / assets.PLOTLY_JS).stat().st_size > 1_000_000
    assert "ATLAS_EXPLORER" in (tmp_path / assets.EXPLORER_JS).read_text()
    monkeypatch.setattr(assets, "mathjax_dir", lambda: tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="make setup"):
        assets.write_site_assets(tmp_path / "b", with_plotly=False)


# --------------------------------------------------------------------------- exports
# The data files (explorer script, Parquet, vectors, Projector TSV, zip) are tested in tests/test_exports.py.


# --------------------------------------------------------------------------- figures
def test_figure_text_is_readable_at_column_width():
    from report import plotting

    fig, axes = plotting.figure(10.5, 4.0, ncols=3)
    axes[0].set_title("tiny")
    axes[0].set_xlabel("k")
    plotting.readable_text(fig)
    sizes = [t.get_fontsize() for t in fig.findobj(plotting.plt.Text) if t.get_text()]
    shown_px = min(sizes) * plotting.COLUMN_PX / (72 * 10.5)
    assert shown_px >= 9
    plotting.close(fig)


def test_map_colours_do_not_repeat():
    from report import plotting

    groups = [f"id{i}" for i in range(30) for _ in range(30 - i)]
    colors, legend = plotting.top_group_colors(groups)
    named = [c for _, c in legend[:-1]]
    assert len(set(named)) == len(named) == 10
    assert legend[-1][0] == "other (20 groups)"
    assert len({tuple(c) for c in colors}) == 11


def test_comparison_tables_fit_metric_per_row_one_column_per_network():
    from report.model import Section
    from report.pages.compare_views import compact

    frame = pd.DataFrame({
        "dataset": ["d"] * 4, "network": ["n1", "n2", "n1", "n2"], "subset": ["all", "all", "min-5", "min-5"],
        **{f"metric {i}": [0.1 * i, 0.2 * i, 0.3 * i, 0.4 * i] for i in range(12)},
        "EER": [0.01, 0.02, 0.03, 0.04],
    })
    wide = Table("compare-similarity", "Verification.", frame, formats={"EER": ".4f"}, in_paper=True)
    blocks = compact(Section("s", (wide,))).blocks
    head = blocks[0]
    assert head.in_paper and head.frame is frame and "EER" in head.site_columns
    assert len(table_view(head).header) <= MAX_COLUMNS
    per_subset = blocks[1:]
    assert [t.key for t in per_subset] == ["compare-similarity-d-all", "compare-similarity-d-min-5"]
    assert list(per_subset[0].frame.columns) == ["metric", "n1", "n2"]
    eer = per_subset[0].frame.set_index("metric").loc["EER"]
    assert list(eer) == ["0.0100", "0.0200"]
