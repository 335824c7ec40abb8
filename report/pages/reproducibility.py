"""The Reproducibility page: how to rebuild, input hashes and provenance, software, timings, config."""
from __future__ import annotations

import importlib.metadata
import platform

import pandas as pd

from report.model import Bullets, Code, CodeBlock, P, Page, Section, Table
from report.pages.discovery import naming_section
from report.study import StudyResults, embedding_summary

#: Packages whose versions the Reproducibility page lists.
PACKAGES = (
    "numpy", "scipy", "scikit-learn", "pandas", "pyarrow", "matplotlib", "joblib", "umap-learn", "openTSNE",
    "onnxruntime", "insightface", "opencv-python-headless", "dlib-bin", "jinja2", "mkdocs", "mkdocs-material", "PyLaTeX",
)


def package_versions() -> pd.DataFrame:
    rows = []
    for name in PACKAGES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "not installed"
        rows.append({"package": name, "version": version})
    rows.append({"package": "python", "version": platform.python_version()})
    return pd.DataFrame(rows)


def timings_frame(results: StudyResults) -> pd.DataFrame:
    rows = [{"analysis": k.split("/", 1)[0], "cell": k.split("/", 1)[1] if "/" in k else "", "seconds": v}
            for k, v in sorted(results.compute_seconds.items())]
    return pd.DataFrame(rows, columns=["analysis", "cell", "seconds"])


def reproducibility_page(results: StudyResults, config_text: str, timings: pd.DataFrame) -> Page:
    cfg = results.config
    inputs = pd.DataFrame([
        {"dataset": s["dataset"], "network": s["network"], "rows": s["n_samples"], "dims": s["n_dims"],
         "content hash (sha256/24)": s["content_hash"],
         "provenance": "; ".join(f"{k}={v}" for k, v in s["provenance"].items())}
        for inp in results.inputs for _, e in sorted(inp.embeddings.items()) for s in [embedding_summary(e)]
    ])
    sections = [
        Section("How to rebuild", (
            P("From a clone of the project, one command sets up a virtual environment and rebuilds the site and the paper:"),
            Bullets((Code("make report"), " (or ", Code(f"python build_report.py --config {cfg.source.name}"),
                     " inside the environment)"),),
            P("Embeddings and analyses are cached by the content of their inputs in ", Code(".cache/"),
              "; a rebuild with nothing changed recomputes nothing. The same config and data give byte-identical pages."),
        )),
        Section("Inputs", (Table("repro-inputs", "Embedding sets with their content hash and provenance (model id, weights "
                                 "hash, preprocessing, generator parameters).", inputs, max_rows=None),)),
        *filter(None, [naming_section(results.inputs)]),
        Section("Software", (Table("repro-packages", "Package versions used to build this report.", package_versions(),
                                   max_rows=None),)),
        Section("Timings", (
            P("Wall time of each analysis when it was computed (cached analyses keep their original time)."),
            Table("repro-timings", "Compute time of each analysis per cell, in seconds.", timings, formats={"seconds": ".2f"},
                  max_rows=40),
        )),
        Section("Config", (P("The study config, verbatim:"), CodeBlock(config_text, "toml"))),
    ]
    return Page(("reproducibility",), "Reproducibility", (), tuple(sections))
