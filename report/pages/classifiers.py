"""Classifier pages: cross-validated identity classification on true and pseudo-labels."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from analysis.statistics.classifiers.classifiers import CLASSIFIER_TITLES, CLASSIFIERS, ClassifierResult, ConfusionSummary
from analysis.statistics.uncertainty import wilson_interval
from analysis.types import Cell
from report import plotting
from report.format import fixed, pm
from report.model import Admonition, Bullets, Figure, P, Page, Section, Strong, Table, Text
from report.contexts import CellContext
from report.pages.approximations import classifiers_note

PAPER_TEXT = (
    "Four classifiers (nearest centroid by cosine, 3-nearest neighbours by cosine, a linear SVM and a "
    "logistic regression) are scored by stratified cross-validation on the true identity labels and "
    "on KMeans pseudo-labels; accuracy and macro-F1 are reported as mean and standard deviation over folds."
)

_SOURCE_TITLE = {"true": "true labels", "kmeans": "KMeans pseudo-labels"}


def _one_fold(r: ClassifierResult) -> bool:
    """Whether some score was made on fewer folds than the cross-validation has ([classifiers] cv_max_rows)."""
    return any(s.folds_scored < r.folds for s in r.scores)


def scores_frame(r: ClassifierResult) -> pd.DataFrame:
    """One row per (classifier, label source); a "folds scored" column when some were scored on fewer folds
    (their standard deviation over folds is then undefined, shown empty)."""
    columns = ["classifier", "labels", "classes", "accuracy mean", "accuracy std", "macro-F1 mean", "macro-F1 std",
               "folds not converged"]
    if _one_fold(r):
        columns.insert(3, "folds scored")
    return pd.DataFrame(
        [
            {
                "classifier": CLASSIFIER_TITLES[s.classifier],
                "labels": _SOURCE_TITLE[s.labels],
                "classes": "all " + format(s.n_classes, ",d") if s.scope == "all" else f"subset of {s.n_classes:,d}",
                "folds scored": f"{s.folds_scored} of {r.folds} ({s.n_test:,d} test images)",
                "accuracy mean": s.accuracy_mean,
                "accuracy std": s.accuracy_std if s.folds_scored > 1 else np.nan,
                "macro-F1 mean": s.f1_mean,
                "macro-F1 std": s.f1_std if s.folds_scored > 1 else np.nan,
                "folds not converged": s.not_converged,
            }
            for s in r.scores
        ],
        columns=columns,
    )


def _accuracy_text(r: ClassifierResult, s) -> str:
    """``"accuracy 0.9512 ± 0.0031 (95% Wilson interval [0.9401, 0.9610] over 2,345 predictions), macro-F1 ..."``;
    on one fold, its Wilson interval instead of a spread over folds (the interval the paper reports)."""
    source = next((x for x in r.sources if x.name == s.labels), None)
    n = int(s.n_test or (source.n_samples if source is not None else 0))
    ci = wilson_interval(s.accuracy_mean * n, n) if n else None
    wilson = f"95% Wilson interval [{fixed(ci.low, 4)}, {fixed(ci.high, 4)}] over {n:,d} predictions" if ci else ""
    if s.folds_scored > 1:
        return (f"accuracy {pm(s.accuracy_mean, s.accuracy_std, 4)}" + (f" ({wilson})" if wilson else "")
                + f", macro-F1 {pm(s.f1_mean, s.f1_std, 4)}")
    return (f"accuracy {fixed(s.accuracy_mean, 4)} on fold 1 of {r.folds} ({s.n_test:,d} test images; {wilson}), "
            f"macro-F1 {fixed(s.f1_mean, 4)}")


def confused_frame(c: ConfusionSummary) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "identity A": c.names[c.pair_a].astype(str),
            "identity B": c.names[c.pair_b].astype(str),
            "errors A->B": c.a_to_b,
            "errors B->A": c.b_to_a,
            "errors total": c.pair_count,
        }
    )


def sources_frame(r: ClassifierResult) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "labels": _SOURCE_TITLE[s.name],
                "classes kept": s.n_classes,
                "images kept": s.n_samples,
                "classes dropped": len(s.dropped_classes),
                "images dropped": s.dropped_samples,
                "dropped (first 10)": ", ".join(s.dropped_classes[:10]) + (" ..." if len(s.dropped_classes) > 10 else ""),
            }
            for s in r.sources
        ]
    )


# --------------------------------------------------------------------------- figures
@dataclass(frozen=True, eq=False)
class _BarData:
    classifiers: tuple[str, ...]
    sources: tuple[str, ...]
    mean: np.ndarray  # (sources, classifiers)
    std: np.ndarray


def plot_bars(d: _BarData):
    """Accuracy per classifier, one bar per label source, error bars = std over folds."""
    fig, ax = plotting.figure(6.4, 3.4)
    width = 0.8 / max(1, len(d.sources))
    xs = np.arange(len(d.classifiers))
    colors = (plotting.ACCENT, plotting.SECOND)
    for i, src in enumerate(d.sources):
        ax.bar(xs + (i - (len(d.sources) - 1) / 2) * width, d.mean[i], width, yerr=d.std[i], capsize=3,
               color=colors[i % 2], alpha=0.85, label=_SOURCE_TITLE[src])
    ax.set_xticks(xs, [CLASSIFIER_TITLES[c] for c in d.classifiers])
    lo = float(np.nanmin(d.mean - d.std)) if np.isfinite(d.mean).any() else 0.0
    ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    ax.set_ylabel("cross-validated accuracy")
    ax.legend(loc="lower right")
    return fig


@dataclass(frozen=True, eq=False)
class _ConfusionData:
    matrix: np.ndarray  # restricted (m, m)
    names: np.ndarray


def plot_confusion(d: _ConfusionData):
    """Row-normalised confusion among the most confused identities; diagonal greyed out."""
    m = d.matrix.astype(float)
    rows = m.sum(axis=1, keepdims=True)
    frac = m / np.where(rows > 0, rows, 1)
    off = frac.copy()
    np.fill_diagonal(off, np.nan)
    size = 2.5 + 0.28 * len(m)
    fig, ax = plotting.figure(size + 1.2, size)
    vmax = float(np.nanmax(off)) if np.isfinite(off).any() and np.nanmax(off) > 0 else 1.0
    im = ax.imshow(off, cmap="Reds", vmin=0, vmax=vmax, interpolation="nearest")
    ax.grid(False)
    labels = [str(n) if len(str(n)) <= 20 else "\u2026" + str(n)[-19:] for n in d.names]  # keep the distinguishing end
    ax.set_xticks(np.arange(len(m)), labels, rotation=90, fontsize=6)
    ax.set_yticks(np.arange(len(m)), labels, fontsize=6)
    ax.set_xlabel("predicted identity")
    ax.set_ylabel("true identity")
    fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of the true identity's images (diagonal omitted)")
    return fig


# --------------------------------------------------------------------------- page
def page(ctx: CellContext, r: ClassifierResult) -> Page:
    """The classifiers page of one cell."""
    p = r.params
    if r.skipped:
        return Page(
            path=(*ctx.path, "classifiers"), title="Classifiers",
            intro=(Admonition("warning", "Classifiers skipped", (Text(r.skipped),)),),
            synthetic=ctx.synthetic, nav_titles=ctx.nav_titles,
        )
    frame = scores_frame(r)
    true = [s for s in r.scores if s.labels == "true" and s.scope == "all"]
    best = max(true, key=lambda s: s.accuracy_mean)
    sampling = (
        f"The linear SVM and the logistic regression are fitted on {'a PCA projection to ' + str(r.pca_dims) + ' components' if r.pca_dims else 'the full vectors'}"
        f" of each training fold{f', on a seeded stratified sample of at most {p.max_samples:,d} training images' if r.sampled else ''}; "
        "the nearest-centroid and k-NN classifiers use all training images and all dimensions; test folds are never sampled."
    )
    if r.linear_subset:
        sampling += (
            f" With more than {p.linear_max_identities:,d} classes the linear models (one model per class) are "
            f"cross-validated on a seeded subset of {p.linear_max_identities:,d} classes only, and the other two "
            "are scored on that subset as well: compare classifiers within one 'classes' value, never across, "
            "since accuracy falls as the number of classes grows."
        )
    intro = [
        P("Cell ", Strong(ctx.label), f": {r.n_identities} identities, {p.folds}-fold stratified cross-validation on "
          f"L2-normalised embeddings ({ctx.subset_description}). Each classifier is trained on the true labels and on "
          f"KMeans pseudo-labels (k = number of identities, Lloyd with {p.kmeans_n_init} seeded initialisation(s), "
          "k-means++ seeding up to 10^6 k x rows and random rows beyond, lowest inertia kept); the pseudo-labels agree with the true labels at an "
          f"adjusted Rand index of {r.kmeans_ari:.3f}."),
        Bullets(
            ("Best on true labels: ", Strong(CLASSIFIER_TITLES[best.classifier]), ", " + _accuracy_text(r, best)),
            (sampling,),
        ),
    ]
    if (note := classifiers_note(r)) is not None:
        intro.append(note)
    dropped = sum(len(s.dropped_classes) for s in r.sources)
    if dropped:
        intro.append(Admonition("note", "Classes dropped", (Text(
            f"Identities or clusters with fewer than {p.folds} images cannot appear in every stratified fold and are left "
            "out; see the table of label sources."),)))
    sources = tuple(dict.fromkeys(s.labels for s in r.scores))
    # The bars compare the four classifiers on one task: the class subset when the linear models ran only there.
    scope = "subset" if r.linear_subset else "all"
    mean = np.array([[r.score(c, s, scope).accuracy_mean if r.score(c, s, scope) else np.nan for c in CLASSIFIERS] for s in sources])
    # One scored fold has no spread over folds: no error bar (the caption says so).
    std = np.array([[r.score(c, s, scope).accuracy_std if r.score(c, s, scope) else np.nan for c in CLASSIFIERS] for s in sources])
    one_fold_bars = any(sc.folds_scored < 2 for sc in r.scores if sc.scope == scope)
    sections = [
        Section(
            "Cross-validated accuracy",
            (
                Table(
                    key=ctx.key("classifiers-scores"),
                    caption=(f"Accuracy and macro-F1 (mean and standard deviation over {p.folds} folds"
                             f"{'; over the folds scored, where fewer' if _one_fold(r) else ''}) of each classifier "
                             f"on true labels and KMeans pseudo-labels ({ctx.label}). Macro-F1 weighs every identity "
                             "equally, so it falls below accuracy when small identities are misclassified."),
                    frame=frame,
                    formats={c: ".4f" for c in ("accuracy mean", "accuracy std", "macro-F1 mean", "macro-F1 std")},
                    in_paper=ctx.cell.subset == "all",
                    max_rows=None,
                ),
                Figure(
                    key=ctx.key("classifiers-bars"),
                    caption=(f"Cross-validated accuracy per classifier and label source ({ctx.label}"
                             f"{f', seeded subset of {p.linear_max_identities:,d} classes' if r.linear_subset else ''}); error bars are "
                             "the standard deviation over folds"
                             f"{' (none where one fold was scored)' if one_fold_bars else ''}. A gap between true labels "
                             "and pseudo-labels measures how much identity structure KMeans misses."),
                    plot=plot_bars,
                    data=_BarData(CLASSIFIERS, sources, mean, std),
                    in_paper=ctx.cell.subset == "all",
                    width=0.7,
                ),
                Table(
                    key=ctx.key("classifiers-sources"),
                    caption=f"Classes and images kept for cross-validation per label source ({ctx.label}).",
                    frame=sources_frame(r),
                    max_rows=None,
                ),
            ),
        ),
    ]
    c = r.confusion
    if c is not None and len(c.pair_a):
        sub = c.block(c.shown)
        sections.append(
            Section(
                "Most confused identities",
                (
                    Table(
                        key=ctx.key("classifiers-confused"),
                        caption=(f"Identity pairs most often confused by the {CLASSIFIER_TITLES[c.classifier]} classifier "
                                 f"(out-of-fold predictions{' of the folds scored' if _one_fold(r) else ''}, true labels, "
                                 f"{ctx.label}); candidates for merged identities "
                                 "or mislabelled images."),
                        frame=confused_frame(c),
                        max_rows=None,
                    ),
                    Figure(
                        key=ctx.key("classifiers-confusion"),
                        caption=(f"Confusion among the {len(c.shown)} identities of the most confused pairs, "
                                 f"{CLASSIFIER_TITLES[c.classifier]} classifier ({ctx.label}); each row is normalised by the "
                                 "identity's number of images and the diagonal is omitted, so the darkest cells are the "
                                 "largest share of an identity sent to another."),
                        plot=plot_confusion,
                        data=_ConfusionData(sub, c.names[c.shown]),
                        width=0.7,
                    ),
                ),
            )
        )
    elif c is not None:
        sections.append(Section("Most confused identities", (P("No out-of-fold prediction was wrong."),)))
    return Page(
        path=(*ctx.path, "classifiers"),
        title="Classifiers",
        intro=tuple(intro),
        sections=tuple(sections),
        synthetic=ctx.synthetic,
        nav_titles=ctx.nav_titles,
    )


def compare(results: Mapping[Cell, ClassifierResult], contexts: Mapping[Cell, CellContext]) -> tuple[Section, ...]:
    """Accuracy of every classifier on true labels, one row per cell."""
    rows = []
    for cell in sorted(results, key=lambda c: (c.dataset, c.network, c.subset)):
        r = results[cell]
        row = {"dataset": cell.dataset, "network": cell.network, "subset": cell.subset, "identities": r.n_identities}
        for name in CLASSIFIERS:
            s = r.score(name, "true", "all")
            row[f"{name} accuracy"] = s.accuracy_mean if s else np.nan
            row[f"{name} macro-F1"] = s.f1_mean if s else np.nan
        s = r.score("centroid", "kmeans", "all")
        row["centroid accuracy (pseudo-labels)"] = s.accuracy_mean if s else np.nan
        row["KMeans ARI"] = r.kmeans_ari
        rows.append(row)
    frame = pd.DataFrame(rows)
    fmt = {c: ".4f" for c in frame.columns if "accuracy" in c or "F1" in c}
    fmt["KMeans ARI"] = ".3f"
    return (
        Section(
            "Classifiers across networks and subsets",
            (
                P("Cross-validated accuracy and macro-F1 on the true labels of every cell (mean over folds), on all "
                  "identities with enough images; cells with fewer than two such identities show empty values, and so "
                  "do the SVM and logistic regression where they ran on a class subset only (see the cell's page)."),
                Table(
                    key="compare-classifiers",
                    caption="Cross-validated identity classification of every (dataset, network, subset) cell.",
                    frame=frame,
                    formats=fmt,
                    in_paper=True,
                    max_rows=None,
                ),
            ),
        ),
    )


def headline(r) -> str:
    """One sentence of key numbers for the Overview page."""
    true_scores = [s for s in r.scores if s.labels == "true" and s.scope == "all"]
    if r.skipped or not true_scores:
        return ""
    best = max(true_scores, key=lambda s: (float(s.accuracy.mean()), s.classifier))
    if best.folds_scored < 2:
        return (f"best identity classifier {best.classifier}: accuracy {float(best.accuracy.mean()):.3f} on fold 1 of "
                f"{r.folds} ({best.n_test:,d} test images).")
    return (f"best identity classifier {best.classifier}: cross-validated accuracy {float(best.accuracy.mean()):.3f} "
            f"\u00b1 {float(best.accuracy.std()):.3f} ({r.folds} folds).")
