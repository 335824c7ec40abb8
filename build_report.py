#!/usr/bin/env python
"""Build the Face Embedding Atlas report (site + paper) from a study config.

    python build_report.py                      # configs/demo.toml, the offline synthetic demo
    python build_report.py --config configs/celebrity-faces.toml

The same command is installed as ``atlas build`` by ``pip install .`` (see :mod:`report.cli`).
"""
from __future__ import annotations

import sys

from report.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="build_report.py"))
