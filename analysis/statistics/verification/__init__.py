"""Verification: how well one threshold on the cosine separates genuine from impostor pairs.

``similarity`` (the per-cell analysis: centroids, nearest other identity, verification with
intervals), ``pair_histograms`` (exact chunked all-pairs histograms), ``verification`` (EER, ROC,
TAR@FAR, d', the pairs protocol, read from the histograms) and ``sampled_pairs`` (seeded impostor
samples above ``[similarity] exact_max_rows``).
"""
