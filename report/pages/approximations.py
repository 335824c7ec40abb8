"""The notes that say, on every page that uses one, which large-set approximation ran and how good it was.

Above ``[similarity] exact_max_rows`` rows the impostor histogram is a seeded sample
(:mod:`analysis.statistics.verification.sampled_pairs`); above ``[classifiers] knn_exact_max_rows`` the k-NN
search is approximate (:mod:`analysis.statistics.search.ann`); above ``[clustering] assign_exact_max_rows``,
``[classifiers] knn_exact_max_rows`` and ``[audit] exact_max_rows`` nearest-centre searches go through
a FAISS index of the centres (:mod:`analysis.statistics.search.centre_search`) and the audit's pair passes
are sampled or indexed (:mod:`analysis.statistics.audit.large`); above ``matrix_max_identities``
the centroid matrices cover a seeded sample of identities; above ``[classifiers] cv_max_rows`` the
nearest-centroid and k-NN classifiers are scored on one fold. Exact runs get no note.
"""
from __future__ import annotations

import numpy as np

from analysis.statistics.audit.audit import AuditResult
from analysis.statistics.search.centre_search import CentreSearch
from analysis.statistics.classifiers.classifiers import ClassifierResult
from analysis.statistics.clustering.clustering import ClusteringResult
from analysis.statistics.geometry import GeometryResult
from analysis.statistics.verification.sampled_pairs import far_interval
from analysis.statistics.verification.similarity import SimilarityResult
from report.format import count, pct
from report.model import Admonition, Text


def similarity_note(r: SimilarityResult) -> Admonition | None:
    """Sample size of the impostor pairs and the 95% interval of each FAR read from it."""
    s = r.impostor_sample
    if s is None and r.matrix_identities is not None:
        return Admonition("note", "Centroid matrices of sampled identities", (Text(
            f"The centroid matrices (and the distribution over all pairs of identities read from them) cover a seeded "
            f"sample of {count(len(r.matrix_identities))} of the {count(len(r.names))} identities "
            f"([similarity] matrix_max_identities); each identity's nearest other centroid is searched among all of "
            f"them, exactly."),))
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
    if r.matrix_identities is not None:
        text += (f" The centroid matrices (and the distribution over all pairs of identities read from them) cover a "
                 f"seeded sample of {count(len(r.matrix_identities))} of the {count(len(r.names))} identities "
                 f"([similarity] matrix_max_identities); each identity's nearest other centroid is searched among all "
                 f"of them, exactly.")
    return Admonition("note", "Impostor pairs sampled", (Text(text),))


def _centre_search_text(s: CentreSearch) -> str:
    return (f"inverted-file index of the {count(s.n_centres)} centres ({count(s.nlist)} seeded k-means cells, {s.nprobe} searched per "
            f"row, chosen so that at least 99% of seeded rows agree with the exact search where possible); on "
            f"{count(s.checked_rows)} seeded rows searched exactly as well, {pct(s.agreement, 2)} got the same answer")


def classifiers_note(r: ClassifierResult) -> Admonition | None:
    """Method and measured recall of an approximate k-NN search and of a nearest-centroid index."""
    a = r.knn_ann
    c = r.centroid_search
    one_fold = [s for s in r.scores if s.scope == "all" and s.folds_scored < r.folds]
    if a is None and c is None and not one_fold:
        return None
    parts = []
    if one_fold:
        tests = ", ".join(f"{count(s.n_test)} test images of the {'true labels' if s.labels == 'true' else 'pseudo-labels'}"
                          for s in one_fold if s.classifier == "knn")
        lead = "One fold scored: " if a is not None or c is not None else ""  # else it is the note's title
        parts.append(f"{lead}{count(r.n_samples)} rows are more than [classifiers] cv_max_rows = "
                     f"{count(r.params.cv_max_rows)}, so the nearest-centroid and k-NN classifiers on all classes are "
                     f"scored on the first of the {r.folds} stratified folds of each label source ({tests}), and the "
                     "neighbour search is made for those rows only; the accuracy's 95% Wilson interval is given "
                     "instead of a spread over folds.")
    if a is not None:
        parts.append(f"Approximate: {count(r.n_samples)} rows are more than [classifiers] knn_exact_max_rows = "
                     f"{count(r.params.knn_exact_max_rows)}, so the k-NN classifier reads an approximate neighbour search "
                     f"({a.method}, {count(a.nlist)} cells, {a.nprobe} searched per query, the number chosen to reach "
                     + (f"99% agreement of the {a.vote_k}-NN vote with the exact search's where possible). "
                        if a.vote_agreement is not None else "a recall of 0.99 where possible). ")
                     + f"Measured on {count(a.recall_queries)} seeded rows searched exactly as well: "
                     + (f"the leave-one-out {a.vote_k}-NN vote of {pct(a.vote_agreement, 2)} of them is the exact one; "
                        if a.vote_agreement is not None else "")
                     + f"{pct(a.recall, 2)} of the true neighbours found"
                     + (f", {pct(a.recall_first, 2)} of the {a.first_k - 1} nearest (those the k-NN vote reads first)."
                        if a.recall_first is not None and a.first_k else "."))
    if c is not None:
        parts.append(f"The nearest-centroid predictions and the pseudo-label assignment use a {_centre_search_text(c)} "
                     "(the lowest agreement over the folds and label sources).")
    title = "Approximate nearest neighbours" if a is not None or c is not None else "One fold scored"
    return Admonition("note", title, (Text(" ".join(parts)),))


def clustering_note(r: ClusteringResult) -> Admonition | None:
    """How KMeans rows were assigned through a centre index, and the sampled dendrogram."""
    s = r.sampling
    if not s.assignment and not s.dendrogram_identities and not s.max_k:
        return None
    parts = []
    if s.max_k:
        parts.append(f"{count(r.n_samples)} rows are more than [clustering] assign_exact_max_rows = "
                     f"{count(r.params.assign_exact_max_rows)}, so the KMeans sweep keeps at least 10 fitted rows per "
                     f"cluster: k at most {count(s.max_k)} for a fit on {count(s.kmeans_fit_rows)} rows "
                     "(raise [clustering] kmeans_max_samples for larger k).")
    if s.assignment:
        worst_k, worst = min(s.assignment, key=lambda kv: kv[1].agreement)
        ks = ", ".join(str(k) for k, _ in s.assignment)
        parts.append(f"Approximate: {count(r.n_samples)} rows are more than [clustering] assign_exact_max_rows = "
                     f"{count(r.params.assign_exact_max_rows)}, so for k = {ks} every row is assigned to its nearest KMeans "
                     f"centre through a {_centre_search_text(worst)} (k = {worst_k}, the lowest agreement of the sweep); "
                     "inertia, Davies-Bouldin and Calinski-Harabasz are computed exactly on that assignment.")
    if s.dendrogram_identities:
        parts.append(f"The dendrogram joins a seeded sample of {count(s.dendrogram_identities)} of the "
                     f"{count(r.n_identities)} identity centroids ([clustering] dendrogram_max_identities).")
    return Admonition("note", "Approximate assignment", (Text(" ".join(parts)),))


def audit_note(r: AuditResult) -> Admonition | None:
    """The audit's indexed and sampled passes above ``[audit] exact_max_rows``."""
    if not r.centroid_searches and not r.pair_sample_identities and r.duplicates.search is None:
        return None
    parts = [f"Approximate: {count(r.n_samples)} rows are more than [audit] exact_max_rows = "
             f"{count(r.params.exact_max_rows)}."]
    if r.centroid_searches:
        near, mean = (r.centroid_searches + r.centroid_searches)[:2]
        parts.append(f"Each image's nearest other centroid (and the silhouette's nearest other identity) is searched "
                     f"among {near.method} ({mean.nprobe} for the silhouette); on {count(near.checked_rows)} seeded images "
                     f"also searched among all identities, {pct(near.agreement, 2)} found the same nearest centroid and "
                     f"{pct(mean.agreement, 2)} the same silhouette neighbour"
                     + (f", and {pct(r.suspect_agreement, 2)} got the same suspected-mislabel verdict"
                        if r.suspect_agreement is not None else "")
                     + ". Own-centroid cosines are exact.")
    if r.pair_sample_identities:
        parts.append(f"The median, spread and split quantile of centroid-pair cosines come from every pair of a seeded "
                     f"sample of {count(r.pair_sample_identities)} identities ([audit] pair_sample_identities); the "
                     "flagged pairs are searched among all pairs, exactly.")
    d = r.duplicates.search
    if d is not None:
        parts.append(f"Near-duplicates are screened within the {d.nprobe} nearest of {count(d.nlist)} cells of an IVF index "
                     f"of the 32-D projection; the index finds the nearest screened image of {pct(d.recall, 2)} of "
                     f"{count(d.checked_rows)} seeded images (every reported pair is checked with its full cosine).")
    return Admonition("note", "Approximate audit passes", (Text(" ".join(parts)),))


def geometry_note(r: GeometryResult) -> Admonition | None:
    """The centroid cosine matrix of a sample of identities (many identities)."""
    m = r.l2.matrix_identities
    if m is None:
        return None
    return Admonition("note", "Centroid matrix of sampled identities", (Text(
        f"The centroid cosine matrix (heatmap, median centroid cosine) covers a seeded sample of {count(len(m))} of the "
        f"{count(r.n_identities)} identities ([geometry] matrix_max_identities): a full matrix would not fit in memory."),))
