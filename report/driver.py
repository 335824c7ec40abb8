"""The driver: config -> study results -> page model -> every output. The only caller of the renderers.

:func:`run` is what ``build_report.py`` (and ``atlas build``) call. It runs the study stage
(:mod:`report.study`: embeddings and cached analyses), builds the page model
(:mod:`report.assemble`), adds the pages that depend on the run itself (Reproducibility with
its timings, Downloads with the files that exist), and hands everything to the renderers
(:mod:`report.render`: figures, ``docs/``, ``mkdocs.yml``, ``site/``, ``paper/``).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from analysis.config import StudyConfig
from analysis.embedding.store import EmbeddingStore, atomic_write_text
from report import console, publishing, render
from report.disk import writing_into
from report import site as site_renderer
from report.assemble import build_report, discovered_clusters
from report.escape import slugify
from report.detections_stage import add_detections
from report.explorer_stage import add_neighbours
from report.locks import build_locks
from report.model import Report
from report.ownership import claim_output_dir, record, remove_staging_leftovers, write_manifest
from report.recognizer_files import export_recognizers
from report.review import write_review_folders
from report.pages.downloads import downloads_page
from report.progress import stage
from report.resources import PROJECT_ROOT, is_source_checkout
from report.pages.reproducibility import reproducibility_page, timings_frame
from report.pages.values import values_page
from report.paper_sources import ZIP_NAME
from report.study import BuildLog, StudyResults, add_galleries, compute_all, embedding_summary, load_inputs
from report.user_latex import paper_inputs
from report.user_pages import user_pages
from report.values import index as value_index


def run(config: StudyConfig, progress: bool = True, build_site: bool | None = None, build_paper: bool | None = None):
    """Run the whole study and render every output.

    Returns
    -------
    (StudyResults, report.render.Outputs, BuildLog)
    """
    cache_dir = Path(config.study.cache_dir)
    roots = dict(cache_dir=cache_dir, config_dir=Path(config.source).parent,
                 project_root=PROJECT_ROOT if is_source_checkout() else None)
    out = claim_output_dir(config.study.output_dir, **roots)  # refuses before anything is written
    with writing_into(out, "output folder", OUTPUT_SETTING), build_locks(cache_dir, out):
        claim_output_dir(out, **roots)  # again: another build may have run while this one waited
        try:
            results, outputs, build = _run_locked(config, progress, build_site, build_paper)
        finally:  # also after a failure: what this build published is its own; its staging folders go
            remove_staging_leftovers(out)
            write_manifest(out)
    return results, outputs, build


# A full disk names the folder and the setting that moves it (report.disk).
OUTPUT_SETTING = "[study] output_dir (--output-dir)"
CACHE_SETTING = "[study] cache_dir (--cache-dir)"


def _run_locked(config: StudyConfig, progress: bool, build_site: bool | None, build_paper: bool | None):
    build = BuildLog()
    t_all = time.perf_counter()
    cache_dir = Path(config.study.cache_dir)
    store = EmbeddingStore(cache_dir)
    with stage("embeddings", progress), writing_into(cache_dir, "cache", CACHE_SETTING):
        inputs = load_inputs(config, store, build, progress)
    t0 = time.perf_counter()
    with stage("analyses", progress), writing_into(cache_dir, "cache", CACHE_SETTING):
        results = compute_all(config, inputs, build, progress)
    build.timings["analyses"] = time.perf_counter() - t0
    results = add_neighbours(config, results, build)  # the explorer's click-to-neighbours lists
    if config.study.galleries:
        t0 = time.perf_counter()
        results = add_galleries(config, results, build)
        results = add_detections(config, results, build)  # detection-overlay pages, privacy-gated like galleries
        build.timings["galleries"] = time.perf_counter() - t0
    # The recogniser of each labelled image dataset, for `predict`: beside the outputs, never published.
    build.models = export_recognizers(results, Path(config.study.output_dir), warn=build.warnings.append)
    # Aligned crops per discovered cluster for a local review (review_dir of unlabelled datasets).
    build.review = write_review_folders(results, lambda name: discovered_clusters(results, name),
                                        warn=build.warnings.append)
    t0 = time.perf_counter()
    with stage("page model", progress):
        report = build_report(results)
    build.timings["page model"] = time.perf_counter() - t0
    outputs = render_all(
        report,
        results,
        build,
        site=config.study.build_site if build_site is None else build_site,
        paper=config.study.build_paper if build_paper is None else build_paper,
        progress=progress,
    )
    build.timings["total"] = time.perf_counter() - t_all
    return results, outputs, build


def render_all(report: Report, results: StudyResults, build: BuildLog, site: bool, paper: bool,
               progress: bool) -> render.Outputs:
    """Add the run's own pages, then render the site sources, the paper and (optionally) build both."""
    cfg = results.config
    out = Path(cfg.study.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(cfg.study.cache_dir)
    fig_cache = cache / "figures"

    embedding_files = {}
    links = []
    for inp in results.inputs:
        for net, emb in sorted(inp.embeddings.items()):
            name = f"downloads/embeddings-{slugify(inp.spec.name)}-{slugify(net)}.json"
            embedding_files[name] = json.dumps(embedding_summary(emb), indent=2, sort_keys=True) + "\n"
            links.append((f"Embedding metadata: {inp.spec.name} / {net} (JSON)", name))

    pages = list(report.pages)
    config_text = cfg.source.read_text(encoding="utf-8-sig")  # a byte-order mark is no part of the config
    pages.append(reproducibility_page(results, config_text, timings_frame(results)))
    pages.append(values_page(report, pages))
    vector_sets = publishing.vector_sets(results, pages)  # empty unless [study] publish_vectors = true
    pages.append(downloads_page(pages, has_pdf=paper, embedding_files=links, galleries=bool(results.galleries),
                                publish_vectors=cfg.study.publish_vectors,
                                vector_files=publishing.vector_links(vector_sets)))
    figures, tables = render.collect(pages)
    # The researcher's pages and LaTeX files, read and checked (every key known) before anything is drawn or written.
    values = value_index(report.values)
    notes, note_warnings = (user_pages(cfg.site.pages, values, [site_renderer.page_file(p) for p in pages])
                            if cfg.site.pages is not None else ((), []))
    build.warnings.extend(note_warnings)
    user_paper = paper_inputs(cfg.paper, set(values)) if paper else None
    copied = {a: src for note in notes for a, src in note.assets}
    embedding_files.update({note.file: note.text for note in notes})

    console.stage("figures", progress)
    pdf_keys = render.paper_figure_keys(report) if paper else frozenset()
    with writing_into(fig_cache, "cache", CACHE_SETTING):
        digests, drawn, reused = render.render_figures(figures, fig_cache, progress, pdf_keys,
                                                       render.pdf_width_in(cfg.paper.document_class))
    build.record(f"figures ({drawn} drawn)", reused=False) if drawn else None
    build.record(f"figures ({reused} from cache)", reused=True) if reused else None

    pdf, paper_rebuilt, warnings = (None, False, ())
    if paper:
        with stage("paper (latexmk)", progress):
            pdf, paper_rebuilt, warnings = render.build_paper(report, out / "paper", digests, fig_cache, cfg.paper,
                                                              user_paper)
        build.warnings.extend(f"LaTeX: {w}" if w.startswith(("LaTeX", "Package")) else w for w in warnings)
        if (out / "paper" / ZIP_NAME).is_file():
            copied["downloads/paper-source.zip"] = out / "paper" / ZIP_NAME
    render.write_docs(pages, tables, digests, fig_cache, out / "docs", pdf, embedding_files, copied, values,
                      tuple(vector_sets))
    record(out, ["mkdocs.yml", ".site-inputs.sha256"])
    render.write_theme(out)
    atomic_write_text(out / "mkdocs.yml", site_renderer.mkdocs_config(cfg.study.title, cfg.study.site_url, pages,
                                                                      [(n.title, n.file) for n in notes]))
    index, site_rebuilt = (None, False)
    if site:
        with stage("site (mkdocs)", progress):
            index, site_rebuilt = render.build_site(out)
    return render.Outputs(out, out / "docs", index, pdf, drawn, reused, site_rebuilt, paper_rebuilt, warnings)
