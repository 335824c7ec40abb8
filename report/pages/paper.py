"""The paper: abstract, Introduction, Data, Methods, Results, Discussion, Conclusion.

Sections are written from the results (:mod:`report.pages.paper_findings`) and the run's
provenance (:mod:`report.pages.paper_methods`); figures and tables are the site's own objects
(marked ``in_paper``), and every one of them is referred to from the text by number. Every number
of the prose is a key of the value registry (:class:`report.model.Val`: ``\\atlasvalue{key}`` in
the LaTeX), so the paper is the first user of the mechanism a researcher's own sections use.
"""
from __future__ import annotations

import math
import sys

import numpy as np

from report.format import count
from report.model import Admonition, Bullets, Cite, Figure, P, Page, PaperSection, Ref, Table, Val, spans
from report.pages import differentials, paper_findings as pf
from report.pages import paper_protocols as pp
from report.pages.overview import overview_page
from report.pages.paper_methods import refs_sentence, data_section, methods_section
from report.steps import cell_steps, dataset_steps
from report.study import StudyResults
from report.value_sources import CELL_VALUES, PAPER_SENTENCES
from report.values import cell_key, dataset_key, template_spans


def _n(k: int, noun: str) -> str:
    """``1 network``, ``2 networks``."""
    return f"{k} {noun}" + ("" if k == 1 else "s")


def _synthetic(results: StudyResults) -> bool:
    return any(e.synthetic for i in results.inputs for e in i.embeddings.values())


def _in_paper(page: Page | None) -> list:
    if page is None:
        return []
    # An empty table (no suspects, say) is a sentence, not a float: the page builders' text says so.
    return [b for b in page.blocks() if (isinstance(b, Figure) or (isinstance(b, Table) and len(b.frame)))
            and b.in_paper]


# --------------------------------------------------------------------------- per-cell sentences
def _cell_sentence(step_name: str, cell, res) -> list:
    """What the Results say about one cell of an analysis: its sentence template with the cell's keys
    (:data:`report.value_sources.PAPER_SENTENCES`); an analysis without one falls back to its headline."""
    template = PAPER_SENTENCES.get(step_name)
    if template is None or step_name not in CELL_VALUES:
        module = sys.modules[cell_steps()[[s.name for s in cell_steps()].index(step_name)].page.__module__]
        headline = getattr(module, "headline", None)
        return [text.rstrip(".")] if headline is not None and (text := headline(res)) else []
    entries = {e.name: e for e in CELL_VALUES[step_name](res)}
    text = template(entries) if callable(template) else template
    return template_spans(text, lambda name: cell_key(cell, step_name, name), entries) if text else []


def _results_section(results: StudyResults, by_path: dict) -> PaperSection:
    subs = []
    sim = results.cell_results.get("similarity", {})
    rows = pf.verification_rows(sim)
    params = results.config.similarity
    for step in cell_steps():
        step_results = results.cell_results.get(step.name, {})
        paragraphs: list = []
        blocks: list = []
        if step.name == "similarity" and rows:
            lo, hi = pf.headline_numbers(rows)
            if lo is not None:
                paragraphs.append(P(*pf.spans_summary(rows, lo, hi)))
            paragraphs += pf.comparison_paragraphs(rows)
            sp = pf.subset_paragraph(rows)
            paragraphs += [sp] if sp else []
            tp = pf.tar_paragraph(rows, params.min_impostor_pairs)
            paragraphs += [tp] if tp else []
            blocks += [pf.verification_table(rows, params.confidence),
                       pf.tar_table(rows, params.confidence, params.min_impostor_pairs)]
            if (ft := pp.fnmr_table(sim, params.confidence)) is not None:  # ISO/IEC 19795-1 terms
                paragraphs += [p for p in (pp.fnmr_paragraph(sim),) if p is not None]
                blocks.append(ft)
        if step.name == "identification":
            ip = pp.identification_paragraph(step_results)
            paragraphs += [ip] if ip else []
        if step.name == "classifiers":
            cp = pf.classifier_paragraph(pf.best_classifiers(step_results))
            paragraphs += [cp] if cp else []
        for cell in results.cells:
            res = step_results.get(cell)
            cell_blocks = _in_paper(by_path.get((cell.dataset, cell.network, cell.subset, step.name)))
            if res is None or not cell_blocks:
                continue
            sentence = _cell_sentence(step.name, cell, res)
            paragraphs.append(P(f"On {cell.dataset} / {cell.network} / {cell.subset}",
                                *([": ", *sentence, ". "] if sentence else [". "]), *refs_sentence(cell_blocks), "."))
            blocks += cell_blocks
        if results.cell_skips.get(step.name):
            paragraphs.append(P(f"{step.title} could not run on {len(results.cell_skips[step.name])} cell(s); the "
                                "site lists why."))
        if blocks:
            subs.append(PaperSection(_result_title(step.name, step.title), (*paragraphs, *blocks)))
    for step in dataset_steps():
        blocks = []
        for inp in results.inputs:
            blocks += _in_paper(by_path.get((inp.spec.name, "networks")))
        if blocks:
            subs.append(PaperSection(step.title, (P(*refs_sentence(blocks), "."), *blocks)))
    comp = _in_paper(by_path.get(("comparisons",)))
    if comp:
        subs.append(PaperSection("All cells side by side", (P(
            "The same statistics for every dataset, network and subset: ", *refs_sentence(comp),
            ". Subsets change the identities and so the pair populations; compare networks within a subset."), *comp)))
    return PaperSection("Results", (), tuple(subs))


def _result_title(name: str, title: str) -> str:
    return {"similarity": "Verification", "manifold": "Two-dimensional maps", "audit": "Label audit",
            "classifiers": "Identity classifiers", "differentials": "Demographic and covariate differentials"}.get(name, title)


# --------------------------------------------------------------------------- prose sections
def _introduction(results: StudyResults) -> PaperSection:
    cfg = results.config
    nets = sorted({n for i in results.inputs for n in i.embeddings})
    blocks = [
        P("Face-recognition networks map a face image to a vector whose direction encodes identity ",
          Cite("deng2019arcface"), Cite("schroff2015facenet"), ". How those vectors are arranged (how compact and how "
          "low-dimensional each identity is, how far apart identities lie, and how well unsupervised methods recover "
          "them) decides verification thresholds, the clustering of unlabelled collections and the curation of "
          "datasets."),
        P(f"This study compares {_n(len(nets), 'embedding network')} ({', '.join(nets)}) on "
          f"{_n(len(results.inputs), 'dataset')} ({', '.join(i.spec.name for i in results.inputs)}) and "
          f"{_n(len(cfg.subsets), 'subset')} of identities ({', '.join(cfg.subsets)}). We report verification error "
          "rates with bootstrap intervals over identities and rank networks only where those intervals separate them, "
          "together with per-identity geometry, clustering, two-dimensional maps, identity classifiers and a label "
          "audit. Every number, table and figure is regenerated by one command from the study configuration."),
    ]
    if _synthetic(results):
        blocks.append(Admonition("warning", "Synthetic data", spans(
            "The data of this study are a synthetic demo generated by the project, not faces: the numbers illustrate the "
            "method and say nothing about real networks.")))
    return PaperSection("Introduction", tuple(blocks))


def _discussion(results: StudyResults) -> PaperSection:
    sim = results.cell_results.get("similarity", {})
    rows = pf.verification_rows(sim)
    items: list = []
    if rows:
        widest = max(rows, key=lambda r: (r.eer.high - r.eer.low if math.isfinite(r.eer.high) else -1, r.cell.subset))
        few = min(rows, key=lambda r: (r.identities, r.cell.dataset, r.cell.network, r.cell.subset))
        items.append(("Intervals are over identities: the smallest cell has ",
                      Val(cell_key(few.cell, "similarity", "identities")), " identities, and the widest EER interval "
                      f"({widest.cell.network} / {widest.cell.subset}) is ", *pf.eer_spans(widest),
                      ". Differences smaller than that are not evidence for either network."))
        missing = sum(not t.estimable for r in rows for t in r.tar)
        if missing:
            items.append((f"{missing} TAR values are not estimable here: low false accept rates need many more "
                          "impostor pairs than this study has, so its operating points for large galleries are unknown.",))
    geo = results.cell_results.get("geometry", {})
    capped = sum(int(np.sum(r.l2.identities.pca_capped)) for r in geo.values())
    if capped:
        items.append((f"PCA dimensions reached their cap of n-1 for {capped} identity-cell(s): with few images per "
                      "identity PCA understates the dimension, which the TwoNN estimate ", Cite("facco2017twonn"),
                      " does not.",))
    junk = sorted({j for r in sim.values() for j in r.junk_identities})
    if junk:
        items.append((f"The label(s) {', '.join(junk)} are used as given, so their pairs count as genuine although "
                      "nothing says they show one person; they inflate the genuine spread.",))
    if any(r.uncertainty is not None and r.uncertainty.subsampled for r in sim.values()):
        items.append(("Bootstrap replicates were drawn from a seeded sample of the embeddings; point estimates use "
                      "every pair.",))
    items += differentials.discussion(results.cell_results.get("differentials", {}))
    items.append(("2-D maps (t-SNE ", Cite("vandermaaten2008tsne"), ", UMAP ", Cite("mcinnes2018umap"),
                  ") distort distances; trustworthiness says how much local structure survives, not global layout.",))
    items.append(("Label-noise candidates are suspicions ranked by evidence, not verified errors.",))
    lead = ("All data in this study are synthetic, so the discussion concerns the method, not any real network. "
            if _synthetic(results) else "")
    return PaperSection("Discussion", (P(lead + "What the numbers support, and what limits them in this study:"),
                                       Bullets(*items)))


def _conclusion(results: StudyResults, findings: list[list]) -> PaperSection:
    text = [p for f in findings for p in (*f, " ")] if findings else [
        "The study produced no comparable verification figures. "]
    return PaperSection("Conclusion", (P(*text, "The site published with this paper holds every table as CSV and an "
                                         "interactive map per cell."),))


def headline_findings(results: StudyResults) -> list[list]:
    """3-5 findings with numbers (each a list of strings and :class:`Val` spans), for the abstract and the conclusion."""
    out: list[list] = []
    rows = pf.verification_rows(results.cell_results.get("similarity", {}))
    lo, hi = pf.headline_numbers(rows)
    if lo is not None and lo is hi:
        out.append(["The equal error rate is ", *pf.eer_spans(lo), " and d-prime ", *pf.d_prime_spans(lo),
                    f" ({lo.cell.network} / {lo.cell.subset})."])
    elif lo is not None:
        out.append(["Equal error rates range from ", *pf.eer_spans(lo), f" ({lo.cell.network} / {lo.cell.subset}) to ",
                    *pf.eer_spans(hi), f" ({hi.cell.network} / {hi.cell.subset})."])
    out += pf.comparison_claims([r for r in rows if r.cell.subset == results.config.subsets[0]])[:2]
    cls = pf.best_classifiers(results.cell_results.get("classifiers", {}))
    if cls:
        best = max(cls, key=lambda r: (r.accuracy.estimate, r.cell.network, r.cell.subset))
        out.append(["The best identity classifier (", *pf.classifier_spans(best), ") reaches ", *pf.accuracy_spans(best),
                    f" accuracy on {best.cell.network} / {best.cell.subset}."])
    geo = results.cell_results.get("geometry", {})
    tw = sorted((c for c, r in geo.items() if c.subset == results.config.subsets[0] and math.isfinite(r.l2.global_twonn)),
                key=lambda c: (c.network, c.dataset))
    if tw:
        parts: list = []
        for i, c in enumerate(tw):
            parts += [", " if i else "", Val(cell_key(c, "geometry", "twonn")), f" ({c.network}, ",
                      Val(cell_key(c, "geometry", "dims")), "-D)"]
        out.append(["The embeddings occupy far fewer dimensions than they have: TwoNN intrinsic dimension ",
                    *[p for p in parts if p != ""], "."])
    return out[:5]


def abstract(results: StudyResults) -> tuple:
    cfg = results.config
    parts: list = []
    for i, inp in enumerate(results.inputs):
        kind = "synthetic embedding rows" if _synthetic(results) else "images"
        parts += ["; " if i else "", f"{inp.spec.name} (", Val(dataset_key(inp.spec.name, "data", "inputs")),
                  f" {kind} of ", Val(dataset_key(inp.spec.name, "data", "identities")), " identities)"]
    nets = sorted({n for i in results.inputs for n in i.embeddings})
    text: list = [f"We study the embedding spaces of {_n(len(nets), 'network')} ({', '.join(nets)}) on ",
                  *[p for p in parts if p != ""],
                  f", in {_n(len(cfg.subsets), 'subset')} of identities, with intervals from a bootstrap over identities. "]
    for f in headline_findings(results):
        text += [*f, " "]
    if _synthetic(results):
        text.append("The data are a synthetic demo, not faces.")
    while text and isinstance(text[-1], str) and text[-1] == " ":
        text.pop()
    return spans(*text)


def paper_sections(results: StudyResults, pages: list[Page]) -> tuple[PaperSection, ...]:
    by_path = {p.path: p for p in pages}
    grid = [b for b in overview_page(results, False).blocks() if isinstance(b, Table) and b.in_paper]
    data_blocks = []
    for inp in results.inputs:
        data_blocks += _in_paper(by_path.get(("data", inp.spec.name)))
    return (
        _introduction(results),
        data_section(results, grid, data_blocks),
        methods_section(results),
        _results_section(results, by_path),
        _discussion(results),
        _conclusion(results, headline_findings(results)),
    )
