"""Out-of-fold confusion of the best classifier: the most confused identity pairs and their heatmap.

With ``k`` identities the dense confusion matrix has ``k^2`` cells and its upper triangle as many
pair indices: at 40,000 identities (a million images) that is 12.8 GB per int64 array. Above
:data:`DENSE_MAX_IDENTITIES` the same table is built as a sparse matrix (only the pairs that were
confused at all, at most one per test row): the pairs, counts and ranking are identical, and the
page reads only the small ``shown x shown`` block.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Above this many identities the confusion matrix is kept sparse (scipy CSR).
DENSE_MAX_IDENTITIES = 10_000


@dataclass(frozen=True, eq=False)
class ConfusionSummary:
    """Out-of-fold confusion of the best classifier on the true labels.

    ``matrix`` is a dense int64 ndarray up to :data:`DENSE_MAX_IDENTITIES` identities and a
    ``scipy.sparse`` CSR matrix above (read it through :meth:`block`).
    """

    classifier: str
    names: np.ndarray  # identities kept, index = label code in ``matrix``
    matrix: np.ndarray  # (k, k) int64, rows true, columns predicted
    pair_a: np.ndarray  # most confused pairs (indices into names), a < b
    pair_b: np.ndarray
    pair_count: np.ndarray  # errors a->b plus b->a
    a_to_b: np.ndarray
    b_to_a: np.ndarray
    shown: np.ndarray  # indices of identities in the heatmap

    def block(self, rows: np.ndarray) -> np.ndarray:
        """Dense ``rows x rows`` block of the confusion matrix (dense or sparse storage)."""
        sub = self.matrix[np.ix_(rows, rows)]
        return np.asarray(sub.toarray()) if hasattr(sub, "toarray") else sub


def _shown(pa: np.ndarray, pb: np.ndarray, max_identities: int) -> np.ndarray:
    shown: list[int] = []
    for a, b in zip(pa, pb):
        for i in (a, b):
            if i not in shown and len(shown) < max_identities:
                shown.append(int(i))
    return np.array(sorted(shown), dtype=np.int64)


def confusion_summary(y: np.ndarray, pred: np.ndarray, names: np.ndarray, classifier: str, top_confused: int,
                      max_identities: int) -> ConfusionSummary:
    """The ``top_confused`` most confused pairs (errors both ways), ties by identity order."""
    from sklearn.metrics import confusion_matrix

    k = len(names)
    if k > DENSE_MAX_IDENTITIES:
        return _sparse_summary(y, pred, names, classifier, top_confused, max_identities)
    cm = confusion_matrix(y, pred, labels=np.arange(k))
    off = cm.astype(np.int64)
    np.fill_diagonal(off, 0)
    sym = off + off.T
    iu = np.triu_indices(k, 1)
    vals = sym[iu]
    nz = np.flatnonzero(vals > 0)
    # Most errors first; ties by identity order so the table is deterministic.
    top = nz[np.lexsort((nz, -vals[nz]))][:top_confused]
    pa, pb = iu[0][top], iu[1][top]
    return ConfusionSummary(
        classifier=classifier, names=names, matrix=cm.astype(np.int64), pair_a=pa, pair_b=pb,
        pair_count=vals[top], a_to_b=off[pa, pb], b_to_a=off[pb, pa], shown=_shown(pa, pb, max_identities),
    )


def _sparse_summary(y, pred, names, classifier, top_confused, max_identities) -> ConfusionSummary:
    from scipy.sparse import coo_matrix, triu

    k = len(names)
    cm = coo_matrix((np.ones(len(y), dtype=np.int64), (y, pred)), shape=(k, k)).tocsr()  # duplicates summed
    off = cm.copy()
    off.setdiag(0)
    off.eliminate_zeros()
    sym = triu(off + off.T, k=1).tocoo()
    i, j, vals = sym.row.astype(np.int64), sym.col.astype(np.int64), sym.data.astype(np.int64)
    keep = vals > 0
    i, j, vals = i[keep], j[keep], vals[keep]
    # Same order as the dense path: most errors first, then row-major position (i, then j).
    top = np.lexsort((j, i, -vals))[:top_confused]
    pa, pb = i[top], j[top]
    return ConfusionSummary(
        classifier=classifier, names=names, matrix=cm, pair_a=pa, pair_b=pb, pair_count=vals[top],
        a_to_b=np.asarray(off[pa, pb]).ravel().astype(np.int64), b_to_a=np.asarray(off[pb, pa]).ravel().astype(np.int64),
        shown=_shown(pa, pb, max_identities),
    )
