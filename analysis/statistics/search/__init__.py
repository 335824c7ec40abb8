"""Approximate large-set paths: inverted-file searches and row-block passes, each with its measured quality.

``ivf_blas`` (inverted file of spherical k-means cells searched by matrix products), ``ann``
(the k-NN graph above ``knn_exact_max_rows``), ``centre_search`` (nearest-centre searches),
``centroid_pairs`` (centroid matrices of a seeded sample of identities) and ``large_sets``
(``O(n d)`` passes by row blocks). Results below each threshold are the exact code's.
"""
