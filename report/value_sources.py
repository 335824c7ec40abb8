"""Where each analysis declares the numbers it reports: the sources of the value registry.

One function per analysis, ``<name>_values(result) -> list[Entry]``, registered in
:data:`CELL_VALUES` (per cell) or :data:`DATASET_VALUES` (per dataset, across networks) under the
analysis' step name; :mod:`report.values` turns the entries into keyed :class:`report.values.Value`
records (``<dataset>/<network>/<subset>/<analysis>/<name>``). An entry's ``text`` is formatted
exactly as the analysis' page shows the number (the same :mod:`report.format` call as its page
builder), so the site, the paper (``\\atlasvalue``), ``values.csv`` and the researcher's pages
print the same characters; ``tests/test_values.py`` checks every text against its page.

:data:`PAPER_SENTENCES` holds, per analysis, the sentence the paper's Results say about one cell,
with ``{name}`` placeholders for the cell's keys (``report.pages.paper`` turns them into
``\\atlasvalue`` spans). A new analysis adds its numbers here: one function, one entry in
:data:`CELL_VALUES`, and optionally a sentence.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from analysis.statistics.levels import level_slug
from analysis.statistics.uncertainty import wilson_interval
from report.format import count, fixed, num, pct

#: The text of a reported value whose estimate rests on too little data (site and paper alike).
NOT_ESTIMABLE = "not estimable"


@dataclass(frozen=True)
class Entry:
    """One number an analysis reports, before it gets its key and page.

    Parameters
    ----------
    name : str
        Last part of the key: lower-case letters, digits and hyphens (``eer``, ``tar-at-far-1e-3``).
    value : float, int, str or None
        The raw value (None when not estimable).
    text : str
        The value formatted as its page shows it.
    description : str
        What the number is, in a few words.
    low, high : float or None
        The interval, where the analysis gives one.
    interval_text : str
        The interval formatted as its page shows it (``[0.52%, 0.91%]``).
    """

    name: str
    value: Any
    text: str
    description: str
    low: float | None = None
    high: float | None = None
    interval_text: str = ""


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float, np.integer, np.floating)) and math.isfinite(float(x))


def _bracket(i, fmt: Callable[[float], str]) -> tuple[float | None, float | None, str]:
    """``(low, high, "[low, high]")`` of an interval formatted with ``fmt``; empty when it has no finite bounds."""
    if i is None or not (_finite(i.low) and _finite(i.high)):
        return None, None, ""
    return float(i.low), float(i.high), f"[{fmt(i.low)}, {fmt(i.high)}]"


def far_slug(far: float) -> str:
    """``1e-3`` for 0.001: the FAR level as it appears in keys and labels."""
    return level_slug(far)


# --------------------------------------------------------------------------- per-cell sources
def similarity_values(r) -> list[Entry]:
    """Verification figures of a cell's similarity page (``report.pages.similarity``)."""
    h, v, u = r.histograms, r.verification, r.uncertainty
    d_lo, d_hi, d_txt = _bracket(u.d_prime if u else None, lambda x: fixed(x, 2))
    e_lo, e_hi, e_txt = _bracket(u.eer if u else None, lambda x: f"{100 * x:.2f}%")
    out = [
        Entry("images", int(r.n_samples), count(r.n_samples), "L2-normalised embeddings of the cell"),
        Entry("identities", len(r.names), str(len(r.names)), "identities of the cell"),
        Entry("genuine-pairs", int(h.n_genuine), count(h.n_genuine), "genuine pairs (same identity)"),
        Entry("impostor-pairs", int(h.n_impostor), count(h.n_impostor), "impostor pairs (different identities)"),
        Entry("d-prime", float(v.d_prime), fixed(v.d_prime, 2), "d-prime of genuine vs impostor cosines", d_lo, d_hi, d_txt),
        Entry("overlap", float(v.overlap), pct(v.overlap), "shared area of the genuine and impostor histograms"),
        Entry("eer", float(v.eer), pct(v.eer, 2), "equal error rate over all pairs", e_lo, e_hi, e_txt),
        Entry("eer-threshold", float(v.eer_threshold), fixed(v.eer_threshold), "cosine threshold at the EER"),
        Entry("auc", float(v.auc), num(float(v.auc), 4), "area under the ROC curve"),
    ]
    tars = u.tar_at_far if u is not None else ()
    for i, (f, t) in enumerate(zip(v.far_levels, v.tar_at_far)):
        est = tars[i] if i < len(tars) else None
        name = f"tar-at-far-{far_slug(f)}"
        what = f"true accept rate at a false accept rate of {far_slug(f)}"
        if est is not None and not est.estimable:
            out.append(Entry(name, None, NOT_ESTIMABLE, f"{what} ({est.reason})"))
            # Why: the page names the count ("not estimable (12 impostor pairs above the threshold)").
            out.append(Entry(f"accepted-impostors-at-far-{far_slug(f)}", int(est.accepted_impostors),
                             f"{est.accepted_impostors:,d}", f"impostor pairs above the threshold of FAR {far_slug(f)}"))
        else:
            lo, hi, txt = _bracket(est.interval if est else None, fixed)
            out.append(Entry(name, float(t), fixed(float(t)), what, lo, hi, txt))
    if r.operating_points is not None:
        out += operating_point_entries(r.operating_points)
    if r.pairs is not None:
        out.append(Entry("pairs-accuracy", float(r.pairs.accuracy_mean), pct(r.pairs.accuracy_mean, 2),
                         "accuracy of the pairs protocol (mean over folds)"))
    return out


def operating_point_entries(op) -> list[Entry]:
    """FNMR at each FMR level, ZeroFMR and ZeroFNMR, as the similarity page's ISO/IEC 19795-1 table shows them
    (``report.pages.operating_points``: four decimals, the interval ``[low, high]``)."""
    out = []
    for row in op.fnmr_at_fmr:
        name, what = f"fnmr-at-fmr-{far_slug(row.fmr)}", f"false non-match rate at a false match rate of {far_slug(row.fmr)}"
        if not row.estimable:
            out.append(Entry(name, None, NOT_ESTIMABLE, f"{what} ({row.reason})"))
            continue
        lo, hi, txt = _bracket(row.interval, lambda x: f"{x:.4f}")
        out.append(Entry(name, float(row.fnmr), f"{row.fnmr:.4f}", what, lo, hi, txt))
        out.append(Entry(f"threshold-at-fmr-{far_slug(row.fmr)}", float(row.threshold), f"{row.threshold:.4f}",
                         f"cosine threshold of FMR {far_slug(row.fmr)}"))
    z, zn = op.zero_fmr, op.zero_fnmr
    return out + [
        Entry("zero-fmr", float(z.value), f"{z.value:.4f}", "ZeroFMR: lowest FNMR with no non-mated pair accepted"),
        Entry("zero-fnmr", float(zn.value), f"{zn.value:.4g}", "ZeroFNMR: lowest FMR with no mated pair rejected"),
    ]


def geometry_values(r) -> list[Entry]:
    """Per-identity geometry of a cell's geometry page (``report.pages.geometry``)."""
    g = r.l2.identities
    return [
        Entry("images", int(r.n_samples), f"{r.n_samples:,d}", "embeddings of the cell"),
        Entry("identities", int(r.n_identities), str(r.n_identities), "identities of the cell"),
        Entry("dims", int(r.n_dims), str(r.n_dims), "dimensions of the embeddings"),
        Entry("median-radius", float(np.median(g.radius)), fixed(float(np.median(g.radius))),
              "median identity radius (L2-normalised)"),
        Entry("median-dispersion", float(np.median(g.dispersion)), fixed(float(np.median(g.dispersion))),
              "median identity dispersion (L2-normalised)"),
        Entry("median-intrinsic-dim", float(np.median(g.intrinsic_dim)), num(float(np.median(g.intrinsic_dim))),
              "median PCA intrinsic dimension of the identities"),
        Entry("pca-capped", int(g.pca_capped.sum()), str(int(g.pca_capped.sum())),
              "identities whose PCA dimension reached n-1"),
        Entry("twonn", float(r.l2.global_twonn), num(r.l2.global_twonn), "TwoNN intrinsic dimension of the whole cloud"),
        Entry("median-raw-norm", float(np.median(r.norms)), fixed(float(np.median(r.norms)), 2), "median raw norm"),
    ]


def clustering_values(r) -> list[Entry]:
    """KMeans at the identity count and the best method by ARI (``report.pages.clustering``)."""
    if not r.methods:
        return []
    km = next((m for m in r.methods if m.method == "kmeans"), None)
    best = max(r.methods, key=lambda m: (m.external.ari, m.method))
    out = [Entry("identities", int(r.n_identities), str(r.n_identities), "identities of the cell"),
           Entry("kmeans-k", int(r.pseudo_k), str(r.pseudo_k), "k of the KMeans pseudo-labels")]
    if km is not None:
        out += [Entry("kmeans-ari", float(km.external.ari), fixed(km.external.ari), "ARI of KMeans with the identities"),
                Entry("kmeans-nmi", float(km.external.nmi), fixed(km.external.nmi), "NMI of KMeans with the identities"),
                Entry("kmeans-bcubed-f", float(km.external.bcubed_f), fixed(km.external.bcubed_f), "BCubed F of KMeans")]
    return out + [
        Entry("best-method", best.method, best.method, "clustering method with the highest ARI"),
        Entry("best-setting", best.setting, best.setting, "setting of the best clustering method"),
        Entry("best-ari", float(best.external.ari), fixed(best.external.ari), "ARI of the best clustering method"),
        Entry("best-nmi", float(best.external.nmi), fixed(best.external.nmi), "NMI of the best clustering method"),
        Entry("best-bcubed-f", float(best.external.bcubed_f), fixed(best.external.bcubed_f),
              "BCubed F of the best clustering method"),
        Entry("best-clusters", int(best.n_clusters), str(best.n_clusters), "clusters found by the best method"),
        Entry("best-silhouette-k", int(r.sweep.best_silhouette_k), str(r.sweep.best_silhouette_k),
              "KMeans k with the highest silhouette"),
    ]


def manifold_values(r) -> list[Entry]:
    """Trustworthiness of every 2-D map (``report.pages.manifold``)."""
    out = [Entry(f"trustworthiness-{m.method.lower()}", float(m.trustworthiness), fixed(m.trustworthiness),
                 f"trustworthiness of the {m.title} map") for m in r.maps]
    if r.maps:
        best = max(r.maps, key=lambda m: m.trustworthiness)
        out.append(Entry("best-map", best.title, best.title, "the most trustworthy 2-D map"))
    return out


def classifiers_values(r) -> list[Entry]:
    """The best classifier on the true labels (``report.pages.classifiers``), with its Wilson interval."""
    from report.pages.classifiers import CLASSIFIER_TITLES

    true = [s for s in r.scores if s.labels == "true" and s.scope == "all"]
    source = next((s for s in r.sources if s.name == "true"), None)
    if r.skipped or not true or source is None:
        return []
    best = max(true, key=lambda s: s.accuracy_mean)
    n = int(best.n_test or source.n_samples)  # the predictions scored (report.pages.paper_findings)
    # 95%, as the page's one-fold Wilson interval (report.pages.classifiers).
    lo, hi, txt = _bracket(wilson_interval(best.accuracy_mean * n, n), lambda x: fixed(x, 4))
    out = [
        Entry("best-classifier", CLASSIFIER_TITLES[best.classifier], CLASSIFIER_TITLES[best.classifier],
              "classifier with the best accuracy on the true labels"),
        Entry("best-accuracy", float(best.accuracy_mean), fixed(best.accuracy_mean, 4),
              "its cross-validated accuracy (interval: Wilson, over its predictions)", lo, hi, txt),
        Entry("best-macro-f1", float(best.f1_mean), fixed(best.f1_mean, 4), "its macro-F1"),
        Entry("folds", int(r.folds), str(r.folds), "cross-validation folds"),
        Entry("pseudo-label-ari", float(r.kmeans_ari), f"{r.kmeans_ari:.3f}", "ARI of the KMeans pseudo-labels"),
    ]
    if best.folds_scored > 1:
        out.insert(2, Entry("best-accuracy-std", float(best.accuracy_std), fixed(best.accuracy_std, 4),
                            "standard deviation of its accuracy over folds"))
    return out


def audit_values(r) -> list[Entry]:
    """Counts of the label audit (``report.pages.audit``)."""
    n_audited = len(r.images.rows)
    n_susp = int(r.label_suspects.sum())
    out = [
        Entry("audited-images", n_audited, f"{n_audited:,d}", "images audited"),
        Entry("suspected-mislabels", n_susp, f"{n_susp:,d}", "suspected mislabelled images"),
        Entry("suspected-mislabel-share", n_susp / max(n_audited, 1), pct(n_susp / max(n_audited, 1)),
              "share of audited images suspected mislabelled"),
        Entry("merged-pairs", int(r.merged.flagged.sum()), f"{int(r.merged.flagged.sum()):,d}",
              "suspected merged identity pairs"),
        Entry("split-identities", int(r.split.flagged.sum()) if r.split is not None else 0,
              f"{int(r.split.flagged.sum()) if r.split is not None else 0:,d}", "suspected split identities"),
        Entry("near-duplicates", int(r.duplicates.n_found), f"{r.duplicates.n_found:,d}", "near-duplicate image pairs"),
    ]
    if r.planted is not None:
        out += [Entry("planted", int(r.planted.n_planted), str(r.planted.n_planted), "planted mislabels (synthetic data)"),
                Entry("planted-recall", float(r.planted.recall), fixed(r.planted.recall), "recall of the planted mislabels"),
                Entry("planted-precision", float(r.planted.precision), fixed(r.planted.precision),
                      "precision on the planted mislabels")]
    return out


def discovery_values(r) -> list[Entry]:
    """Identity discovery on an unlabelled cell (``report.pages.discovery``)."""
    return [
        Entry("faces", int(r.n_faces), f"{r.n_faces:,d}", "faces found"),
        Entry("photos", int(r.n_photos), f"{r.n_photos:,d}", "photos searched"),
        Entry("chosen-k", int(r.chosen_k), str(r.chosen_k), "number of identities discovered (chosen k)"),
    ]


def identification_values(r) -> list[Entry]:
    """Closed-set rank-1 and rank-5 and open-set FNIR at FPIR (``report.pages.identification``; Wilson intervals)."""
    def rate(name: str, i, what: str) -> Entry:
        lo, hi, txt = _bracket(i, lambda x: f"{100 * x:.2f}%")
        return Entry(name, float(i.estimate), pct(i.estimate, 2), what, lo, hi, txt)

    out = [Entry("templates", len(r.names), count(len(r.names)), "enrolled templates (identities) of the gallery"),
           Entry("probes", int(r.n_probes), count(r.n_probes), "closed-set searches (probes)"),
           rate("rank-1", r.rank1, "closed-set rank-1 identification rate")]
    if r.rank5 is not None:
        out.append(rate("rank-5", r.rank5, "closed-set rank-5 identification rate"))
    if r.open_set is not None:
        for f in r.open_set.fnir_at_fpir:
            name, what = f"fnir-at-fpir-{far_slug(f.fpir)}", f"open-set FNIR at an FPIR of {far_slug(f.fpir)}"
            if not f.estimable or f.interval is None:
                out.append(Entry(name, None, NOT_ESTIMABLE, what + " (too few non-mated searches above the threshold)"))
            else:
                out.append(Entry(name, float(f.fnir), pct(f.fnir, 2), what, *_bracket(f.interval, lambda x: f"{100 * x:.2f}%")))
    return out


def differentials_values(r) -> list[Entry]:
    """Per group column: the max/min ratio of FNMR and FMR at each global threshold with the groups it names, and
    each group's FNMR (``report.pages.differentials``). Names are ``<column>-...`` with the column and group as
    slugs (:func:`report.escape.slugify`: ``B`` is ``b-<hash>``, so that ``B`` and ``b`` never share a key)."""
    from report.escape import slugify
    from report.pages.differentials import ratio_interval_text, ratio_number

    out: list[Entry] = []
    for col in r.columns:
        if col.skipped:
            continue
        c = slugify(col.column)
        for ratio in col.ratios:
            if not ratio.available:
                continue
            at = f"at-fmr-{far_slug(ratio.level)}"
            metric = ratio.metric.lower()
            bounds = ratio_interval_text(ratio)
            i = ratio.interval if bounds else None
            out += [
                Entry(f"{c}-{metric}-ratio-{at}", float(ratio.estimate), ratio_number(ratio.estimate),
                      f"highest over lowest {ratio.metric} across the {col.column} groups at the threshold of FMR "
                      f"{far_slug(ratio.level)}", None if i is None else float(i.low),
                      None if i is None else float(i.high), bounds),
                Entry(f"{c}-{metric}-highest-{at}", ratio.highest, ratio.highest,
                      f"{col.column} group of the highest {ratio.metric}"),
                Entry(f"{c}-{metric}-lowest-{at}", ratio.lowest, ratio.lowest, f"{col.column} group of the lowest {ratio.metric}"),
            ]
        for g in col.groups:
            for level, rate in zip(r.levels, g.fnmr):
                if not rate.estimable:
                    continue
                lo, hi, txt = _bracket(rate.interval, lambda x: f"{100 * x:.2f}")
                out.append(Entry(f"{c}-{slugify(g.name)}-fnmr-at-fmr-{far_slug(level)}", float(rate.estimate),
                                 pct(rate.estimate, 2), f"FNMR of {col.column} = {g.name} at the global threshold of "
                                 f"FMR {far_slug(level)}", lo, hi, txt))
    # Two hostile columns or groups whose slugs join alike ("a" + "b-c", "a-b" + "c"): neither gets the key,
    # so that no key ever names another group than it did on the last run (the page shows both).
    shared = {n for n, k in Counter(e.name for e in out).items() if k > 1}
    return [e for e in out if e.name not in shared]


#: analysis (step name) -> its per-cell value source. Add one line per new analysis.
CELL_VALUES: dict[str, Callable[[Any], list[Entry]]] = {
    "similarity": similarity_values,
    "geometry": geometry_values,
    "clustering": clustering_values,
    "manifold": manifold_values,
    "classifiers": classifiers_values,
    "audit": audit_values,
    "discovery": discovery_values,
    "identification": identification_values,
    "differentials": differentials_values,
}

#: analysis (dataset step name) -> its per-dataset value source (none yet: the cross-network
#: page states no headline number).
DATASET_VALUES: dict[str, Callable[[Any], list[Entry]]] = {}


# --------------------------------------------------------------------------- sentences of the paper
def _classifier_sentence(entries: dict[str, Entry]) -> str:
    if "best-classifier" not in entries:
        return ""
    spread = " \u00b1 {best-accuracy-std}" if "best-accuracy-std" in entries else ""
    return "best identity classifier {best-classifier}: cross-validated accuracy {best-accuracy}" + spread


def _audit_sentence(entries: dict[str, Entry]) -> str:
    text = "{suspected-mislabels} suspected mislabelled images, {merged-pairs} suspected merged identity pairs"
    if "planted" in entries:
        text += "; against the {planted} planted mislabels: precision {planted-precision}, recall {planted-recall}"
    return text


def _manifold_sentence(entries: dict[str, Entry]) -> str:
    names = [n for n in entries if n.startswith("trustworthiness-")]
    if not names:
        return ""
    methods = {n: entries[n].description.removeprefix("trustworthiness of the ").removesuffix(" map") for n in names}
    return ("trustworthiness " + ", ".join(f"{methods[n]} {{{n}}}" for n in names)
            + "; {best-map} keeps the most local structure")


#: analysis -> the Results sentence about one cell: a template of ``{name}`` keys of that cell
#: (a string, or a function of the cell's entries by name returning one; "" for none).
PAPER_SENTENCES: dict[str, str | Callable[[dict[str, Entry]], str]] = {
    "similarity": ("EER {eer}, d' {d-prime}, genuine/impostor overlap {overlap} over all pairs of {images} "
                   "embeddings"),
    "geometry": ("median identity radius {median-radius} and dispersion {median-dispersion} (L2-normalised), median PCA "
                 "dimension {median-intrinsic-dim} of {dims}, TwoNN dimension of the whole cloud {twonn}"),
    "clustering": ("best clustering {best-method} ({best-setting}) with ARI {best-ari}, NMI {best-nmi}, {best-clusters} "
                   "clusters for {identities} identities"),
    "manifold": _manifold_sentence,
    "classifiers": _classifier_sentence,
    "audit": _audit_sentence,
}
