"""Closed- and open-set identification (1:N) of one cell: CMC, rank-1 and rank-5, confusions, FNIR at FPIR.

The protocol (:mod:`analysis.statistics.identification.enrolment`): each identity with at least
``gallery_images + 1`` items enrols its first ``gallery_images`` items in sorted item order as one
template (the re-normalised mean of their L2-normalised embeddings); every other item is a probe
searched by cosine against all templates (:mod:`analysis.statistics.identification.search`).

* **Closed set**: the cumulative match characteristic ``CMC(r)`` is the share of probes whose mate
  is among the ``r`` best candidates (ranks 1 to ``max_rank``); rank-1 and rank-5 carry Wilson
  intervals over the probes (which treat probes as independent: a lower bound on the uncertainty
  across identities). The most confused identity pairs are the (probe identity, rank-1 identity)
  pairs of the misidentified probes; the hardest identities have the lowest rank-1 rate.
* **Open set**: a seeded ``unenrolled_share`` of the identities is not enrolled; their probes
  are non-mated searches of the remaining templates, the enrolled identities' probes mated
  ones; FNIR at FPIR and the FNIR-vs-FPIR curve (:mod:`analysis.statistics.identification.open_set`).

References
----------
.. [1] ISO/IEC 19795-1:2021 (identification rank, CMC).
.. [2] Grother, Ngan, Hanaoka. NISTIR 8271, FRVT Part 2: Identification (2019).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.statistics.identification.enrolment import enrol
from analysis.statistics.identification.open_set import OpenSetResult, open_set_metrics
from analysis.statistics.identification.params import IdentificationParams
from analysis.statistics.identification.search import RowView, SearchReport, open_scores, search
from analysis.statistics.uncertainty import Interval, wilson_interval
from analysis.types import EmbeddingSet


@dataclass(frozen=True, eq=False)
class Confusions:
    """Misidentified probes by (probe identity, rank-1 identity), most frequent first."""

    probe_identity: np.ndarray  # names
    returned_identity: np.ndarray
    count: np.ndarray
    share: np.ndarray  # of the probe identity's searches
    mean_score: np.ndarray  # mean rank-1 score of those searches


@dataclass(frozen=True, eq=False)
class IdentificationResult:
    """Result of :func:`analyze_identification`."""

    n_samples: int
    n_identities: int  # in the cell, junk included
    names: np.ndarray  # enrolled (closed-set) identities, template order
    images: np.ndarray  # items per enrolled identity
    enrolled_items: np.ndarray  # the first enrolled item of each template (which image a failing template is)
    gallery_images: int
    n_gallery_items: int
    n_probes: int
    small_identities: int  # left out: fewer than gallery_images + 1 items
    small_images: int
    junk_identities: tuple[str, ...]
    junk_images: int
    ranks: np.ndarray  # 1 .. min(max_rank, templates)
    cmc: np.ndarray
    rank1: Interval
    rank5: Interval | None  # None with fewer than 5 templates
    probes_per_identity: np.ndarray  # aligned with names
    rank1_per_identity: np.ndarray  # rank-1 rate per enrolled identity
    confusions: Confusions
    confused_probes: int  # probes whose rank-1 candidate is another identity
    open_set: OpenSetResult | None
    open_set_note: str  # why there is no open set
    search: SearchReport
    params: IdentificationParams
    nonmated_total: int = 0  # non-mated searches of the open set
    nonmated_sampled: bool = False  # True: a seeded sample of them was scored (above exact_max_rows)


def _confusions(names: np.ndarray, mate: np.ndarray, top1: np.ndarray, score: np.ndarray, per_identity: np.ndarray,
                top: int) -> Confusions:
    wrong = np.flatnonzero(top1 != mate)
    k = len(names)
    key = mate[wrong] * k + top1[wrong]
    pairs, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=score[wrong].astype(np.float64), minlength=len(pairs))
    a, b = pairs // k, pairs % k
    # Most frequent first; ties by probe identity then returned identity (names are sorted: codes order).
    order = np.lexsort((b, a, -counts))[:top]
    a, b = a[order], b[order]
    return Confusions(names[a], names[b], counts[order], counts[order] / per_identity[a], sums[order] / counts[order])


def analyze_identification(emb: EmbeddingSet, params: IdentificationParams, random_state: int = 0) -> IdentificationResult:
    """Closed- and open-set identification of one cell (see module docstring).

    Parameters
    ----------
    emb : EmbeddingSet
    params : IdentificationParams
    random_state : int, default=0
        Seed of the unenrolled identities and, above ``params.exact_max_rows`` rows, of the
        inverted file and its checked probes.

    Returns
    -------
    IdentificationResult

    Raises
    ------
    ValueError
        When fewer than two identities have ``gallery_images + 1`` items (the pipeline records the
        message as the reason the cell has no identification page).
    """
    x = emb.vectors  # normalised row by row as read (RowView): no 2 GB normalised copy at a million rows
    e = enrol(x, emb.identities, emb.items, params.gallery_images, params.unenrolled_share, params.junk_labels,
              random_state)
    probes = RowView(x, e.probe_rows)
    out = search(probes, e.templates, e.probe_mate, e.enrolled, params.max_rank, emb.n_samples,
                 params.exact_max_rows, params.check_probes, random_state)
    m, k = len(e.templates), len(e.probe_rows)
    r_max = int(min(params.max_rank, m))
    ranks = np.arange(1, r_max + 1)
    cmc = np.array([np.mean(out.rank <= r) for r in ranks]) if k else np.full(r_max, np.nan)
    rank1 = wilson_interval(float(np.sum(out.rank <= 1)), k, params.confidence)
    rank5 = wilson_interval(float(np.sum(out.rank <= 5)), k, params.confidence) if m >= 5 else None
    per_identity = np.bincount(e.probe_mate, minlength=m)
    hits = np.bincount(e.probe_mate, weights=(out.rank == 1).astype(float), minlength=m)
    open_res, nm_total, sampled = None, 0, False
    if e.has_open_set:
        mated = e.enrolled[e.probe_mate]
        hit = out.open_top1[mated] == e.probe_mate[mated]
        hit_score = np.where(hit, out.open_top1_score[mated], np.nan)
        nm = np.flatnonzero(~mated)
        nm_total = len(nm)
        if out.report.method == "exact":
            nm_scores = out.open_top1_score[nm]
        else:  # the maximum of unrelated cosines: exact, on a seeded sample (search module docstring)
            if len(nm) > params.nonmated_sample:
                nm = np.sort(np.random.default_rng(random_state + 1).choice(nm, params.nonmated_sample, replace=False))
                sampled = True
            nm_scores = open_scores(probes[nm], e.templates, e.enrolled)
        open_res = open_set_metrics(hit_score, nm_scores, params.fpir_levels, params.min_nonmated_above,
                                    params.confidence, int(e.enrolled.sum()), tuple(str(n) for n in e.names[~e.enrolled]),
                                    mated_score=out.mate_score[mated])
    del probes, x
    return IdentificationResult(
        n_samples=emb.n_samples, n_identities=int(len(np.unique(emb.identities))), names=e.names, images=e.images,
        enrolled_items=np.asarray(emb.items)[e.gallery_rows[::params.gallery_images]].astype(str),
        gallery_images=params.gallery_images, n_gallery_items=len(e.gallery_rows), n_probes=k,
        small_identities=e.small_identities, small_images=e.small_images, junk_identities=e.junk_identities,
        junk_images=e.junk_images, ranks=ranks, cmc=cmc, rank1=rank1, rank5=rank5,
        probes_per_identity=per_identity, rank1_per_identity=hits / np.maximum(per_identity, 1),
        confusions=_confusions(e.names, e.probe_mate, out.top1, out.top1_score, per_identity, params.top_confusions),
        confused_probes=int(np.sum(out.top1 != e.probe_mate)), open_set=open_res, open_set_note=e.open_set_note,
        search=out.report, params=params, nonmated_total=nm_total, nonmated_sampled=sampled,
    )
