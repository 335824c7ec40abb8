"""Computation for Face Embedding Atlas, in two halves with data flowing one way.

* :mod:`analysis.embedding`: dataset on disk -> manifest -> detected, aligned faces ->
  embedding vectors (cached). Files, models, GPUs live here and only here.
* :mod:`analysis.statistics`: embedding set -> frozen results. Pure: no file access, no
  plotting, randomness only through explicit ``random_state`` arguments.

Shared by both: :mod:`analysis.types` (``EmbeddingSet``, ``Cell``) and :mod:`analysis.config`
(the typed study config, which gathers each half's params dataclasses).
"""
