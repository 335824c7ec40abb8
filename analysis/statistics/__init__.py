"""The statistics half: what an embedding set says about identities.

What lives here: subsets of a set (``subsets``), per-identity geometry and intrinsic dimension
(``geometry``), similarity (``similarity``: centroids, nearest other identity; ``pair_histograms``:
exact chunked all-pairs statistics; ``verification``: EER, ROC, TAR@FAR, d', pairs protocols),
metric definitions shared by the analyses (``metrics``), clustering (``clustering`` with
``clustering_params``, the ``kmeans`` sweep and ``cluster_scores``: internal and external scores),
2-D maps (``manifold``), identity classifiers (``classifiers`` with the shared exact k-NN graph in
``knn``), the label-noise audit (``audit``: identities; ``image_audit``: images and near-duplicates),
comparisons across networks (``crossnet``) and the choice of faces for the galleries (``galleries``).

The rule: arrays (an :class:`analysis.types.EmbeddingSet`) and a frozen params dataclass in,
a frozen result dataclass out. No file access, no plotting, no global random state (every
function takes ``random_state``). Modules here import :mod:`analysis.types`, each other, and the
pure helper :func:`analysis.embedding.synthetic.planted_mislabels` (which reads item names only);
never files, :mod:`report` or a renderer.
"""
