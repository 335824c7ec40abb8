"""The Methods page: the definition of every statistic and metric, with formulas and references."""
from __future__ import annotations

from report.model import Bullets, Cite, Code, InlineMath, Math, P, Page, Section
from report.pages.methods_protocols import IDENTIFICATION, ISO_VERIFICATION

_GEOMETRY = Section("Per-identity geometry", (
    P("For identity ", InlineMath("c"), " with embeddings ", InlineMath(r"x_1,\dots,x_n"), " (raw, or L2-normalised "
      "with ", InlineMath(r"\hat x = x/\lVert x\rVert"), "), the centroid, the distances to it, the radius and the dispersion are"),
    Math(r"\mu_c = \frac{1}{n}\sum_{i=1}^{n} x_i,\qquad d_i = \lVert x_i-\mu_c\rVert_2,\qquad "
         r"r_c = \max_i d_i,\qquad s_c = \sqrt{\frac{1}{n}\sum_i (d_i-\bar d)^2}."),
    P("Intrinsic dimension by PCA counts the principal components whose explained-variance ratio exceeds 1% (and the "
      "number needed for 90% and 95% of the variance). With ", InlineMath("n"), " samples at most ", InlineMath("n-1"),
      " ratios are non-zero, so the estimate is capped: a balanced-6 subset can never show more than 5. The count also "
      "falls as ", InlineMath("n"), " grows on isotropic data: at most 99 components can each hold more than 1% of the "
      "variance, and with many samples of a truly isotropic ", InlineMath("d"), "-dimensional cloud every ratio tends to ",
      InlineMath("1/d"), " (below 1% once ", InlineMath("d>100"), "), so more images can mean a smaller count. The TwoNN "
      "estimator ", Cite("facco2017twonn"), " uses the ratio of each point's second to first nearest-neighbour distance, ",
      InlineMath(r"\mu_i = r_2/r_1"), ", whose law is Pareto with shape equal to the dimension ", InlineMath("d"),
      ", so that ", InlineMath(r"-\log(1-F(\mu)) = d\log\mu"), ". As in the original paper, ", InlineMath(r"\hat d"),
      " is the slope of a least-squares line through the origin on the empirical distribution (points with ",
      InlineMath("r_1=0"), " ignored; the largest 10% of ratios, from sparse regions, dropped): with ",
      InlineMath(r"\mu_{(1)}\le\dots\le\mu_{(N)}"), " sorted and ", InlineMath(r"F_i = i/N"), " over the ",
      InlineMath("K = \\lfloor 0.9N \\rfloor"), " smallest,"),
    Math(r"\hat d_{\mathrm{TwoNN}} = \frac{\sum_{i=1}^{K} \log\mu_{(i)}\,\bigl(-\log(1-F_i)\bigr)}{\sum_{i=1}^{K} \log^2\mu_{(i)}}."),
))

_SIMILARITY = Section("Similarity and verification", (
    P("Genuine pairs are two embeddings of the same identity, impostor pairs of different identities; all pairs are "
      "counted exactly. With cosine similarity ", InlineMath(r"s=\hat x_i^\top \hat x_j"), " and angle ",
      InlineMath(r"\theta=\arccos s"), ", the decidability index is"),
    Math(r"d' = \frac{|\mu_g-\mu_i|}{\sqrt{(\sigma_g^2+\sigma_i^2)/2}}."),
    P("The false accept rate at threshold ", InlineMath("t"), " is the share of impostor pairs with ",
      InlineMath(r"s\ge t"), ", the false reject rate the share of genuine pairs with ", InlineMath("s<t"),
      "; the equal error rate (EER) is where they meet, and TAR@FAR is the genuine accept rate at the threshold giving "
      "that FAR. On LFW the standard 10-fold pairs protocol chooses the threshold on nine folds and tests on the tenth ",
      Cite("huang2008lfw"), "."),
    P("Intervals of the EER, d-prime and TAR@FAR come from a seeded bootstrap over identities: each replicate draws "
      "the identities with replacement, weighs an identity's genuine pairs by the times it was drawn and an impostor "
      "pair by the product of its two identities' counts, and the interval is the central percentile range of the "
      "replicates. Identities, not pairs, are resampled because the pairs of one identity share its images. A TAR@FAR "
      "is reported only when enough impostor pairs (", Code("[similarity] min_impostor_pairs"), ", 100 by default) "
      "score above its threshold; below that, a handful of pairs sets the threshold and the value is shown as not "
      "estimable. Classifier accuracies carry Wilson intervals over their cross-validated predictions."),
))

_DIFFERENTIALS = Section("Demographic and covariate differentials", (
    P("Following NIST's demographic-differentials method ", Cite("grother2019nistir8280"), " and ISO/IEC 19795-10 ",
      Cite("iso19795part10"), ", in the terms of ISO/IEC 19795-1 ", Cite("iso19795_1"), " (a false match is a "
      "non-mated pair, two images of different people, accepted; a false non-match a mated pair rejected; FMR and FNMR "
      "are the FAR and FRR of the verification section), one threshold per target false match rate ", InlineMath("f"),
      " is fixed over all non-mated pairs ", InlineMath(r"\mathcal N"), " of a cell, as a deployed system fixes it for "
      "everyone: the loosest bin edge whose FMR does not exceed the target,"),
    Math(r"\tau_f = \min\{\tau : \mathrm{FMR}(\tau) \le f\},\qquad "
         r"\mathrm{FMR}(\tau) = \frac{|\{(i,j)\in\mathcal N : s_{ij}\ge\tau\}|}{|\mathcal N|}."),
    P("For a group ", InlineMath("g"), " of a group column (sex, age band, session, lighting), with ",
      InlineMath(r"\mathcal M_g"), " the mated pairs and ", InlineMath(r"\mathcal N_g"), " the non-mated pairs whose two "
      "images are both in ", InlineMath("g"), ", and ", InlineMath(r"\mathcal N_{gh}"), " the non-mated pairs with one "
      "image in ", InlineMath("g"), " and one in ", InlineMath("h"), ","),
    Math(r"\mathrm{FNMR}_g(\tau) = \frac{|\{(i,j)\in\mathcal M_g : s_{ij}<\tau\}|}{|\mathcal M_g|},\quad "
         r"\mathrm{FMR}_g(\tau) = \frac{|\{(i,j)\in\mathcal N_g : s_{ij}\ge\tau\}|}{|\mathcal N_g|},"),
    Math(r"\mathrm{FMR}_{gh}(\tau) = \frac{|\{(i,j)\in\mathcal N_{gh} : s_{ij}\ge\tau\}|}{|\mathcal N_{gh}|}."),
    P("The differential of a rate ", InlineMath("r"), " at a threshold is the ratio of the highest group to the lowest, ",
      InlineMath(r"R = \max_g r_g / \min_g r_g"), ", over the groups with enough identities; NIST's heatmaps show ",
      InlineMath(r"\mathrm{FMR}_{gh}"), " for every pair of groups, here divided by the target so that white means as "
      "promised. Each group's EER and d-prime use its own mated and non-mated pairs. Mated pairs across two groups (a "
      "per-image covariate) belong to no group's FNMR; images without a value are left out of every group (or form one, "
      "with ", Code('[differentials] missing = "group"'), ") but count in the global thresholds."),
    P("Intervals come from the bootstrap over identities of the verification section with the thresholds held fixed: "
      "an identity ", InlineMath("a"), " drawn ", InlineMath("w_a"), " times weighs its mated pairs by ", InlineMath("w_a"),
      " and a non-mated pair between ", InlineMath("a"), " and ", InlineMath("b"), " by ", InlineMath("w_a w_b"), ", so "
      "that with ", InlineMath("F_{ag}"), " the false non-matches of identity ", InlineMath("a"), " in ", InlineMath("g"),
      ", ", InlineMath("A_{abg}"), " the false matches between ", InlineMath("a"), " and ", InlineMath("b"), " in ",
      InlineMath("g"), " and ", InlineMath("n_{ag}"), " the images of ", InlineMath("a"), " in ", InlineMath("g"), ","),
    Math(r"\mathrm{FNMR}^*_g = \frac{\sum_a w_a F_{ag}}{\sum_a w_a |\mathcal M_{ag}|},\qquad "
         r"\mathrm{FMR}^*_g = \frac{\sum_{a<b} w_a w_b A_{abg}}{\sum_{a<b} w_a w_b\, n_{ag} n_{bg}}."),
    P("The interval of a ratio is that of the ratio of the two groups it names, from the same replicates (recomputing "
      "max/min in every replicate would never fall below 1). A group with fewer than ", Code("min_identities"),
      " identities is shown but gets no interval and enters no ratio. A rate at target ", InlineMath("f"), " is "
      "estimable only when the global threshold rests on at least ", Code("[similarity] min_impostor_pairs"),
      " non-mated pairs and, for an FMR, the group holds at least ", InlineMath(r"m/f"), " non-mated pairs (",
      InlineMath("m"), " that minimum). Above ", Code("[similarity] exact_max_rows"), " rows mated pairs stay exact and "
      "non-mated pairs are a seeded sample drawn separately for every pair of groups (a stratified sample: a small group "
      "gets as many pairs as a large one), the global thresholds read from the strata weighted by their sizes."),
))

_CLUSTERING = Section("Clustering and cluster metrics", (
    P("KMeans over a range of k, DBSCAN ", Cite("ester1996dbscan"), ", HDBSCAN ", Cite("campello2013hdbscan"),
      " and agglomerative clustering (ward, average, complete, single linkage) run on L2-normalised vectors. "
      "External metrics compare clusters ", InlineMath(r"\Omega=\{\omega_k\}"), " with identities ",
      InlineMath(r"C=\{c_j\}"), " over ", InlineMath("N"), " items ", Cite("manning2008ir"), ":"),
    Math(r"\mathrm{purity}(\Omega,C)=\frac{1}{N}\sum_k\max_j|\omega_k\cap c_j|,\qquad "
         r"\mathrm{RI}=\frac{TP+TN}{TP+FP+FN+TN},"),
    P("where the pair counts TP, FP, FN, TN classify every pair of items by same-cluster and same-identity. Pairwise "
      "precision is ", InlineMath(r"TP/(TP+FP)"), ", recall ", InlineMath(r"TP/(TP+FN)"), " and ",
      InlineMath(r"F_\beta=(1+\beta^2)PR/(\beta^2P+R)"), ". The adjusted Rand index ", Cite("hubert1985ari"),
      " and the (adjusted) mutual information ", Cite("vinh2010ami"), " correct for chance. BCubed ",
      Cite("amigo2009bcubed"), " averages per item:"),
    Math(r"P_{B^3}=\frac{1}{N}\sum_i\frac{|\{j:\omega(j)=\omega(i),\,c(j)=c(i)\}|}{|\{j:\omega(j)=\omega(i)\}|},\quad "
         r"R_{B^3}=\frac{1}{N}\sum_i\frac{|\{j:\omega(j)=\omega(i),\,c(j)=c(i)\}|}{|\{j:c(j)=c(i)\}|}."),
    P("Internal metrics need no labels. The silhouette of item ", InlineMath("i"), " ", Cite("rousseeuw1987silhouette"),
      " with mean intra-cluster distance ", InlineMath("a_i"), " and smallest mean distance to another cluster ",
      InlineMath("b_i"), " is"),
    Math(r"s_i=\frac{b_i-a_i}{\max(a_i,b_i)}\in[-1,1];"),
    P("Davies-Bouldin ", Cite("davies1979cluster"), " averages the worst ratio of within-cluster scatter to centroid "
      "separation (lower is better), Calinski-Harabasz ", Cite("calinski1974dendrite"), " is the ratio of between- to "
      "within-cluster dispersion (higher is better), and the Dunn index ", Cite("dunn1973fuzzy"), " is"),
    Math(r"D=\frac{\min_{k\ne l}\delta(\omega_k,\omega_l)}{\max_k \Delta(\omega_k)},"),
    P("the smallest distance between two clusters over the largest cluster diameter (higher is better)."),
))

_MANIFOLD = Section("2-D maps", (
    P("PCA, t-SNE ", Cite("vandermaaten2008tsne"), " and UMAP ", Cite("mcinnes2018umap"), " project L2-normalised "
      "embeddings to two dimensions. Trustworthiness ", Cite("venna2001trustworthiness"),
      " measures how many of a point's k nearest neighbours in the map were not neighbours in the original space "
      "(1 = perfectly trustworthy):"),
    Math(r"T(k)=1-\frac{2}{nk(2n-3k-1)}\sum_{i=1}^{n}\sum_{j\in U_i^{(k)}}\bigl(r(i,j)-k\bigr)."),
))

_CLASSIFIERS = Section("Identity classifiers and audit", (
    P("Four classifiers predict the identity of an embedding: nearest centroid (cosine), k nearest neighbours "
      "(k = 3, cosine), a linear SVM and logistic regression ", Cite("pedregosa2011sklearn"), ", evaluated by stratified "
      "cross-validation (accuracy and macro-F1, mean and standard deviation over folds), trained on the true labels and "
      "on KMeans pseudo-labels."),
    P("The audit ranks suspected label errors: embeddings whose nearest centroid (own centroid computed without them) "
      "belongs to another identity or whose silhouette is negative; identity pairs whose centroids are unusually "
      "similar (possible merged identities); identities split across clusters; near-duplicate images."),
))

PIPELINE = Section("Face pipeline", (
    P("For image datasets, faces are detected with SCRFD ", Cite("guo2021scrfd"), " or RetinaFace ",
      Cite("deng2020retinaface"), " (InsightFace) or dlib ", Cite("king2009dlib"), ", filtered by detector confidence "
      "and box size, aligned as each network expects (ArcFace models: a similarity transform of five landmarks to the "
      "112x112 ArcFace template; dlib: its own 150x150 face chip), and embedded "
      "by ArcFace ", Cite("deng2019arcface"), " ONNX models, dlib's ResNet or FaceNet ", Cite("schroff2015facenet"),
      ". Raw (un-normalised) float32 vectors are stored so that norm distributions can be studied."),
    Bullets(
        ("Identity datasets keep one face per image (the largest, most central); the others are recorded.",),
        ("Every input that yields no embedding is recorded with a reason (unreadable, no face, too small, low score).",),
        ("Config keys: ", Code("[extraction]"), " in the study config.",),
    ),
))

_DISCOVERY = Section("Unlabelled photos: identity discovery and recognition", (
    P("With ", Code('face_selection = "all"'), " every face passing the score and size thresholds is an item ",
      Code("<photo>#<face>"), ". Identities are discovered by KMeans over ", InlineMath("k = 2,\\dots,\\lceil 2\\sqrt{n}\\rceil"),
      "; the chosen ", InlineMath("k"), " has the highest mean silhouette, reported beside the elbow of the distortion "
      "(the point farthest from the chord of the curve), the lowest Davies-Bouldin and the highest Calinski-Harabasz. "
      "HDBSCAN ", Cite("campello2013hdbscan"), " and average-linkage clustering cut at the largest gap between merge "
      "heights need no ", InlineMath("k"), "; their agreement is the adjusted Rand index ", Cite("hubert1985ari"), "."),
    P("After naming, the classifier with the best cross-validated accuracy is refitted on every face. A new face is "
      "given its prediction ", InlineMath("c"), " only if ", InlineMath(r"\hat x^\top \hat\mu_c \ge t"), ", where ",
      InlineMath("t"), " is the ", InlineMath(r"1-\mathrm{FAR}"), " quantile of the similarities of every study face to "
      "the centroids of the other identities; otherwise it is unknown."),
))

SECTIONS = (_GEOMETRY, _SIMILARITY, ISO_VERIFICATION, _DIFFERENTIALS, IDENTIFICATION, _CLUSTERING, _MANIFOLD,
            _CLASSIFIERS, PIPELINE, _DISCOVERY)


def page() -> Page:
    """The Methods page of the site."""
    return Page(("methods",), "Methods", (P(
        "Definitions of every statistic in this report. Formulas are rendered by MathJax; references are listed at the "
        "bottom of this page and in the paper's bibliography."),), SECTIONS)
