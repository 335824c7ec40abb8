"""Subsets of an embedding set: which images of which identities enter an analysis cell.

Specifications are short strings so that they read well as table columns:

``all``
    every row;
``balanced-N``
    identities with at least N images, each reduced to exactly N images drawn without
    replacement with a seeded generator (so per-identity statistics are comparable);
``min-N``
    identities with at least N images, all of their images;
``range-A-B``
    identities with between A and B images inclusive, all of their images.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from analysis.types import EmbeddingSet

_PATTERN = re.compile(r"(all|balanced-(\d+)|min-(\d+)|range-(\d+)-(\d+))", re.ASCII)  # fullmatch: "all\n" is not "all"


@dataclass(frozen=True)
class SubsetSpec:
    """A parsed subset specification (see module docstring)."""

    text: str
    kind: str
    low: int = 1
    high: int | None = None

    @property
    def description(self) -> str:
        if self.kind == "all":
            return "all images of all identities"
        if self.kind == "balanced":
            return f"identities with at least {self.low} images, {self.low} drawn per identity"
        if self.kind == "min":
            return f"identities with at least {self.low} images"
        return f"identities with {self.low} to {self.high} images"


def parse_subset(text: str) -> SubsetSpec:
    """Parse ``all``, ``balanced-N``, ``min-N`` or ``range-A-B``.

    Raises
    ------
    ValueError
        With the accepted forms, when ``text`` matches none of them.
    """
    m = _PATTERN.fullmatch(text)
    if not m:
        raise ValueError(
            f"unknown subset {text!r}; use 'all', 'balanced-N', 'min-N' or 'range-A-B' (e.g. 'range-5-10')"
        )
    if m.group(2):
        n = int(m.group(2))
        if n < 2:
            raise ValueError(f"subset {text!r}: balanced-N needs N >= 2")
        return SubsetSpec(text, "balanced", n, None)
    if m.group(3):
        return SubsetSpec(text, "min", int(m.group(3)), None)
    if m.group(4):
        lo, hi = int(m.group(4)), int(m.group(5))
        if lo > hi:
            raise ValueError(f"subset {text!r}: range-A-B needs A <= B")
        return SubsetSpec(text, "range", lo, hi)
    return SubsetSpec(text, "all")


def select_subset(emb: EmbeddingSet, spec: SubsetSpec | str, random_state: int = 0) -> EmbeddingSet:
    """Rows of ``emb`` that belong to the subset, in their original order.

    Parameters
    ----------
    emb : EmbeddingSet
    spec : SubsetSpec or str
    random_state : int, default=0
        Seed of the per-identity draw of ``balanced-N``.
    """
    if isinstance(spec, str):
        spec = parse_subset(spec)
    if spec.kind == "all":
        return emb
    names, inverse, counts = np.unique(emb.identities, return_inverse=True, return_counts=True)
    high = spec.high if spec.high is not None else np.inf
    keep_identity = (counts >= spec.low) & (counts <= high)
    mask = keep_identity[inverse]
    if spec.kind == "balanced":
        rng = np.random.default_rng(random_state)
        mask = np.zeros(emb.n_samples, dtype=bool)
        for code in np.flatnonzero(keep_identity):
            rows = np.flatnonzero(inverse == code)
            mask[rng.choice(rows, size=spec.low, replace=False)] = True
    return emb.take(mask)
