"""Label-noise audit: suspected mislabels, merged and split identities, near-duplicates.

Everything is measured with cosine similarity on L2-normalised vectors.

* **Suspected mislabels.** For every image, the cosine to the leave-one-out centroid of its own
  identity (so that an image does not vote for itself) is compared with the cosine to the
  nearest centroid of another identity; the *margin* is the difference. An image is suspected
  when its margin is negative (another identity's centroid is closer) or its silhouette [1]_
  on the identity labels is negative. Ranked by margin (most negative first).
* **Suspected merged identities.** Pairs of identities whose centroid cosine reaches the merge
  threshold: by default the ``merge_quantile`` quantile of the cell's genuine-pair cosines (two
  names of one person have centroids at least as alike as a typical pair of that person's
  images); ``merge_threshold`` overrides it with an absolute cosine. The thresholds and their
  derivation are in :mod:`analysis.statistics.audit.thresholds`.
* **Suspected split identities** (one name, several people). The images of every identity with
  at least ``split_min_images`` images are split in two by a seeded 2-means clustering; the
  identity is suspected when both parts hold at least ``split_min_share`` of its images and the
  centroids of the parts are less similar than the split threshold (suspected mislabels are
  left out first: strays are listed as mislabels, not as a second person), and the parts
  are ``split_min_separation`` within-part standard deviations apart: by default the
  ``split_quantile`` quantile of the cosines between centroids of different identities (two
  people under one name are about as dissimilar as two identities), capped at the merge
  threshold; ``split_max_cosine`` overrides it. A global clustering
  with one cluster per identity was tried first and rejected: KMeans cuts large identities
  into several clusters of similar size whatever their labels.
* **Near-duplicates.** Pairs of images with cosine at least ``duplicate_threshold``, found
  exactly by a blockwise screen in a low-dimensional projection (which can only shorten
  distances) and a full-cosine check of the survivors (memory bounded by ``block_size`` rows).

The merged and split audits measure cosines around the cell's mean embedding (the mean of the
unit vectors subtracted, then re-normalised): a direction shared by every face carries no
identity, and in dlib's space it is large enough to squeeze every centroid cosine towards 1.

The per-image scores and the near-duplicate search are in :mod:`analysis.statistics.audit.image_audit`;
the identity-level audits (merged and split identities) and the entry point are here.

On synthetic data (``emb.synthetic``) the planted mislabels are known
(:func:`analysis.embedding.synthetic.planted_mislabels`) and the result records the precision and recall
of the suspected-mislabel list against them.

References
----------
.. [1] Rousseeuw. "Silhouettes: a graphical aid to the interpretation and validation of cluster
   analysis." Journal of Computational and Applied Mathematics 20 (1987).
.. [2] Northcutt, Athalye, Mueller. "Pervasive label errors in test sets destabilize machine
   learning benchmarks." NeurIPS Datasets and Benchmarks (2021).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.statistics.audit.params import AuditParams  # noqa: F401 - re-exported (config, callers)
from analysis.statistics.audit.split import SplitIdentities, _split_identities
from analysis.statistics.audit.thresholds import AuditThresholds, derive_thresholds, genuine_pair_cosines
from analysis.statistics.audit.detection import DetectionSuspects, FaceDetections, detection_suspects
from analysis.statistics.audit.large import (centroid_pair_sample, centroid_scores_indexed, near_duplicates_indexed,
                                             top_centroid_pairs)
from analysis.statistics.search.centre_search import CentreSearch
from analysis.statistics.audit.image_audit import NearDuplicates, centroid_scores, near_duplicate_pairs, ranked_duplicates
from analysis.statistics.search.large_sets import group_sums_blocks
from analysis.types import EmbeddingSet, l2_normalize


@dataclass(frozen=True, eq=False)
class ImageScores:
    """Per-image audit scores, arrays aligned with the audited rows.

    Attributes
    ----------
    rows : ndarray of shape (m,)
        Positions in the input of the audited rows (ignored identities left out).
    own_cosine : ndarray of shape (m,)
        Cosine to the leave-one-out centroid of the own identity; NaN for single-image identities.
    nearest_other : ndarray of shape (m,)
        Label code (index into the result's ``names``) of the most similar other centroid.
    other_cosine : ndarray of shape (m,)
    margin : ndarray of shape (m,)
        ``own_cosine - other_cosine``; NaN for single-image identities.
    silhouette : ndarray of shape (m,)
        Cosine silhouette on the identity labels (0 for single-image identities, as in sklearn).
    suspected : ndarray of shape (m,), bool
        ``margin < 0`` or ``silhouette < 0``.
    """

    rows: np.ndarray
    own_cosine: np.ndarray
    nearest_other: np.ndarray
    other_cosine: np.ndarray
    margin: np.ndarray
    silhouette: np.ndarray
    suspected: np.ndarray


@dataclass(frozen=True, eq=False)
class MergedPairs:
    """Identity pairs ranked by centroid cosine (flagged ones and the ``top`` most similar)."""

    first: np.ndarray  # label codes
    second: np.ndarray
    cosine: np.ndarray
    zscore: np.ndarray
    flagged: np.ndarray  # bool
    median_cosine: float
    robust_std: float
    threshold: float  # effective merge threshold (thresholds.merge)
    thresholds: AuditThresholds


@dataclass(frozen=True, eq=False)
class PlantedScore:
    """Suspected mislabels scored against the planted ones (synthetic data only)."""

    n_planted: int
    n_suspected: int
    n_true_positive: int
    precision: float
    recall: float


@dataclass(frozen=True, eq=False)
class AuditResult:
    """Result of :func:`analyze_audit`.

    ``items`` and ``identities`` are the input's arrays so that pages can name images; label
    codes index ``names`` (sorted identity names of the input). ``truth`` (aligned with
    ``images.rows``) is the known mislabel mask when one was given or the data are synthetic.
    """

    n_samples: int
    n_identities: int
    names: np.ndarray
    items: np.ndarray
    identities: np.ndarray
    n_ignored: int
    images: ImageScores
    merged: MergedPairs
    split: SplitIdentities | None
    duplicates: NearDuplicates
    detection: DetectionSuspects | None  # image datasets: detection doubts of the audited rows
    planted: PlantedScore | None
    truth: np.ndarray | None  # known mislabel mask of the audited rows (synthetic data), else None
    skipped: tuple[str, ...]
    params: AuditParams
    # Above [audit] exact_max_rows: the centroid searches (agreement measured) and the identities whose
    # pairs gave the centroid-pair distribution (0: all pairs, exact).
    centroid_searches: tuple[CentreSearch, ...] = ()
    pair_sample_identities: int = 0
    suspect_agreement: float | None = None  # checked rows whose suspect flag matches the exhaustive search

    @property
    def label_suspects(self) -> np.ndarray:
        """Suspected mislabels whose face raises no detection doubt (aligned with ``images.rows``)."""
        if self.detection is None:
            return self.images.suspected
        return self.images.suspected & ~self.detection.suspect


# --------------------------------------------------------------------------- identity pairs
def _upper_blocks(c: np.ndarray, block: int = 1024):
    """Yield ``(i, j, cosine)`` of the upper-triangle pairs of unit rows ``c``, block by block."""
    k = len(c)
    for start in range(0, k, block):
        stop = min(k, start + block)
        sim = np.clip(c[start:stop] @ c[start:].T, -1.0, 1.0)
        i, j = np.nonzero(np.triu(np.ones(sim.shape, dtype=bool), k=1))
        yield i + start, j + start, sim[i, j]


def _pair_scale(values: np.ndarray, x: np.ndarray, labels: np.ndarray, codes: np.ndarray, params: AuditParams,
                random_state: int):
    """Median and robust spread (1.4826 MAD) of centroid-pair cosines, and the thresholds derived from them
    and the genuine pairs (shared by the exact and the large-set merged-pair passes)."""
    median = float(np.median(values))
    robust_std = float(1.4826 * np.median(np.abs(values - median)))
    genuine = genuine_pair_cosines(x, labels, codes, params.genuine_max_images, random_state)
    thresholds = derive_thresholds(genuine, values, merge_quantile=params.merge_quantile,
                                   split_quantile=params.split_quantile, merge_override=params.merge_threshold,
                                   split_override=params.split_max_cosine)
    return median, robust_std, thresholds


def _merged_pairs(x: np.ndarray, labels: np.ndarray, codes: np.ndarray, params: AuditParams, random_state: int,
                  top: int = 30) -> MergedPairs:
    """Identity pairs by centroid cosine; two blockwise passes keep memory at one float32 per pair."""
    sums = np.zeros((len(codes), x.shape[1]))
    position = np.full(labels.max() + 1, -1)
    position[codes] = np.arange(len(codes))
    np.add.at(sums, position[labels], x)
    c = l2_normalize(sums)  # float32
    # Pass 1: the distribution of all pair cosines (float32: 5,749 LFW identities -> 66 MB).
    values = np.concatenate([v for _, _, v in _upper_blocks(c)])
    median, robust_std, thresholds = _pair_scale(values, x, labels, codes, params, random_state)
    threshold = thresholds.merge
    # NaN (no genuine pair at all) flags nothing: comparisons with NaN are false.
    n_flagged = int((values >= threshold).sum())
    n_keep = min(len(values), max(top, n_flagged))
    cutoff = float(np.partition(values, len(values) - n_keep)[len(values) - n_keep]) if n_keep else np.inf
    del values
    # Pass 2: the pairs at or above the cut-off (ties may add a few rows; trimmed below).
    fi, fj, fv = [], [], []
    for i, j, v in _upper_blocks(c):
        sel = v >= cutoff
        fi.append(i[sel])
        fj.append(j[sel])
        fv.append(v[sel])
    iu, ju, cos = np.concatenate(fi), np.concatenate(fj), np.concatenate(fv).astype(np.float64)
    keep = np.lexsort((ju, iu, -cos))[:n_keep]
    iu, ju, cos = iu[keep], ju[keep], cos[keep]
    z = (cos - median) / robust_std if robust_std > 0 else np.zeros_like(cos)
    return MergedPairs(
        first=codes[iu],
        second=codes[ju],
        cosine=cos,
        zscore=z,
        flagged=cos >= threshold,
        median_cosine=median,
        robust_std=robust_std,
        threshold=threshold,
        thresholds=thresholds,
    )


def _merged_pairs_large(x: np.ndarray, labels: np.ndarray, codes: np.ndarray, params: AuditParams, random_state: int,
                        top: int = 30) -> tuple[MergedPairs, int]:
    """:func:`_merged_pairs` for many identities: the pair distribution from a seeded sample of
    identities, the flagged and top pairs searched exactly among all pairs."""
    position = np.full(labels.max() + 1, -1)
    position[codes] = np.arange(len(codes))
    c = l2_normalize(group_sums_blocks(x, position[labels], len(codes)))  # float32
    values, n_sampled = centroid_pair_sample(c, params.pair_sample_identities, random_state)
    median, robust_std, thresholds = _pair_scale(values, x, labels, codes, params, random_state)
    del values
    iu, ju, cos = top_centroid_pairs(c, thresholds.merge, top)
    z = (cos - median) / robust_std if robust_std > 0 else np.zeros_like(cos)
    merged = MergedPairs(first=codes[iu], second=codes[ju], cosine=cos, zscore=z, flagged=cos >= thresholds.merge,
                         median_cosine=median, robust_std=robust_std, threshold=thresholds.merge, thresholds=thresholds)
    return merged, n_sampled


# --------------------------------------------------------------------------- main entry
def score_against_truth(suspected: np.ndarray, truth: np.ndarray) -> PlantedScore:
    """Precision and recall of a suspected mask against a known mask (same shape)."""
    suspected = np.asarray(suspected, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    tp = int((suspected & truth).sum())
    n_s, n_t = int(suspected.sum()), int(truth.sum())
    return PlantedScore(
        n_planted=n_t,
        n_suspected=n_s,
        n_true_positive=tp,
        precision=tp / n_s if n_s else float("nan"),
        recall=tp / n_t if n_t else float("nan"),
    )


def analyze_audit(
    emb: EmbeddingSet, params: AuditParams, random_state: int = 0, truth: np.ndarray | None = None,
    detection: FaceDetections | None = None,
) -> AuditResult:
    """Suspected mislabels, merged and split identities and near-duplicates of one cell.

    Parameters
    ----------
    emb : EmbeddingSet
        At least 2 identities outside ``params.ignore_identities``.
    params : AuditParams
    random_state : int, default=0
        Seed of the 2-means clusterings of the split audit.
    truth : ndarray of shape (n_samples,), bool, optional
        Known mislabelled rows. When omitted and ``emb.synthetic`` is true, the planted
        mislabels of :func:`analysis.embedding.synthetic.planted_mislabels` are used.
    detection : FaceDetections, optional
        Kept-face facts of an image dataset: suspected mislabels whose face raises a detection
        doubt are reported apart (:mod:`analysis.statistics.audit.detection`).

    Returns
    -------
    AuditResult
    """
    names = emb.identity_names
    labels = emb.labels
    ignored_codes = np.flatnonzero(np.isin(names, np.array(params.ignore_identities, dtype=str)))
    audited = np.flatnonzero(~np.isin(labels, ignored_codes))
    codes = np.unique(labels[audited])
    if len(codes) < 2:
        raise ValueError(
            f"the audit needs at least 2 identities outside ignore_identities={params.ignore_identities!r}, "
            f"got {len(codes)}; choose a larger subset"
        )
    x_all = emb.normalized()
    # Above the size threshold: float32 rows (a float64 copy is 4 GB at 1M x 512) and the
    # indexed / sampled passes of analysis.statistics.audit.large, stated on the page.
    large = bool(params.exact_max_rows) and emb.n_samples > params.exact_max_rows
    x = x_all[audited] if large else x_all[audited].astype(np.float64)
    if large:
        del x_all  # read again for the near-duplicates: the rows are held once at a time
    lab = labels[audited]
    searches: tuple[CentreSearch, ...] = ()
    flag_agreement = None
    if large:
        own, nearest, other, sil, searches, flag_agreement = centroid_scores_indexed(x, lab, len(names), random_state)
    else:
        own, nearest, other, sil = centroid_scores(x, lab, len(names))
    margin = own - other
    suspected = (np.nan_to_num(margin, nan=0.0) < 0) | (sil < 0)
    images = ImageScores(audited, own, nearest, other, margin, sil, suspected)

    skipped = []
    # Identity-level audits use cosines around the cell's mean embedding: a direction shared by
    # every face (large in dlib's space, where different people's centroids have cosines of
    # 0.77-0.92) carries no identity and squeezes centroid cosines towards 1 faster than pair
    # cosines, which would make pair quantiles a poor yardstick for centroids.
    n_pair_ids = 0
    if large:
        # In place (x is not used below): one float32 copy of the rows at a time.
        xc = x
        xc -= x.mean(axis=0, dtype=np.float64).astype(np.float32)
        xc /= np.maximum(np.linalg.norm(xc, axis=1, keepdims=True), np.float32(1e-30))
        merged, n_pair_ids = _merged_pairs_large(xc, lab, codes, params, random_state)
    else:
        xc = l2_normalize(x - x.mean(axis=0)).astype(np.float64)
        merged = _merged_pairs(xc, lab, codes, params, random_state)
    if merged.thresholds.n_genuine_pairs == 0 and params.merge_threshold is None:
        skipped.append("merge audit: no identity has 2 images, so no genuine-pair cosine to derive its threshold from; "
                       "set [audit] merge_threshold")
    checkable = np.bincount(lab, minlength=len(names))[codes] >= params.split_min_images
    if checkable.any():
        max_cos = merged.thresholds.split
        # Images closer to another identity's centroid (negative margin) are left out: a few
        # strays filed under a name form a small distant "part" that the mislabel table already
        # lists. Not the negative-silhouette ones: the minority person of a mixed name has them.
        keep = ~(np.nan_to_num(margin, nan=0.0) < 0)
        split = _split_identities(xc, lab, codes, params, max_cos, random_state, keep=keep)
    else:
        split = None
        skipped.append(f"split audit skipped: no identity has {params.split_min_images} or more images")
    if large:
        del xc, x
        first, second, cos, dsearch = near_duplicates_indexed(emb.normalized(), params.duplicate_threshold,
                                                              random_state=random_state)
        duplicates = ranked_duplicates(first, second, cos, params.max_duplicates, dsearch)
    else:
        duplicates = near_duplicate_pairs(x_all, params.duplicate_threshold, params.max_duplicates, params.block_size)

    planted = None
    audited_truth = None
    if truth is None and emb.synthetic:
        from analysis.embedding.synthetic import planted_mislabels

        truth = planted_mislabels(emb)
    if truth is not None:
        truth = np.asarray(truth, dtype=bool)
        if truth.shape != (emb.n_samples,):
            raise ValueError(f"truth must have shape ({emb.n_samples},) like the rows, got {truth.shape}")
        audited_truth = truth[audited]
        planted = score_against_truth(suspected, audited_truth)
    return AuditResult(
        n_samples=emb.n_samples,
        n_identities=len(names),
        names=names,
        items=emb.items,
        identities=emb.identities,
        n_ignored=int(emb.n_samples - len(audited)),
        images=images,
        merged=merged,
        split=split,
        duplicates=duplicates,
        detection=None if detection is None else detection_suspects(emb.items[audited], detection, params),
        planted=planted,
        truth=audited_truth,
        skipped=tuple(skipped),
        params=params,
        centroid_searches=searches,
        pair_sample_identities=n_pair_ids,
        suspect_agreement=flag_agreement,
    )
