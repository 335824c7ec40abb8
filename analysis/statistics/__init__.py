"""The statistics half: what an embedding set says about identities.

What lives here: subsets of a set (``subsets``), per-identity geometry and intrinsic dimension
(``geometry``), similarity and verification (``similarity``), metric definitions shared by the
analyses (``metrics``), clustering with internal and external scores (``clustering`` and its
``kmeans`` sweep), 2-D maps (``manifold``), identity classifiers (``classifiers``), the label-noise
audit (``audit``), comparisons across networks (``crossnet``) and the choice of faces for the
galleries (``galleries``).

The rule: arrays (an :class:`analysis.types.EmbeddingSet`) and a frozen params dataclass in,
a frozen result dataclass out. No file access, no plotting, no global random state (every
function takes ``random_state``). Modules here import :mod:`analysis.types`, each other, and the
pure helper :func:`analysis.embedding.synthetic.planted_mislabels` (which reads item names only);
never files, :mod:`report` or a renderer.
"""
