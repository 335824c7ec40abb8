"""The figure cache: every figure gets its PNG, only the paper's figures get a PDF."""
from __future__ import annotations

import numpy as np

from report import plotting
from report.model import Figure
from report.render import render_figures


def plot_line(data):
    fig, ax = plotting.figure(4.0, 3.0)
    ax.plot(np.arange(len(data)), data)
    ax.set_title("line")
    return fig


def test_pdf_only_for_paper_figures_and_added_when_the_paper_asks(tmp_path):
    site_only = Figure("site-only", "A site figure.", plot_line, (1.0, 3.0, 2.0))
    in_paper = Figure("in-paper", "A paper figure.", plot_line, (2.0, 1.0, 4.0))
    cache = tmp_path / "figures"
    digests, drawn, reused = render_figures([site_only, in_paper], cache, progress=False, pdf_keys=frozenset({"in-paper"}))
    assert (drawn, reused) == (2, 0)
    assert (cache / f"{digests['site-only']}.png").is_file() and (cache / f"{digests['in-paper']}.png").is_file()
    assert (cache / f"{digests['in-paper']}.pdf").read_bytes().startswith(b"%PDF-")
    assert not (cache / f"{digests['site-only']}.pdf").exists()  # the site never links a figure's PDF
    pdf_bytes = (cache / f"{digests['in-paper']}.pdf").read_bytes()
    # Nothing missing: nothing drawn. The site-only figure later joins the paper: only its PDF is drawn.
    assert render_figures([site_only, in_paper], cache, False, frozenset({"in-paper"}))[1:] == (0, 2)
    png_before = (cache / f"{digests['site-only']}.png").stat().st_mtime_ns
    assert render_figures([site_only, in_paper], cache, False, frozenset({"in-paper", "site-only"}))[1] == 1
    assert (cache / f"{digests['site-only']}.pdf").is_file()
    assert (cache / f"{digests['site-only']}.png").stat().st_mtime_ns == png_before
    # A PDF drawn alone has the bytes of one drawn with its PNG.
    (cache / f"{digests['in-paper']}.pdf").unlink()
    render_figures([in_paper], cache, False, frozenset({"in-paper"}))
    assert (cache / f"{digests['in-paper']}.pdf").read_bytes() == pdf_bytes
