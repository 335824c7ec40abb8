"""Demographic and covariate differentials: is the network worse for some groups of people or images?

Following NIST's demographic-differentials method (NIST IR 8280, Grother, Ngan and Hanaoka 2019;
ISO/IEC 19795-10): the thresholds that give FMR = 1e-2, 1e-3, 1e-4 over *all* impostor pairs are
fixed globally; at each, every group's FNMR (mated pairs inside the group) and FMR (non-mated
pairs with both sides in it) are read, with bootstrap intervals over identities, the max/min
ratio across groups, a cross-group FMR matrix, and each group's EER and d'.

``params`` (the ``[differentials]`` table), ``thresholds`` (the FMR-threshold helper on a
histogram), ``group_pairs`` (the pair passes: all pairs by group code, mated pairs, stratified
samples of non-mated pairs), ``bootstrap`` (replicates over identities), ``results`` (the frozen
result types) and ``differentials`` (the per-cell analysis, :func:`analyze_differentials`).
"""
