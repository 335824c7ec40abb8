"""The code version of the statistics half: part of every cache key of results computed by it.

joblib.Memory checks only the source of the function it wraps; the analyses, the naming stage's
discovery and the recogniser fit all call into the statistics half, whose changes must recompute
them (:mod:`report.study`, :mod:`report.naming`, :mod:`report.recognizer_files`).
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path


@functools.lru_cache(maxsize=1)
def analysis_code_digest() -> str:
    """Digest of the statistics half's source (and :mod:`analysis.types`), part of every analysis cache key.

    joblib.Memory checks only the code of the function it wraps, here the same small wrapper for
    every analysis: without this, a cache written by an older version of the analyses was read
    back by a newer one, and a result lacking a field added since crashed the page builders (or,
    worse, a fixed estimator kept showing the old numbers). Any change to the statistics half
    recomputes the analyses once; embeddings and figures have their own keys.
    """
    root = Path(__file__).resolve().parent.parent / "analysis"
    files = sorted([*(root / "statistics").rglob("*.py"), root / "types.py"])
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]
