"""The registry of reported values: every number the site and the paper state, under a stable key.

:func:`build_values` is pure: study results in, a sorted tuple of :class:`Value` out. Each value
has its key, its raw value, its text exactly as the site shows it, its interval where there is
one, the page that shows it and a short description. The same tuple feeds

- the paper: its prose writes ``\\atlasvalue{key}`` / ``\\atlasinterval{key}`` (:class:`report.model.Val`),
  defined in ``paper/values.tex`` by :func:`values_tex`;
- ``docs/tables/values.csv`` and the site's Values page (:func:`values_frame`);
- the researcher's own LaTeX files and site pages (:mod:`report.user_content`),

so the number a page shows and the number ``\\atlasvalue`` prints are the same characters.

Keys (documented on the Values page and in the README), every part a slug of the site
(:func:`report.escape.slugify`: a hostile name becomes ``x-<hash>`` or ``<ascii>-<hash>``):

- ``<dataset>/<network>/<subset>/<analysis>/<name>``: one number of one cell
  (``demo/arcface-like-512/all/similarity/eer``);
- ``<dataset>/<network>/data/<name>``: inputs, embedded, skipped of one embedding set;
- ``<dataset>/data/<name>`` and ``<dataset>/<analysis>/<name>``: one number of a dataset.

Where a value is not estimable (a TAR@FAR on too few impostor pairs) its text says so
(``not estimable``) everywhere; it is never a stale number.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from analysis.types import Cell
from report.escape import latex as tex, slugify
from report.format import count
from report.value_sources import CELL_VALUES, DATASET_VALUES, Entry

#: A valid key: two to five slugs separated by ``/``.
KEY_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*(?:/[a-z0-9]+(?:-[a-z0-9]+)*){1,4}$")


@dataclass(frozen=True)
class Value:
    """One reported number.

    Parameters
    ----------
    key : str
        Stable key (see the module docstring).
    value : float, int, str or None
        Raw value; None when not estimable.
    text : str
        Formatted exactly as the site shows it (``0.70%``, ``not estimable``).
    low, high : float or None
        Interval bounds, where there is an interval.
    interval_text : str
        The interval formatted as the site shows it (``[0.52%, 0.91%]``); empty when none.
    page : str
        Markdown file of the page that shows it, relative to ``docs/``.
    description : str
        What the number is.
    """

    key: str
    value: Any
    text: str
    low: float | None = None
    high: float | None = None
    interval_text: str = ""
    page: str = ""
    description: str = ""


# --------------------------------------------------------------------------- keys
def _page(*path: str) -> str:
    return "/".join(slugify(p) for p in path) + ".md"


def cell_prefix(cell: Cell) -> str:
    """``demo/arcface-like-512/all``: the slugs of a cell's pages."""
    return "/".join(slugify(p) for p in (cell.dataset, cell.network, cell.subset))


def cell_key(cell: Cell, analysis: str, name: str) -> str:
    """Key of one number of one cell: ``<dataset>/<network>/<subset>/<analysis>/<name>``."""
    return f"{cell_prefix(cell)}/{slugify(analysis)}/{name}"


def network_key(dataset: str, network: str, name: str) -> str:
    """Key of one number of one embedding set: ``<dataset>/<network>/data/<name>``."""
    return f"{slugify(dataset)}/{slugify(network)}/data/{name}"


def dataset_key(dataset: str, analysis: str, name: str) -> str:
    """Key of one number of a dataset: ``<dataset>/<analysis or data>/<name>``."""
    return f"{slugify(dataset)}/{slugify(analysis)}/{name}"


def _value(key: str, e: Entry, page: str) -> Value:
    if not KEY_PATTERN.match(key):
        raise ValueError(f"invalid value key {key!r} (entry names are lower-case slugs; see report/value_sources.py)")
    return Value(key, e.value, e.text, e.low, e.high, e.interval_text, page, e.description)


# --------------------------------------------------------------------------- the registry
def data_entries(inp) -> tuple[list[Entry], dict[str, list[Entry]]]:
    """Per-dataset and per-network counts of a :class:`report.study.DatasetInput` (shown on its Data page)."""
    per_net: dict[str, list[Entry]] = {}
    inputs, identities = 0, 0
    for net, emb in sorted(inp.embeddings.items()):
        skipped = int((inp.skipped["network"] == net).sum()) if len(inp.skipped) else 0
        ids = len(set(map(str, emb.identities)))
        n_in = emb.n_samples + skipped
        inputs, identities = max(inputs, n_in), max(identities, ids)
        per_net[net] = [
            Entry("inputs", n_in, count(n_in), f"inputs of the dataset for network {net}"),
            Entry("embedded", emb.n_samples, count(emb.n_samples), "inputs that became embeddings"),
            Entry("skipped", skipped, count(skipped), "inputs skipped (no face, unreadable, ...)"),
            Entry("identities", ids, count(ids), "identities with at least one embedding"),
            Entry("dims", emb.n_dims, str(emb.n_dims), "dimensions of the embeddings"),
        ]
    return ([Entry("inputs", inputs, count(inputs), "inputs of the dataset (the most any network received)"),
             Entry("identities", identities, count(identities), "identities (the most any network embedded)")],
            per_net)


def build_values(results) -> tuple[Value, ...]:
    """Every reported value of a study, sorted by key.

    Parameters
    ----------
    results : report.study.StudyResults

    Raises
    ------
    ValueError
        When two values get the same key (a bug in a value source).
    """
    out: list[Value] = []
    for inp in results.inputs:
        page = _page("data", inp.spec.name)
        dataset_entries, per_net = data_entries(inp)
        out += [_value(dataset_key(inp.spec.name, "data", e.name), e, page) for e in dataset_entries]
        for net, entries in per_net.items():
            out += [_value(network_key(inp.spec.name, net, e.name), e, page) for e in entries]
    for step, source in CELL_VALUES.items():
        for cell, res in results.cell_results.get(step, {}).items():
            page = _page(cell.dataset, cell.network, cell.subset, step)
            out += [_value(cell_key(cell, step, e.name), e, page) for e in source(res)]
    for step, source in DATASET_VALUES.items():
        for dataset, res in results.dataset_results.get(step, {}).items():
            page = _page(dataset, "networks")
            out += [_value(dataset_key(dataset, step, e.name), e, page) for e in source(res)]
    out.sort(key=lambda v: v.key)
    for a, b in zip(out, out[1:]):
        if a.key == b.key:
            raise ValueError(f"two reported values share the key {a.key!r}; value sources must name them apart")
    return tuple(out)


def index(values: Iterable[Value]) -> dict[str, Value]:
    """key -> value."""
    return {v.key: v for v in values}


def closest(key: str, keys: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` valid keys nearest to ``key`` (:func:`difflib.get_close_matches`, no cutoff)."""
    return difflib.get_close_matches(key, sorted(keys), n=n, cutoff=0.0)


# --------------------------------------------------------------------------- outputs
def _number(x) -> Any:
    """A Python int or float (numpy scalars converted), None for a missing or non-finite one; text as it is."""
    if x is None or isinstance(x, str):
        return x
    if isinstance(x, (bool, np.bool_)):
        return int(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    x = float(x)
    return x if math.isfinite(x) else None


def values_frame(values: Iterable[Value]) -> pd.DataFrame:
    """The table of ``docs/tables/values.csv``: key, raw value, text, interval, page, description.

    The value column holds numbers as numbers (a count ``109``, a rate ``0.0544...`` at full
    precision, never ``1.09e+02``) and a name as text (a best method): kept as objects, so the CSV
    writer leaves a negative number alone instead of defusing it as a formula.
    """
    rows = [{"key": v.key, "value": _number(v.value), "shown as": v.text, "low": _number(v.low),
             "high": _number(v.high), "interval": v.interval_text, "page": v.page, "description": v.description}
            for v in values]
    frame = pd.DataFrame(rows, columns=["key", "value", "shown as", "low", "high", "interval", "page", "description"])
    frame["value"] = frame["value"].astype(object)
    return frame


#: The macros of ``values.tex``: a missing key prints a bold ``??`` and a LaTeX warning, like ``\ref``.
_MACROS = r"""% Generated by Face Embedding Atlas from the study's results: do not edit (rebuilt on every build).
% \atlasvalue{<key>} prints a reported value as the site shows it, \atlasinterval{<key>} its interval
% (empty when it has none). Keys: docs/tables/values.csv or the site's Values page.
\makeatletter
\providecommand*{\atlas@set}[3]{\@namedef{atlas@v@#1}{#2}\@namedef{atlas@i@#1}{#3}}
\providecommand*{\atlas@missing}[1]{\textbf{??}\@latex@warning{Atlas value `#1' undefined}}
\providecommand*{\atlasvalue}[1]{\@ifundefined{atlas@v@#1}{\atlas@missing{#1}}{\@nameuse{atlas@v@#1}}}
\providecommand*{\atlasinterval}[1]{\@ifundefined{atlas@i@#1}{\atlas@missing{#1}}{\@nameuse{atlas@i@#1}}}
\makeatother
"""


def values_tex(values: Iterable[Value]) -> str:
    """``paper/values.tex``: the macros and one definition per key (texts escaped for LaTeX, sorted by key)."""
    lines = [_MACROS.rstrip("\n"), r"\makeatletter"]
    for v in sorted(values, key=lambda v: v.key):
        interval = tex(v.interval_text) if v.interval_text else ""
        lines.append(rf"\atlas@set{{{v.key}}}{{{tex(v.text)}}}{{{interval}}}")
    lines.append(r"\makeatother")
    return "\n".join(lines) + "\n"


def text_of(values: Mapping[str, Value], key: str, interval: bool = False) -> str:
    """The text (or interval text) of ``key``; KeyError names the three closest keys."""
    v = values.get(key)
    if v is None:
        raise KeyError(f"unknown value key {key!r}; closest: {', '.join(closest(key, values))}")
    return v.interval_text if interval else v.text


_PLACEHOLDER = re.compile(r"\{([a-z0-9]+(?:-[a-z0-9]+)*)\}")


def template_spans(template: str, key_of, known: Iterable[str]) -> list:
    """Strings and :class:`report.model.Val` spans of a sentence template (``"EER {eer}, d' {d-prime}"``).

    ``key_of(name)`` gives the key of a placeholder; a placeholder outside ``known`` is a bug in
    :data:`report.value_sources.PAPER_SENTENCES` and raises ValueError.
    """
    from report.model import Val

    known = set(known)
    out: list = []
    pos = 0
    for m in _PLACEHOLDER.finditer(template):
        if m.group(1) not in known:
            raise ValueError(f"sentence template {template!r} names {m.group(1)!r}, which its analysis does not report")
        out += [template[pos:m.start()], Val(key_of(m.group(1)))]
        pos = m.end()
    out.append(template[pos:])
    return [p for p in out if p != ""]
