"""Identification (1:N): searching a probe against a gallery of enrolled identities.

``params`` (the ``[identification]`` table), ``enrolment`` (which items are enrolled, which are
probes, which identities stay out of the gallery), ``search`` (the probes against the templates,
exactly or through an inverted file with its measured agreement), ``open_set`` (FNIR at FPIR)
and ``identification`` (the per-cell analysis: CMC, rank-1 and rank-5, confusions, open set).
"""
