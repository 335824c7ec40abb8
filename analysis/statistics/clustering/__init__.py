"""Clustering: the KMeans sweep, DBSCAN, agglomerative, HDBSCAN, and their scores.

``clustering`` (the per-cell analysis), ``params`` (its options), ``kmeans`` (the k sweep),
``scores`` (internal and external scores of one partition), ``metrics`` (cluster metric
definitions, shared with the classifiers and the audit) and ``mutual_info`` (AMI at scale).
"""
