"""Who is enrolled and who searches: the gallery, the probes and the identities left out.

Closed set: every identity with at least ``gallery_images + 1`` items enrols its first
``gallery_images`` items in sorted item order (deterministic, no draw), and each of its other items
is a mated search. Open set: a seeded share of those identities is left out of the gallery; their
items that would have been probes become non-mated searches, so that the mated and non-mated
searches are drawn from the same kind of items (never an enrolled image) and the open-set protocol
is the closed-set one with some templates removed. Junk labels (``[study] junk_labels``) are not
identities: their items are neither enrolled nor searched.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.types import l2_normalize


@dataclass(frozen=True, eq=False)
class Enrolment:
    """The gallery and probes of one cell.

    Template ``j`` belongs to identity ``names[j]``; ``enrolled[j]`` says whether it is in the
    open-set gallery (all true without an open set).
    """

    names: np.ndarray  # (n_templates,) eligible identity names, sorted
    templates: np.ndarray  # (n_templates, d) float32, unit rows
    gallery_rows: np.ndarray  # rows of the embedding set enrolled
    probe_rows: np.ndarray  # rows searched, grouped by identity, in sorted item order
    probe_mate: np.ndarray  # (n_probes,) template of each probe's own identity
    enrolled: np.ndarray  # (n_templates,) bool
    images: np.ndarray  # (n_templates,) items per eligible identity
    small_identities: int  # fewer than gallery_images + 1 items: left out
    small_images: int
    junk_identities: tuple[str, ...]
    junk_images: int
    open_set_note: str  # why there is no open set ("" when there is one)

    @property
    def has_open_set(self) -> bool:
        return not self.open_set_note


def enrol(x: np.ndarray, identities: np.ndarray, items: np.ndarray, gallery_images: int, unenrolled_share: float,
          junk_labels: tuple[str, ...], random_state: int) -> Enrolment:
    """Split a cell into gallery and probes (see module docstring).

    Parameters
    ----------
    x : ndarray of shape (n, d)
        Raw embeddings (the enrolled ones are L2-normalised here).
    identities, items : ndarray of shape (n,)
        Labels and item names (items decide the enrolment order within an identity).
    gallery_images : int
    unenrolled_share : float
        Share of eligible identities left out of the open-set gallery: ``round(share * k)`` drawn
        without replacement (seeded), at least 1 and at most ``k - 1`` when the share is positive.
    junk_labels : tuple of str
        Compared case-insensitively.
    random_state : int

    Raises
    ------
    ValueError
        When fewer than two identities have enough items: identification needs a choice.
    """
    identities = np.asarray(identities).astype(str)
    items = np.asarray(items).astype(str)
    junk_set = {j.lower() for j in junk_labels}
    names_all, codes, counts_all = np.unique(identities, return_inverse=True, return_counts=True)
    is_junk = np.array([n.lower() in junk_set for n in names_all], dtype=bool)
    small = (counts_all < gallery_images + 1) & ~is_junk
    eligible = ~small & ~is_junk
    junk_names = tuple(str(n) for n in names_all[is_junk])
    if eligible.sum() < 2:
        raise ValueError(
            f"identification needs at least 2 identities with at least {gallery_images + 1} images "
            f"([identification] gallery_images = {gallery_images} enrolled, one more to search); this cell has "
            f"{int(eligible.sum())} ({int(small.sum())} identities with fewer images left out"
            + (f", junk labels {', '.join(junk_names)} not identities" if junk_names else "") + ")")
    template_of = np.full(len(names_all), -1, dtype=np.int64)
    template_of[eligible] = np.arange(int(eligible.sum()))
    keep = np.flatnonzero(eligible[codes])
    # Rows of the eligible identities grouped by identity, in sorted item order within each.
    order = keep[np.lexsort((items[keep], codes[keep]))]
    owner = template_of[codes[order]]
    first = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
    pos = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)]))
    in_gallery = pos < gallery_images
    gallery_rows, probe_rows = order[in_gallery], order[~in_gallery]
    k = int(eligible.sum())
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    np.add.at(sums, owner[in_gallery], l2_normalize(x[gallery_rows]).astype(np.float64))
    templates = l2_normalize(sums.astype(np.float32))
    enrolled = np.ones(k, dtype=bool)
    note = ""
    if unenrolled_share <= 0:
        note = "[identification] unenrolled_share = 0: no open-set protocol"
    else:
        n_out = int(min(k - 1, max(1, round(unenrolled_share * k))))
        out = np.random.default_rng(random_state).choice(k, size=n_out, replace=False)
        enrolled[out] = False
    return Enrolment(
        names=names_all[eligible], templates=templates, gallery_rows=gallery_rows, probe_rows=probe_rows,
        probe_mate=owner[~in_gallery], enrolled=enrolled, images=counts_all[eligible],
        small_identities=int(small.sum()), small_images=int(counts_all[small].sum()), junk_identities=junk_names,
        junk_images=int(counts_all[is_junk].sum()), open_set_note=note,
    )
