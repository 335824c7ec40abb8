"""The statistics half: what an embedding set says about identities.

One sub-package per family of analyses (as ``sklearn/metrics/cluster/``), flat modules for the rest:

* ``verification/``: similarity, exact pair histograms, EER/ROC/TAR@FAR/d', sampled pairs;
* ``clustering/``: the clustering analysis, its sweep, scores and metric definitions;
* ``classifiers/``: identity classifiers, the k-NN graph, folds, pseudo-labels, confusion;
* ``audit/``: the label-noise audit and its per-image, split, detection and large-set parts;
* ``search/``: the approximate large-set paths (inverted-file searches, row-block passes);
* ``subsets``, ``geometry`` (per-identity geometry, intrinsic dimension; ``pca_solver``),
  ``manifold`` (2-D maps), ``uncertainty`` (bootstrap and Wilson intervals), ``crossnet``
  (across networks), ``discovery`` and ``naming`` (unlabelled photos), ``recognizer`` (the model
  ``predict`` uses), ``galleries`` (the faces shown in the galleries).

The rule: arrays (an :class:`analysis.types.EmbeddingSet`) and a frozen params dataclass in,
a frozen result dataclass out. No file access, no plotting, no global random state (every
function takes ``random_state``). Modules here import :mod:`analysis.types`, each other, and the
pure helper :func:`analysis.embedding.synthetic.planted_mislabels` (which reads item names only);
never files, :mod:`report` or a renderer.
"""
