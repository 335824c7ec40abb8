"""The registry of analyses: how each one is computed, cached and turned into pages.

A :class:`CellStep` runs on every (dataset, network, subset) cell: ``compute`` is a pure,
module-level function ``compute(emb, params, random_state) -> result`` (cached by the pipeline
on the content of its arguments) and ``page`` builds the cell's page from the result.
``compare`` (optional) builds sections of the Comparisons page from the results of every cell.

A :class:`DatasetStep` runs once per dataset on all of its networks' embeddings at once (the
cross-network analyses).

Adding an analysis = writing ``analysis/statistics/<name>.py`` (params + compute), ``report/pages/
<name>.py`` (page builders) and one entry in :data:`CELL_STEPS` / :data:`DATASET_STEPS`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from analysis.statistics.audit.audit import analyze_audit
from analysis.statistics.classifiers.classifiers import analyze_classifiers
from analysis.statistics.clustering.clustering import analyze_clustering
from analysis.statistics.crossnet import analyze_crossnet
from analysis.statistics.discovery import analyze_discovery
from analysis.statistics.geometry import analyze_geometry
from analysis.statistics.identification.identification import analyze_identification
from analysis.statistics.manifold import analyze_manifold
from analysis.statistics.verification.differentials.differentials import analyze_differentials
from analysis.statistics.verification.similarity import analyze_similarity
from analysis.types import Cell
from report.contexts import CellContext, DatasetContext
from report.pages import (audit, classifiers, clustering, crossnet, differentials, discovery, geometry,
                          identification, manifold, similarity)


@dataclass(frozen=True)
class CellStep:
    """An analysis run on every cell. See module docstring."""

    name: str
    title: str
    params: Callable[[Any], Any]  # StudyConfig -> params dataclass
    compute: Callable[..., Any]
    page: Callable[[CellContext, Any], Any]  # -> report.model.Page
    compare: Callable[[Mapping[Cell, Any], Mapping[Cell, CellContext]], tuple] | None = None
    paper_text: str = ""  # one paragraph introducing the analysis in the paper's Results
    # "labelled": needs identity labels (skipped with a reason on unlabelled cells);
    # "unlabelled": runs only on cells of unlabelled datasets (identity discovery).
    labels: str = "labelled"
    # Whether the analysis applies to a cell's embeddings at all (None: always); a cell it does not
    # apply to gets no page and no warning (the differentials of a dataset without group columns).
    applies: Callable[[Any], bool] | None = None
    # Whether the analysis reads the set's group columns. The others receive the set without them, so
    # that editing a metadata file recomputes only the analyses that read it.
    groups: bool = False

    def enabled(self, config) -> bool:
        return bool(getattr(self.params(config), "enabled", True))


@dataclass(frozen=True)
class DatasetStep:
    """An analysis run once per dataset across its networks (``compute(dict network->emb, params, seed)``)."""

    name: str
    title: str
    params: Callable[[Any], Any]
    compute: Callable[..., Any]
    page: Callable[[DatasetContext, Any], Any]
    paper_text: str = ""

    def enabled(self, config) -> bool:
        return bool(getattr(self.params(config), "enabled", True))


def _registry() -> tuple[tuple[CellStep, ...], tuple[DatasetStep, ...]]:
    def cell(name, title, params, compute, module, labels="labelled", applies=None, groups=False) -> CellStep:
        return CellStep(name=name, title=title, params=params, compute=compute, page=module.page,
                        compare=getattr(module, "compare", None), paper_text=getattr(module, "PAPER_TEXT", ""),
                        labels=labels, applies=applies, groups=groups)

    cell_steps = (
        cell("discovery", "Identity discovery", lambda c: c.discovery, analyze_discovery, discovery, labels="unlabelled"),
        cell("geometry", "Geometry", lambda c: c.geometry, analyze_geometry, geometry),
        cell("similarity", "Similarity", lambda c: c.similarity, analyze_similarity, similarity),
        cell("identification", "Identification", lambda c: c.identification, analyze_identification, identification),
        # Shared settings (bins, exact/sampled switch, estimability, confidence) follow [similarity].
        cell("differentials", "Differentials", lambda c: c.differentials.following(c.similarity), analyze_differentials,
             differentials, applies=_has_groups, groups=True),
        cell("clustering", "Clustering", lambda c: c.clustering, analyze_clustering, clustering),
        cell("manifold", "Manifold", lambda c: c.manifold, analyze_manifold, manifold),
        cell("classifiers", "Classifiers", lambda c: c.classifiers, analyze_classifiers, classifiers),
        cell("audit", "Audit", lambda c: c.audit, analyze_audit, audit),
    )
    dataset_steps = (
        DatasetStep(name="crossnet", title="Across networks", params=lambda c: c.crossnet, compute=analyze_crossnet,
                    page=crossnet.page, paper_text=getattr(crossnet, "PAPER_TEXT", "")),
    )
    return cell_steps, dataset_steps


def _has_groups(emb) -> bool:
    return bool(emb.groups)


def cell_steps() -> tuple[CellStep, ...]:
    """Every per-cell analysis in page order."""
    return _registry()[0]


def dataset_steps() -> tuple[DatasetStep, ...]:
    """Every per-dataset (cross-network) analysis."""
    return _registry()[1]
