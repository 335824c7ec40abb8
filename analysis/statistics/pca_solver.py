"""Which PCA solver to use for a matrix of a given shape.

``PCA(svd_solver="covariance_eigh")`` forms the d x d covariance matrix: fast for tall data
(n >> d, the usual 128- or 512-D embeddings) and very slow for wide data (24 x 10,000: 165 s,
where a full SVD of the 24 x 10,000 matrix takes 0.09 s). The solver is therefore chosen by shape.
"""
from __future__ import annotations

#: Up to this many dimensions the covariance route is cheap whatever the number of rows.
COVARIANCE_MAX_DIMS = 1024
#: Up to this many rows an exact SVD of a wide matrix is cheap (O(n^2 d)).
FULL_SVD_MAX_ROWS = 2000


def pca(n_components: int, n_samples: int, n_features: int, random_state: int = 0):
    """A scikit-learn ``PCA`` whose solver suits an ``(n_samples, n_features)`` matrix.

    Parameters
    ----------
    n_components : int
    n_samples, n_features : int
        Shape of the matrix it will be fitted on.
    random_state : int, default=0
        Seed of the randomized solver (used only for large wide matrices), so results are repeatable.

    Returns
    -------
    sklearn.decomposition.PCA
    """
    from sklearn.decomposition import PCA

    if n_features <= COVARIANCE_MAX_DIMS:
        return PCA(n_components=n_components, svd_solver="covariance_eigh")
    if n_samples <= FULL_SVD_MAX_ROWS:
        return PCA(n_components=n_components, svd_solver="full")
    return PCA(n_components=n_components, svd_solver="randomized", random_state=random_state)
