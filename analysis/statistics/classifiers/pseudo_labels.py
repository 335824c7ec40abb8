"""KMeans pseudo-labels: the identities an unsupervised partition would give, for classifiers to learn."""
from __future__ import annotations

import warnings

import numpy as np

from analysis.statistics.search.centre_search import nearest_centre, use_index
from analysis.statistics.clustering.clustering import LARGE_FIT_ROWS_PER_CLUSTER


def pseudo_labels(x: np.ndarray, k: int, random_state: int, max_iter: int = 20, max_samples: int = 10000,
                  n_init: int = 4, exact_max_rows: int = 0, searches: list | None = None) -> np.ndarray:
    """KMeans pseudo-labels with ``k`` clusters: fitted on a seeded sample, every row assigned.

    Lloyd KMeans with ``n_init`` seeded initialisations (lowest inertia kept), k-means++ while ``k x fit rows <= 10^6`` and
    random rows beyond (the rule of :func:`analysis.statistics.clustering.kmeans.kmeans_init`: k-means++ seeding
    of 1,600 centres on 40,000 rows took a minute, longer than everything else here). Full-batch
    rather than MiniBatchKMeans: with about 1000 clusters on 25,000 synthetic rows the
    mini-batch variant was slower (35 s vs 21 s) and far worse (ARI with the true labels 0.06 vs
    0.43). The clustering page runs the full analysis.

    ``k`` is capped at the fitted rows (1M images fitted on 10,000 rows), and above ``exact_max_rows``
    rows (0: never) at a tenth of them; there, with 1,024 or more centres, every row is assigned
    through a FAISS index of the centres, its search appended to ``searches``.
    """
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    n = len(x)
    fit = np.arange(n) if n <= max_samples else np.sort(np.random.default_rng(random_state).choice(n, max_samples, replace=False))
    k = int(min(k, len(fit)))
    if exact_max_rows and n > exact_max_rows:
        # As the clustering sweep: k near the fit's size is one row per centre.
        k = int(max(2, min(k, len(fit) // LARGE_FIT_ROWS_PER_CLUSTER)))
    from analysis.statistics.clustering.params import ClusteringParams
    from analysis.statistics.clustering.kmeans import kmeans_init

    init = kmeans_init(k, len(fit), ClusteringParams(kmeans_init="auto"))
    km = KMeans(n_clusters=k, init=init, n_init=n_init, max_iter=max_iter, random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # duplicate rows: fewer distinct clusters
        km.fit(x[fit])
    if use_index(n, k, exact_max_rows):
        labels, _, search = nearest_centre(x, km.cluster_centers_.astype(np.float32), random_state)
        if searches is not None:
            searches.append(search)
        return labels
    return km.predict(x).astype(np.int64)
