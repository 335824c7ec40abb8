"""Typed containers shared by every analysis.

The central object is :class:`EmbeddingSet`: the raw (un-normalised) float32 vectors of one
(dataset, network) pair with the identity label and the item (image path or sample id) of
every row. Analyses receive an ``EmbeddingSet`` (or a subset of one) and return frozen
dataclasses; nothing in this module does I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np


@dataclass(frozen=True, eq=False)
class EmbeddingSet:
    """Raw embeddings of one dataset under one network.

    Parameters
    ----------
    dataset : str
        Dataset name from the study config.
    network : str
        Network name from the study config.
    vectors : ndarray of shape (n_samples, n_dims), float32
        Raw embeddings as produced by the network (not L2-normalised).
    identities : ndarray of shape (n_samples,), str
        Identity label of each row.
    items : ndarray of shape (n_samples,), str
        Image path (relative to the dataset root) or sample id of each row; unique.
    synthetic : bool, default=False
        True for generated data; every page showing it says so.
    meta : mapping of str to str
        Provenance: model id, weights hash, preprocessing, generator parameters.
    groups : tuple of (str, ndarray) pairs, default=()
        Group columns for the demographic and covariate differentials: ``(column name, per-row
        values)``, the values a fixed-width unicode array of shape ``(n_samples,)`` with ``""``
        for a missing value (sex, age band, session, lighting...). Read by
        :func:`analysis.embedding.datasets.groups.attach_groups`; part of the content hash.
    """

    dataset: str
    network: str
    vectors: np.ndarray
    identities: np.ndarray
    items: np.ndarray
    synthetic: bool = False
    meta: Mapping[str, str] = field(default_factory=dict)
    groups: tuple[tuple[str, np.ndarray], ...] = ()

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D (n_samples, n_dims), got shape {self.vectors.shape}")
        n = self.vectors.shape[0]
        if self.identities.shape != (n,) or self.items.shape != (n,):
            raise ValueError(
                f"identities {self.identities.shape} and items {self.items.shape} must both have "
                f"shape ({n},) to match vectors {self.vectors.shape}"
            )
        if not np.isfinite(self.vectors).all():
            raise ValueError("vectors contain NaN or inf; drop those rows when loading (see analysis.embedding.datasets)")
        names = [name for name, _ in self.groups]
        if len(set(names)) != len(names) or not all(isinstance(name, str) and name for name in names):
            raise ValueError(f"group column names must be unique non-empty strings, got {names}")
        for name, values in self.groups:
            if not isinstance(values, np.ndarray) or values.shape != (n,) or values.dtype.kind != "U":
                raise ValueError(f"group column {name!r} must be a unicode array of shape ({n},), got "
                                 f"{getattr(values, 'dtype', type(values))} {getattr(values, 'shape', '')}")

    def __getstate__(self) -> dict:
        # A set without group columns pickles, hence hashes in the analysis cache, as before the field
        # existed: caches of studies without groups stay valid.
        state = dict(self.__dict__)
        if not state.get("groups"):
            state.pop("groups", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({"groups": (), **state})

    @property
    def n_samples(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def n_dims(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def identity_names(self) -> np.ndarray:
        """Sorted unique identity names; index ``i`` is label code ``i``."""
        return np.unique(self.identities)

    @property
    def labels(self) -> np.ndarray:
        """Integer label codes (0..n_identities-1) following :attr:`identity_names`."""
        return np.unique(self.identities, return_inverse=True)[1].astype(np.int64)

    @property
    def group_columns(self) -> tuple[str, ...]:
        """Names of the group columns, in config order."""
        return tuple(name for name, _ in self.groups)

    def group(self, name: str) -> np.ndarray:
        """Per-row values of group column ``name`` (``""`` where missing)."""
        for column, values in self.groups:
            if column == name:
                return values
        raise KeyError(f"no group column {name!r}; columns: {', '.join(self.group_columns) or 'none'}")

    def normalized(self) -> np.ndarray:
        """L2-normalised copy of :attr:`vectors` (float32)."""
        return l2_normalize(self.vectors)

    def take(self, index: np.ndarray) -> "EmbeddingSet":
        """Rows ``index`` (boolean mask or integer positions) as a new set."""
        return EmbeddingSet(
            dataset=self.dataset,
            network=self.network,
            vectors=self.vectors[index],
            identities=self.identities[index],
            items=self.items[index],
            synthetic=self.synthetic,
            meta=self.meta,
            groups=tuple((name, values[index]) for name, values in self.groups),
        )


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation; zero rows stay zero instead of becoming NaN."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)



@dataclass(frozen=True)
class Cell:
    """One (dataset, network, subset) combination of a study."""

    dataset: str
    network: str
    subset: str
