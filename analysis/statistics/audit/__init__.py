"""The label-noise audit: suspected mislabels, merged and split identities, near-duplicates.

``audit`` (the per-cell analysis), ``params`` (its options), ``thresholds`` (cell-derived
thresholds), ``image_audit`` (per-image scores and near-duplicates), ``split`` (2-means per
identity), ``detection`` (detection doubts of suspects) and ``large`` (the large-set paths).
"""
