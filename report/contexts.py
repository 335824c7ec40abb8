"""What a page builder knows about the thing it renders: a cell, or a dataset across networks.

Page builders (:mod:`report.pages`) receive these small frozen objects next to an analysis
result; the pipeline (:mod:`report.study`) makes them. They live apart from the registry of
steps so that page builders never import the registry that imports them.
"""
from __future__ import annotations

from dataclasses import dataclass

from analysis.types import Cell
from report.escape import slugify


@dataclass(frozen=True)
class CellContext:
    """What a page builder knows about the cell it renders.

    Parameters
    ----------
    cell : Cell
    subset_description : str
        Human description of the subset ("identities with at least 10 images").
    synthetic : bool
        Data are synthetic (pages say so).
    n_dims : int
    seed : int
    junk_labels : tuple of str
        Labels that name no person (``[study] junk_labels``): left out of identity tables.
    """

    cell: Cell
    subset_description: str
    synthetic: bool
    n_dims: int
    seed: int = 0
    junk_labels: tuple[str, ...] = ("unknown",)

    @property
    def path(self) -> tuple[str, ...]:
        """Site path of the cell's pages: ``(dataset, network, subset)``."""
        return (self.cell.dataset, self.cell.network, self.cell.subset)

    @property
    def nav_titles(self) -> tuple[str, ...]:
        return (self.cell.dataset, self.cell.network, self.cell.subset)

    @property
    def label(self) -> str:
        """``demo / arcface-512 / all`` for captions."""
        return f"{self.cell.dataset} / {self.cell.network} / {self.cell.subset}"

    def key(self, name: str) -> str:
        """Report-wide unique key for a figure or table of this cell."""
        return "-".join(slugify(p) for p in (*self.path, name))


@dataclass(frozen=True)
class DatasetContext:
    """What a dataset-level page builder knows: the dataset and its networks."""

    dataset: str
    networks: tuple[str, ...]
    synthetic: bool
    seed: int = 0

    def key(self, name: str) -> str:
        return "-".join(slugify(p) for p in (self.dataset, "networks", name))
