"""Methods sections of the field's evaluation protocols: verification in ISO/IEC 19795-1 terms, 1:N identification.

Shared by the site's Methods page and the paper's Methods (:mod:`report.pages.methods`).
"""
from __future__ import annotations

from report.model import Bullets, Cite, Code, InlineMath, Math, P, Section

ISO_VERIFICATION = Section("Verification in ISO/IEC 19795-1 terms", (
    P("ISO/IEC 19795-1 ", Cite("iso19795_1"), " calls a comparison of two samples of one person mated and of two people "
      "non-mated. Over all pairs of a cell the two vocabularies describe the same counts, with a pair accepted when its "
      "cosine ", InlineMath("s"), " reaches the threshold ", InlineMath("t"), ":"),
    Math(r"\mathrm{FMR}(t) = \mathrm{FAR}(t) = \frac{|\{\text{non-mated pairs}: s \ge t\}|}{|\text{non-mated pairs}|},"),
    Math(r"\mathrm{FNMR}(t) = 1 - \mathrm{TAR}(t) = \frac{|\{\text{mated pairs}: s < t\}|}{|\text{mated pairs}|}."),
    P("FNMR at an FMR level ", InlineMath(r"\alpha"), " is the lowest FNMR over the thresholds with ",
      InlineMath(r"\mathrm{FMR}(t) \le \alpha"), " (NIST's FRTE 1:1 report cards give it at ",
      InlineMath(r"\alpha = 10^{-4}, 10^{-5}, 10^{-6}"), " ", Cite("grother_frte11"), "), under the estimability rule and "
      "bootstrap of TAR@FAR: FNMR is reported only when at least ", Code("[similarity] min_impostor_pairs"),
      " non-mated pairs score at or above its threshold, and its interval is that of the TAR, ",
      InlineMath(r"[1 - \mathrm{TAR}_{hi},\ 1 - \mathrm{TAR}_{lo}]"), ". The fingerprint competitions' operating points "
      "(FVC ", Cite("maio2002fvc"), "; pyeer ", Cite("pyeer"), ") read the same curve:"),
    Bullets(
        ("FMR100 and FMR1000: the lowest FNMR at ", InlineMath(r"\mathrm{FMR} \le 1\%"), " and ",
         InlineMath(r"\le 0.1\%"), ";"),
        ("ZeroFMR: the lowest FNMR at which no non-mated pair is accepted (the threshold just above the highest "
         "non-mated score); ZeroFNMR: the lowest FMR at which no mated pair is rejected. Each rests on one extreme pair, "
         "so it carries no interval.",),
    ),
    P("The DET curve ", Cite("martin1997det"), " plots FNMR against FMR with both axes on the normal-deviate scale, ",
      InlineMath(r"x = \Phi^{-1}(\mathrm{FMR}),\ y = \Phi^{-1}(\mathrm{FNMR})"), ", where ", InlineMath(r"\Phi"),
      " is the standard normal distribution function: two normal score distributions give a straight line, and the "
      "low error rates that decide large-scale use are spread out instead of crowded into a corner. The EER lies on "
      "the diagonal ", InlineMath(r"\mathrm{FMR} = \mathrm{FNMR}"), ". Thresholds are bin edges of the pair histograms, "
      "so every value has the histograms' cosine resolution; the tests check them against pyeer and against a direct "
      "computation from the raw scores."),
))

IDENTIFICATION = Section("Identification (1:N)", (
    P("Each identity with at least ", InlineMath("g+1"), " images (", Code("[identification] gallery_images"),
      InlineMath(" = g"), ") enrols its first ", InlineMath("g"), " images in sorted file order as one template, the "
      "re-normalised mean of their L2-normalised embeddings, ",
      InlineMath(r"\tau_c = \sum_{i \le g} \hat x_i / \lVert \sum_{i \le g} \hat x_i \rVert"), "; each of its other "
      "images is a probe ", InlineMath("p"), " searched against every template by cosine. The rank of a search is the "
      "position of the mate ", InlineMath(r"\tau_{c(p)}"), " among the candidates sorted by decreasing score (ties "
      "count against the probe),"),
    Math(r"\mathrm{rank}(p) = 1 + \bigl|\{c' \ne c(p) : \hat p^\top \tau_{c'} \ge \hat p^\top \tau_{c(p)}\}\bigr|,"),
    Math(r"\mathrm{CMC}(r) = \frac{|\{p : \mathrm{rank}(p) \le r\}|}{|\{p\}|},"),
    P("so that ", InlineMath(r"\mathrm{CMC}(1)"), " is the rank-1 identification rate ", Cite("iso19795_1"),
      "; rank-1 and rank-5 carry Wilson intervals over the searches. Junk labels (", Code("[study] junk_labels"),
      ") are neither enrolled nor searched."),
    P("Open set: a seeded share of the identities (", Code("[identification] unenrolled_share"), ") is left out of the "
      "gallery, and their probes become non-mated searches. With a threshold ", InlineMath("t"), " on the rank-1 score, "
      "NIST FRTE 1:N ", Cite("grother2019frvt1n"), " and IJB-C ", Cite("maze2018ijbc"), " define"),
    Math(r"\mathrm{FPIR}(t) = \frac{|\{\text{non-mated searches}: s_1 \ge t\}|}{|\text{non-mated searches}|},"),
    Math(r"\mathrm{FNIR}(t) = \frac{|\{\text{mated searches}: \mathrm{rank} > 1 \text{ or } s_{\mathrm{mate}} < t\}|}"
         r"{|\text{mated searches}|},"),
    P("where ", InlineMath("s_1"), " is the score of the rank-1 candidate (NIST's FNIR(N, R, T) at R = 1; IJB-C's TPIR "
      "is 1 - FNIR). FNIR at an FPIR level is read at the lowest threshold whose FPIR does not exceed it and is reported "
      "only when at least ", Code("[identification] min_nonmated_above"), " non-mated searches score above that "
      "threshold; its Wilson interval is over the mated searches at that threshold. Above ",
      Code("[identification] exact_max_rows"), " rows the templates are searched through an inverted file whose "
      "agreement with the exact search is measured on seeded probes and stated on the page, and the FPIR is read from a "
      "seeded sample of non-mated searches scored exactly."),
))
