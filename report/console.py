"""What the build says on the console besides progress bars (:mod:`analysis.progress`).

One line per stage (also without a terminal), the skipped inputs by reason with where the full
table is, and honest "not built" wording for outputs that were switched off.
"""
from __future__ import annotations

import sys


def stage(name: str, enabled: bool) -> None:
    """One line on stderr when a build stage starts (``enabled``: progress output wanted)."""
    if enabled:
        print(f"stage: {name}", file=sys.stderr, flush=True)


def skip_summary(inputs, data_page_file) -> list[str]:
    """Lines listing the skipped inputs of every dataset by reason, and where the full table is.

    ``data_page_file(name)`` gives the path, relative to ``docs/``, of the dataset's Data page.
    """
    lines = []
    for inp in inputs:
        skipped = inp.skipped
        if not len(skipped):
            continue
        by_reason = skipped.groupby("reason", sort=True).size().sort_values(ascending=False, kind="mergesort")
        reasons = "; ".join(f"{n} {reason}" for reason, n in by_reason.items())
        lines.append(f"  skipped in {inp.spec.name}: {len(skipped)} input(s): {reasons}")
        lines.append(f"    full table: docs/{data_page_file(inp.spec.name)} (section 'Skipped inputs')")
    return lines


def output_state(kind: str, requested: bool, rebuilt: bool) -> str:
    """``site rebuilt`` / ``site unchanged`` / ``site not built (switched off)``."""
    if not requested:
        return f"{kind} not built (switched off by --no-{kind} or build_{kind} = false)"
    return f"{kind} {'rebuilt' if rebuilt else 'unchanged'}"
