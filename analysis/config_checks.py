"""Checks of a study config that span several tables, run by :func:`analysis.config.parse_config`.

Each field of a table is validated where it is read; what only fails in combination is checked
here, at load time, before any image is read or any analysis runs:

* **file-name keys.** A (dataset, network) pair names files and folders by the slugs of both
  names joined with ``-``: the recogniser folder ``models/<dataset>-<network>``, the review folder,
  the figure and table keys, the explorer data, the downloads. ``celeb`` + ``a-dlib`` and
  ``celeb-a`` + ``dlib`` are both ``celeb-a-dlib``: one recogniser overwrote the other and the
  build failed after every analysis with "duplicate figure/table key". Such pairs are refused.
* **the cache inside a published folder.** ``docs/``, ``site/`` and ``paper/`` are rebuilt and
  swapped in whole by every build; a cache inside one would be published, then deleted by the
  swap (the build used to stop on its own lock file there, blaming a "file this build did not write").
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from report.escape import slugify
from report.ownership import MANAGED


def network_pairs(datasets: Iterable[Any], networks: Iterable[Any]) -> list[tuple[str, str]]:
    """Every (dataset, network) pair a study analyses, as :func:`report.study.load_inputs` forms them.

    Synthetic datasets pair with the synthetic networks, image datasets with the image networks,
    and a file of precomputed embeddings with the network named in it.
    """
    networks = list(networks)
    pairs = []
    for spec in datasets:
        family = getattr(spec.options, "FAMILY", "synthetic" if spec.kind == "synthetic" else "images")
        if family == "embeddings":
            pairs.append((spec.name, str(spec.options.network)))
        elif family == "synthetic":
            pairs.extend((spec.name, n.name) for n in networks if n.kind == "synthetic")
        else:
            pairs.extend((spec.name, n.name) for n in networks if getattr(n.options, "FAMILY", "images") == "images")
    return pairs


def pair_key(dataset: str, network: str) -> str:
    """The file-name key of a (dataset, network) pair (``models/<key>/``, ``<key>-...`` tables)."""
    return f"{slugify(dataset)}-{slugify(network)}"


def colliding_pairs(pairs: Iterable[tuple[str, str]]) -> list[tuple[tuple[str, str], tuple[str, str], str]]:
    """``(first pair, second pair, shared key)`` for every pair whose key an earlier pair already has."""
    first: dict[str, tuple[str, str]] = {}
    out = []
    for pair in pairs:
        key = pair_key(*pair)
        if key in first and first[key] != pair:
            out.append((first[key], pair, key))
        first.setdefault(key, pair)
    return out


def pair_key_error(pairs: Iterable[tuple[str, str]]) -> str | None:
    """The one-line refusal of colliding (dataset, network) pairs, or None."""
    clashes = colliding_pairs(pairs)
    if not clashes:
        return None
    (d1, n1), (d2, n2), key = clashes[0]
    return (f"datasets and networks ({d1!r}, {n1!r}) and ({d2!r}, {n2!r}) would share the file names {key!r} "
            f"(recogniser folder models/{key}, figure and table keys); rename one of the datasets or networks")


def page_name_error(datasets: Iterable[str]) -> str | None:
    """Datasets whose pages would share a file: the Data page of ``celeb-detections`` is the detection page of
    ``celeb`` (``data/celeb-detections.md``, :mod:`report.pages.detections`); one overwrote the other."""
    names = list(datasets)
    data_pages = {slugify(n): n for n in names}
    for n in names:
        other = data_pages.get(slugify(f"{n}-detections"))
        if other is not None:
            return (f"datasets {n!r} and {other!r} would share the page data/{slugify(other)}.md (the detection "
                    f"page of {n!r} is named after it); rename {other!r}")
    return None


def cache_dir_error(cache_dir: Path, output_dir: Path) -> str | None:
    """Why ``cache_dir`` may not be used with ``output_dir`` (inside a folder every build replaces), or None."""
    cache, out = Path(cache_dir).resolve(), Path(output_dir).resolve()
    for name in MANAGED:
        published = out / name
        if cache == published or published in cache.parents:
            return (f"[study] cache_dir {str(cache)!r} lies inside {str(published)!r}, which every build publishes "
                    f"and replaces whole; set cache_dir (or --cache-dir) outside {name}/, e.g. {str(out / '.cache')!r}")
    return None
