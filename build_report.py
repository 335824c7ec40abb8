#!/usr/bin/env python
"""Build the Face Embedding Atlas report (site + paper) from a study config.

    python build_report.py                      # configs/demo.toml, the offline synthetic demo
    python build_report.py --config configs/celebrity-faces.toml
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "demo.toml"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="build_report.py",
        description=(
            "Compute every analysis of a study (embeddings, geometry, similarity, clustering, manifold maps, "
            "classifiers, audit) and render the MkDocs-Material site and the LaTeX paper. Work already done is "
            "reused from the cache: a second run with nothing changed recomputes nothing."
        ),
    )
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                   help="study config (TOML); default: configs/demo.toml (synthetic, offline)")
    p.add_argument("--output-dir", type=Path, default=None,
                   help="folder receiving docs/, site/, paper/ and mkdocs.yml (overrides [study] output_dir)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="embedding and analysis cache (overrides [study] cache_dir)")
    p.add_argument("--no-site", action="store_true", help="write docs/ but do not run mkdocs build")
    p.add_argument("--no-paper", action="store_true", help="do not write or compile the LaTeX paper")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from analysis.config import ConfigError, load_config

    try:
        config = load_config(args.config, overrides={"output_dir": args.output_dir, "cache_dir": args.cache_dir})
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from report.driver import run

    results, outputs, build = run(
        config,
        progress=not args.quiet and sys.stderr.isatty(),
        build_site=False if args.no_site else None,
        build_paper=False if args.no_paper else None,
    )
    print(f"Study: {config.study.title} ({config.source})")
    print(f"  cells analysed: {len(results.cells)}; computed {len(build.computed)} item(s), reused {len(build.reused)} from cache")
    for item in build.computed:
        print(f"    computed: {item}")
    print(f"  figures: {outputs.figures_drawn} drawn, {outputs.figures_reused} reused; "
          f"site {'rebuilt' if outputs.site_rebuilt else 'unchanged'}; paper {'rebuilt' if outputs.paper_rebuilt else 'unchanged'}")
    for w in build.warnings:
        print(f"  warning: {w}")
    print(f"  time: {build.timings['total']:.1f} s")
    print(f"  docs:  {outputs.docs_dir}")
    if outputs.site_index is not None:
        print(f"  site:  {outputs.site_index}")
    if outputs.pdf is not None:
        print(f"  paper: {outputs.pdf}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
