"""JSON files the build reads back on a later run (names locks, recogniser metadata): bounded and read in one way.

A file the build wrote may have been edited, truncated, replaced by a huge or binary one: each
reader gets one :class:`JsonReadError` with the reason, which it turns into its own one-line error
naming the file.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class JsonReadError(ValueError):
    """Why a JSON file could not be read (too large, unreadable, not UTF-8, not JSON)."""


def read_json(path: Path, max_bytes: int, too_large: str) -> Any:
    """The parsed content of ``path``, read only when it has at most ``max_bytes`` bytes.

    Parameters
    ----------
    too_large : str
        End of the reason for a larger file, after ``"is N bytes"`` (``", more than a names lock can be"``).

    Raises
    ------
    JsonReadError
    """
    try:
        size = Path(path).stat().st_size
        if size > max_bytes:
            raise JsonReadError(f"is {size:,d} bytes{too_large}")
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JsonReadError(f"cannot be read as JSON ({type(exc).__name__}: {exc})") from None
