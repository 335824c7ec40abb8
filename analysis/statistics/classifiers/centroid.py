"""The nearest-centroid classifier by cosine, exact or through a centroid index on large sets."""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from analysis.statistics.search.centre_search import search_centres, use_index
from analysis.types import l2_normalize


class CosineCentroidClassifier(ClassifierMixin, BaseEstimator):
    """Nearest centroid by cosine similarity.

    :class:`sklearn.neighbors.NearestCentroid` has no cosine metric; on L2-normalised inputs
    this is ``argmax_c x . c / |c|`` with ``c`` the mean of the class's rows.
    """

    def __init__(self, exact_max_rows: int = 0, random_state: int = 0):
        self.exact_max_rows = exact_max_rows
        self.random_state = random_state

    def fit(self, x, y):
        from analysis.statistics.clustering.metrics import group_sums

        self.classes_, inv = np.unique(y, return_inverse=True)
        if self.exact_max_rows and len(x) > self.exact_max_rows:  # no n x d float64 copy (3 GB at 800k rows)
            from analysis.statistics.search.large_sets import group_sums_blocks as group_sums
        self.centroids_ = l2_normalize(group_sums(x, inv, len(self.classes_))).astype(np.float32)
        self.search_ = None
        self.n_fit_ = len(x)
        return self

    def predict(self, x):
        # Decided on the training set's size too: a test fold of a large set can fall under the
        # threshold, and its exact product with 40,000 centroids was a 30 GB matrix at a million rows.
        if use_index(max(len(x), self.n_fit_), len(self.centroids_), self.exact_max_rows):
            # Many rows and classes: a FAISS index of the centroids, agreement measured (search_).
            _, idx, self.search_ = search_centres(x, self.centroids_, 1, "ip", random_state=self.random_state)
            best = idx[:, 0]
            missed = np.flatnonzero(best < 0)
            if len(missed):
                best[missed] = np.argmax(np.asarray(x[missed], dtype=np.float32) @ self.centroids_.T, axis=1)
            return self.classes_[best]
        # Row blocks of at most about 2^24 products (64 MB), whatever the number of classes.
        block = max(1, (1 << 24) // max(1, len(self.centroids_)))
        best = np.concatenate([np.argmax(np.asarray(x[a : a + block], dtype=np.float32) @ self.centroids_.T, axis=1)
                               for a in range(0, len(x), block)]) if len(x) else np.zeros(0, dtype=np.int64)
        return self.classes_[best]
