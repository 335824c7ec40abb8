"""The notes that say, on every page that uses one, which large-set approximation ran and how good it was.

Above ``[similarity] exact_max_rows`` rows the impostor histogram is a seeded sample
(:mod:`analysis.statistics.sampled_pairs`); above ``[classifiers] knn_exact_max_rows`` the k-NN
search is approximate (:mod:`analysis.statistics.ann`). Exact runs get no note.
"""
from __future__ import annotations

import numpy as np

from analysis.statistics.classifiers import ClassifierResult
from analysis.statistics.sampled_pairs import far_interval
from analysis.statistics.similarity import SimilarityResult
from report.format import count, pct
from report.model import Admonition, Text


def similarity_note(r: SimilarityResult) -> Admonition | None:
    """Sample size of the impostor pairs and the 95% interval of each FAR read from it."""
    s = r.impostor_sample
    if s is None:
        return None
    h, v = r.histograms, r.verification
    parts = []
    for level, thr in zip(v.far_levels, v.threshold_at_far):
        if not np.isfinite(thr):
            continue
        lo, hi, above = far_interval(s, int(np.searchsorted(h.edges[:-1], thr - 1e-12)))
        parts.append(f"FAR {level:g}: {count(above)} sampled pairs above the threshold, "
                     f"FAR of all pairs in [{lo:.2e}, {hi:.2e}] (95% interval from the spread between groups)")
    text = (f"Approximate: {count(r.n_samples)} rows are more than [similarity] exact_max_rows = "
            f"{count(r.params.exact_max_rows)}, so genuine pairs are all counted exactly ({count(h.n_genuine)}) but "
            f"impostor pairs are a seeded sample of {count(s.n_sampled)} of the {count(s.population)} "
            f"({pct(s.n_sampled / max(s.population, 1), 3)}), drawn in {len(s.group_counts)} independent groups of "
            f"{s.group_rows} x {s.group_rows} rows; impostor rates, TAR@FAR and EER are read from that sample. "
            + ("; ".join(parts) + "." if parts else ""))
    return Admonition("note", "Impostor pairs sampled", (Text(text),))


def classifiers_note(r: ClassifierResult) -> Admonition | None:
    """Method and measured recall of an approximate k-NN search."""
    a = r.knn_ann
    if a is None:
        return None
    text = (f"Approximate: {count(r.n_samples)} rows are more than [classifiers] knn_exact_max_rows = "
            f"{count(r.params.knn_exact_max_rows)}, so the k-NN classifier reads an approximate neighbour search "
            f"(FAISS {a.method}, {count(a.nlist)} cells, {a.nprobe} searched per query). Its measured recall on "
            f"{count(a.recall_queries)} seeded rows searched exactly as well: {pct(a.recall, 2)} of the true neighbours found.")
    return Admonition("note", "Approximate nearest neighbours", (Text(text),))
