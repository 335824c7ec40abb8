"""Which photos a detection-overlay page shows: a seeded sample that covers every detection outcome.

The overlay page (``[study] galleries = true``) draws, on a few photos of an image dataset, every
face the detector reported with its score, its five landmarks and whether it was kept or
rejected (score, size, not the chosen face). A uniform sample of a portrait dataset would show
a dozen photos with one kept face each; the cases worth looking at are rarer. The sample is
therefore stratified, in this order, each stratum a seeded draw:

1. photos with several valid faces (group photos; identity datasets keep one of them);
2. photos with a candidate rejected for its score or size;
3. photos in which no face was kept (at most ``max_no_face``);
4. photos with one kept face and nothing else, filling the rest.

Each of the first two strata gets at most ``ceil(n_photos * share)`` photos; places a stratum
cannot fill go to the next ones, then back to any photo left.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SEVERAL = "several faces"
REJECTED = "rejected candidate"
NO_FACE = "no face kept"
ONE_FACE = "one face"
STRATA = (SEVERAL, REJECTED, NO_FACE, ONE_FACE)


@dataclass(frozen=True)
class DetectionSampleParams:
    """How many photos an overlay page shows and how they are drawn.

    Parameters
    ----------
    n_photos : int, default=12
    several_share, rejected_share : float, default=1/3
        Most photos of strata 1 and 2, as a share of ``n_photos``.
    max_no_face : int, default=2
    max_side : int, default=600
        Long side (pixels) the photos are shrunk to for drawing.
    """

    n_photos: int = 12
    several_share: float = 1 / 3
    rejected_share: float = 1 / 3
    max_no_face: int = 2
    max_side: int = 600

    def __post_init__(self) -> None:
        if self.n_photos < 1 or self.max_no_face < 0 or self.max_side < 32:
            raise ValueError("n_photos must be >= 1, max_no_face >= 0 and max_side >= 32")
        if not (0 <= self.several_share <= 1 and 0 <= self.rejected_share <= 1):
            raise ValueError("several_share and rejected_share must be in [0, 1]")


@dataclass(frozen=True)
class PhotoChoice:
    """The photos chosen, in page order, with the stratum each was drawn from."""

    items: tuple[str, ...]
    strata: tuple[str, ...]
    n_photos: int  # photos the sample was drawn from
    counts: tuple[tuple[str, int], ...]  # photos per stratum in the whole dataset


def stratum(n_valid: np.ndarray, n_rejected: np.ndarray, n_kept: np.ndarray) -> np.ndarray:
    """The stratum of every photo (see the module docstring) from its face counts."""
    n_valid, n_rejected, n_kept = (np.asarray(a, dtype=np.int64) for a in (n_valid, n_rejected, n_kept))
    return np.where(n_valid >= 2, SEVERAL,
                    np.where(n_rejected >= 1, REJECTED, np.where(n_kept == 0, NO_FACE, ONE_FACE))).astype(object)


def choose_photos(items, n_valid, n_rejected, n_kept, params: DetectionSampleParams = DetectionSampleParams(),
                  random_state: int = 0) -> PhotoChoice:
    """A seeded, stratified sample of photos (see the module docstring).

    Parameters
    ----------
    items : array-like of str, shape (n_photos,)
        One entry per photo (unique).
    n_valid, n_rejected, n_kept : array-like of int, shape (n_photos,)
        Per photo: faces passing the score and size thresholds, candidates rejected for their
        score or size, faces kept (embedded).
    params : DetectionSampleParams
    random_state : int

    Returns
    -------
    PhotoChoice
    """
    items = np.asarray(items).astype(str)
    if len(set(items.tolist())) != len(items):
        raise ValueError("items must be unique (one entry per photo)")
    order = np.argsort(items, kind="stable")  # the draw does not depend on the input order
    items = items[order]
    strata = stratum(*(np.asarray(a)[order] for a in (n_valid, n_rejected, n_kept)))
    rng = np.random.default_rng(random_state)
    pools = {s: list(rng.permutation(np.flatnonzero(strata == s))) for s in STRATA}
    n = params.n_photos
    caps = {SEVERAL: math.ceil(n * params.several_share), REJECTED: math.ceil(n * params.rejected_share),
            NO_FACE: params.max_no_face, ONE_FACE: n}
    chosen: list[int] = []
    for s in STRATA:
        take = min(caps[s], n - len(chosen))
        chosen += pools[s][:take]
        pools[s] = pools[s][take:]
    for s in STRATA:  # places left: any photo, in stratum order
        take = n - len(chosen)
        chosen += pools[s][:take]
        pools[s] = pools[s][take:]
    rank = {s: i for i, s in enumerate(STRATA)}
    chosen.sort(key=lambda i: (rank[strata[i]], items[i]))
    counts = tuple((s, int((strata == s).sum())) for s in STRATA)
    return PhotoChoice(tuple(items[i] for i in chosen), tuple(strata[i] for i in chosen), len(items), counts)
