"""Config checks of unlabelled datasets (``kind = "unlabelled"``), run by :func:`analysis.config.parse_config`.

Kept apart from :mod:`analysis.config` because they read a user file (the names file) and look at
folders, not at types: a names file is validated against the config's networks and junk labels,
and the review folder is placed where its face crops can do no harm. Errors are ``ValueError``;
:mod:`analysis.config` raises them as ``ConfigError``.
"""
from __future__ import annotations

from pathlib import Path


def check_unlabelled(datasets, networks, study) -> None:
    """Unlabelled datasets: a names file valid for the config's networks, a review_dir where face crops do no harm.

    Checked here, before an extraction that can take hours: a typo in the names file's ``network``
    column, a review folder inside a dataset root (its crops would be read back as photos) or in
    ``docs/``, ``site/``, ``paper/`` (published, then replaced by the next build).
    """
    from analysis.embedding.datasets import read_names_file

    roots = {d.name: Path(d.options.root).resolve() for d in datasets if isinstance(getattr(d.options, "root", None), Path)}
    published = [(Path(study.output_dir) / name).resolve() for name in ("docs", "site", "paper")]
    forbidden = {Path("/").resolve(): "the file-system root", Path.home().resolve(): "your home folder"}
    for d in datasets:
        where = f"[[datasets]] {d.name!r}"
        names = getattr(d.options, "names_file", None)
        if names is not None:
            try:
                read_names_file(names, networks=[n.name for n in networks], junk_labels=study.junk_labels)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        review = getattr(d.options, "review_dir", None)
        if review is None:
            continue
        review = Path(review).resolve()
        fix = "choose a folder of its own outside the photos and the build outputs, e.g. review_dir = \"review\""
        if review in forbidden:
            raise ValueError(f"{where} review_dir {str(review)!r} is {forbidden[review]}; {fix}")
        if review.exists() and not review.is_dir():
            raise ValueError(f"{where} review_dir {str(review)!r} is a file, not a folder; {fix}")
        for name, root in sorted(roots.items()):
            if review == root or root in review.parents:
                raise ValueError(f"{where} review_dir {str(review)!r} is inside the root of dataset {name!r} "
                                  f"({str(root)!r}): its face crops would be read back as photos; {fix}")
        for folder in published:
            if review == folder or folder in review.parents:
                raise ValueError(f"{where} review_dir {str(review)!r} is inside {folder.name}/ of the output folder, "
                                  f"which is published and replaced by every build (face crops are biometric data); {fix}")
