"""First draw of the explorer with 100,000 points in headless Chromium.

Builds an explorer of ``--points`` synthetic points exactly as the site does
(:func:`report.exports.explorer_data_js`: packed typed arrays in a script; three maps, identity
/ cluster / audit / norm / detector-score columns, 10 neighbours per point), writes it with
Plotly and ``templates/explorer.js`` into a page of the same structure as the Explorer page,
opens it from ``file://`` in headless Chromium (Playwright) and reads the explorer's own
timings (``window.ATLAS_EXPLORER_TIMINGS``: milliseconds since navigation start):

* ``loaded``: Plotly (4.6 MB of JavaScript) and the data script loaded and parsed;
* ``decoded``: the base64 columns unpacked into typed arrays;
* ``drawn``: ``Plotly.react`` resolved and the next animation frame painted, i.e. the points
  are on screen. This is the first-draw figure. The neighbour lists (a second script) load
  after it.

It then times a colour change (to the numeric ``embedding norm`` column) and a click on a point
(neighbours listed and ringed). Each repeat is a fresh browser context. The neighbour lists are
random rows with random cosines: drawing does not depend on them, and the exact build-time
search (``analysis.statistics.neighbours``) is not what is measured here.

Usage::

    .venv/bin/python bench/bench_explorer.py [--points 100000] [--repeat 3]

Not a test: nothing here asserts; it prints the timings.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.statistics.neighbours import NeighbourLists  # noqa: E402
from report import assets  # noqa: E402
from report.exports import explorer_data_js, neighbour_data_js  # noqa: E402
from report.model import Explorer  # noqa: E402
from report.resources import templates_dir  # noqa: E402


def synthetic_explorer(n: int, seed: int = 0, k: int = 10) -> Explorer:
    """``n`` points in identity blobs on three maps, with the columns a real cell has."""
    rng = np.random.default_rng(seed)
    n_ids = max(2, n // 50)
    ident = rng.integers(0, n_ids, n)
    centres = {m: rng.standard_normal((n_ids, 2)) * s for m, s in (("PCA", 0.3), ("t-SNE", 40.0), ("UMAP", 8.0))}
    frame = {"row": np.arange(n), "identity": [f"Person_{i:05d}" for i in ident],
             "item": [f"Person_{i:05d}/{j:06d}.jpg" for j, i in enumerate(ident)],
             "cluster": (ident + rng.integers(0, 2, n)) % n_ids,
             "flags": np.where(rng.random(n) < 0.02, "suspected mislabel", ""),
             "embedding norm": rng.normal(22.0, 3.0, n), "detection score": rng.uniform(0.7, 1.0, n)}
    for m, c in centres.items():
        xy = c[ident] + rng.standard_normal((n, 2)) * (c.std() * 0.05)
        frame[f"{m} x"], frame[f"{m} y"] = xy[:, 0].round(4), xy[:, 1].round(4)
    index = rng.integers(0, n, (n, k))
    cosine = -np.sort(-rng.uniform(0.3, 0.95, (n, k)), axis=1)
    return Explorer("bench-explorer", "bench", pd.DataFrame(frame),
                    colour_by=(("identity", "identity"), ("KMeans cluster", "cluster"), ("audit status", "flags"),
                               ("embedding norm", "embedding norm"), ("detection score", "detection score")),
                    neighbours=NeighbourLists(index, cosine), source=("bench", "net", "all"))


def write_page(folder: Path, e: Explorer) -> Path:
    """A page with the Explorer page's structure (see templates/blocks.md.j2) and the site's assets."""
    from plotly.offline import get_plotlyjs

    (folder / "javascripts").mkdir(parents=True)
    (folder / "explorer").mkdir()
    (folder / assets.PLOTLY_JS).write_text(get_plotlyjs(), encoding="utf-8")
    shutil.copyfile(templates_dir() / "explorer.js", folder / assets.EXPLORER_JS)
    (folder / "explorer" / f"{e.key}.js").write_text(explorer_data_js(e), encoding="utf-8")
    (folder / "explorer" / f"{e.key}-neighbours.js").write_text(neighbour_data_js(e), encoding="utf-8")
    css = assets.ATLAS_CSS.replace(".md-typeset ", "")
    page = folder / "index.html"
    page.write_text(f"""<!doctype html><html><head><meta charset="utf-8"><style>{css}
body {{ font-family: sans-serif; width: 1200px; margin: 0 auto; }}</style></head><body>
<div class="atlas-explorer" id="{e.key}" data-key="{e.key}" data-src="explorer/{e.key}.js"
     data-neighbours="explorer/{e.key}-neighbours.js"
     data-plotly="{assets.PLOTLY_JS}" data-points="{len(e.points)}">
<div class="atlas-controls"></div><div class="atlas-plot"><p class="atlas-loading">Loading</p></div>
<div class="atlas-panel"><div class="atlas-point"></div><div class="atlas-selection"></div></div></div>
<script src="{assets.EXPLORER_JS}"></script></body></html>""", encoding="utf-8")
    return page


def measure(page_file: Path, repeat: int) -> list[dict]:
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    runs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        for _ in range(repeat):
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            page.goto(page_file.as_uri(), wait_until="load")
            page.wait_for_selector(".atlas-explorer[data-drawn]", timeout=300_000)
            t = page.evaluate("() => Object.values(window.ATLAS_EXPLORER_TIMINGS)[0]")
            drawn = page.evaluate("() => document.querySelector('.atlas-plot')._fullData.reduce((n, t) => n + t.x.length, 0)")
            colour = page.evaluate("""async () => {
              const s = document.querySelectorAll('.atlas-controls select')[1]; const t0 = performance.now();
              s.value = String(Array.from(s.options).findIndex(o => o.textContent === 'embedding norm'));
              s.dispatchEvent(new Event('change'));
              await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
              return performance.now() - t0; }""")
            xy = page.evaluate("""() => { const gd = document.querySelector('.atlas-plot'); const L = gd._fullLayout;
              const r = gd.getBoundingClientRect(); const t = gd._fullData[gd._fullData.length - 1];
              return {x: r.left + L._size.l + L.xaxis.l2p(t.x[0]), y: r.top + L._size.t + L.yaxis.l2p(t.y[0])}; }""")
            t0 = page.evaluate("() => performance.now()")
            page.mouse.click(xy["x"], xy["y"])
            page.wait_for_selector(".atlas-point table.atlas-list", timeout=60_000)
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            click = page.evaluate("() => performance.now()") - t0
            runs.append({**t, "points_drawn": drawn, "colour_ms": colour, "click_ms": click})
            context.close()
        browser.close()
    return runs


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    e = synthetic_explorer(args.points)
    with tempfile.TemporaryDirectory() as tmp:
        page = write_page(Path(tmp) / "site", e)
        size = (page.parent / "explorer" / f"{e.key}.js").stat().st_size
        nb = (page.parent / "explorer" / f"{e.key}-neighbours.js").stat().st_size
        print(f"{args.points:,d} points; data script {size / 2**20:.1f} MiB (+ {nb / 2**20:.1f} MiB of neighbour lists, "
              f"loaded after the first draw); load average {os.getloadavg()[0]:.1f}")
        runs = measure(page, args.repeat)
    print(f"{'run':>3} {'trace':>9} {'drawn pts':>10} {'loaded':>8} {'decoded':>8} {'first draw':>10} "
          f"{'decode':>7} {'draw':>7} {'colour':>7} {'click':>7}   (ms since navigation start / ms)")
    for i, r in enumerate(runs, 1):
        print(f"{i:>3} {r['trace']:>9} {r['points_drawn']:>10,d} {r['loaded']:>8.0f} {r['decoded']:>8.0f} {r['drawn']:>10.0f} "
              f"{r['decoded'] - r['loaded']:>7.0f} {r['drawn'] - r['decoded']:>7.0f} {r['colour_ms']:>7.0f} {r['click_ms']:>7.0f}")
    print(f"median first draw: {statistics.median(r['drawn'] for r in runs):.0f} ms after navigation start "
          f"({statistics.median(r['drawn'] - r['decoded'] for r in runs):.0f} ms of it drawing)")


if __name__ == "__main__":
    main()
