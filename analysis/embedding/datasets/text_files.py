"""Reading the user's text tables (CSV manifests, labels files) with errors that name the file and the fix.

pandas' own messages name neither: an empty file is "No columns to parse from file", a file saved
as Latin-1 (a spreadsheet's default "CSV" on many systems) is "'utf-8' codec can't decode byte
0xe9 in position 3". :func:`read_csv_table` turns each into one sentence naming the file, where
the problem is and what to do. A UTF-8 byte-order mark (Excel's "CSV UTF-8") is accepted.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd


def not_utf8_message(path: Path, spreadsheet: bool = True) -> str:
    """``'<path>' is not UTF-8 text (byte 0xe9 on line 3); save it as UTF-8 ...``: the fix included."""
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8-sig")
        where = ""
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        where = f" (byte 0x{data[exc.start]:02x} on line {line})"
    how = "a spreadsheet's \"CSV UTF-8\" format, or " if spreadsheet else ""
    name = Path(path).name
    return (f"{str(path)!r} is not UTF-8 text{where}; save it as UTF-8 ({how}iconv -f latin1 -t utf-8 {name} > "
            f"utf8-{name})")


def read_csv_table(path: Path, where: str, columns: str, **kwargs) -> pd.DataFrame:
    """``pd.read_csv(path, **kwargs)`` as UTF-8 (a byte-order mark allowed), with errors that say what to do.

    Parameters
    ----------
    path : Path
    where : str
        What the file is, for the message (``"dataset 'x': manifest_file"``).
    columns : str
        The header the file needs, for the message (``"'path' and 'identity'"``).
    **kwargs
        Passed to :func:`pandas.read_csv` (``dtype``, ``keep_default_na`` ...).

    Raises
    ------
    ValueError
        Naming ``where``, the file and the fix for an empty file, a file that is not UTF-8, a file
        that is not a regular file (a FIFO would block the read) or a malformed CSV.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ValueError(f"{where} {str(path)!r} cannot be read ({exc.strerror or exc}); fix the path") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{where} {str(path)!r} is not a regular file; point it at a CSV file")
    try:
        return pd.read_csv(path, encoding="utf-8-sig", **kwargs)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{where} {str(path)!r} is empty; it needs a header row ({columns}) and one row per "
                         f"entry") from None
    except UnicodeDecodeError:
        raise ValueError(f"{where} {not_utf8_message(path)}") from None
    except pd.errors.ParserError as exc:
        detail = " ".join(str(exc).split())
        raise ValueError(f"{where} {str(path)!r} is not a valid CSV file ({detail}); fix that line (quote cells "
                         f"holding commas)") from None
    except OSError as exc:
        raise ValueError(f"{where} {str(path)!r} cannot be read ({exc.strerror or exc})") from None
