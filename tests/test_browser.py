"""The built site in a real browser (headless Chromium driven by Playwright).

What a reader would notice: every page loads with no console error and no request leaving the
machine, every image loads, every internal link resolves, every formula shows ink, no table or
page scrolls sideways at 1280 px, no page overflows at 390 px, the explorer draws its points
(also from file://) and its hover names the identity, search returns results. Screenshots of
every page type in both palettes are saved under test-artifacts/screenshots/.

``ATLAS_BROWSER_SITE=/path/to/out/site`` runs the checks on an already built site instead of
building the demo.
"""
from __future__ import annotations

import functools
import http.server
import io
import os
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

from tests.conftest import ROOT, chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def served_site(request):
    given = os.environ.get("ATLAS_BROWSER_SITE")
    site = Path(given) if given else request.getfixturevalue("demo_build")[0] / "site"
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    exe = chromium_path()
    if exe is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=exe,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        yield b
        b.close()


def _pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html") if p.name != "404.html")


def _local_only(context, base: str, outside: list[str]) -> None:
    """Abort and record every request that would leave the machine."""
    def handle(route):
        url = route.request.url
        if url.startswith((base, "file://", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", handle)


def _ink(png: bytes) -> int:
    """Pixels that differ clearly from the image's most common colour (the background)."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("L")
    hist = img.histogram()
    bg = max(range(256), key=hist.__getitem__)
    return sum(n for v, n in enumerate(hist) if abs(v - bg) > 60)


_OVERFLOW_JS = """() => {
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1) out.push(`page ${doc.scrollWidth}px > ${window.innerWidth}px`);
  document.querySelectorAll('.md-typeset__scrollwrap, .md-typeset__table, .md-typeset table').forEach(el => {
    if (el.scrollWidth > el.clientWidth + 1) out.push(`table ${el.scrollWidth}px in ${el.clientWidth}px`);
  });
  return out;
}"""


def test_every_page_loads_cleanly(served_site, browser):
    site, base = served_site
    pages = _pages(site)
    assert "index.html" in pages and len(pages) >= 10
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside: list[str] = []
    _local_only(context, base, outside)
    page = context.new_page()
    errors: list[str] = []
    failed: list[str] = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    page.on("requestfailed", lambda r: failed.append(f"{page.url}: {r.url}"))
    broken_links: list[str] = []
    overflow: list[str] = []
    blank_formulas: list[str] = []
    mathjax_without_math: list[str] = []
    n_formulas = 0
    for rel in pages:
        page.goto(base + rel, wait_until="load")
        # Force lazy images to load, then check every one decoded.
        page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
        page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=20000)
        bad = page.evaluate("Array.from(document.images).filter(i => !(i.naturalWidth > 0)).map(i => i.src)")
        assert not bad, f"{rel}: images that did not load: {bad}"
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            url = urlparse(urljoin(base + rel, href))
            if url.scheme in ("http", "https") and url.netloc == urlparse(base).netloc:
                target = site / unquote(url.path.lstrip("/"))
                if target.is_dir():
                    target = target / "index.html"
                if not target.exists():
                    broken_links.append(f"{rel} -> {href}")
            elif url.scheme in ("javascript", "data", "vbscript"):
                broken_links.append(f"{rel}: script link {href}")
        overflow += [f"{rel}: {o}" for o in page.evaluate(_OVERFLOW_JS)]
        has_math = page.locator(".arithmatex").count() > 0
        loads_mathjax = page.locator("script[src*='tex-chtml']").count() > 0
        if loads_mathjax and not has_math:
            mathjax_without_math.append(rel)
        if has_math:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000)
            page.evaluate("() => MathJax.startup.promise")
            boxes = page.locator("mjx-container")
            # pymdownx.arithmatex wraps the renderer's own span once more: count the innermost ones.
            n_math = page.locator(".arithmatex:not(:has(.arithmatex))").count()
            assert boxes.count() >= n_math, f"{rel}: {boxes.count()} of {n_math} formulas typeset"
            for i in range(boxes.count()):
                n_formulas += 1
                box = boxes.nth(i)
                box.scroll_into_view_if_needed()
                if _ink(box.screenshot()) < 8:
                    blank_formulas.append(f"{rel} formula {i + 1}")
    assert not errors, "console errors:\n" + "\n".join(errors[:20])
    assert not failed, "failed requests:\n" + "\n".join(failed[:20])
    assert not outside, "requests leaving the machine:\n" + "\n".join(sorted(set(outside))[:20])
    assert not broken_links, "broken links:\n" + "\n".join(broken_links[:20])
    assert not overflow, "horizontal scrolling at 1280 px:\n" + "\n".join(overflow[:20])
    assert n_formulas >= 10 and not blank_formulas, f"{len(blank_formulas)} of {n_formulas} formulas blank: {blank_formulas[:10]}"
    assert not mathjax_without_math, f"pages without formulas that load MathJax: {mathjax_without_math[:10]}"
    context.close()


def test_no_page_overflows_on_a_phone(served_site, browser):
    site, base = served_site
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = context.new_page()
    overflow = []
    for rel in _pages(site):
        page.goto(base + rel, wait_until="load")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 391:
            overflow.append(f"{rel}: {width}px")
    context.close()
    assert not overflow, "pages wider than a 390 px phone:\n" + "\n".join(overflow[:20])


def _explorer_pages(site: Path) -> list[str]:
    return [p for p in _pages(site) if p.endswith("/explorer.html")]


def _wait_for_points(page) -> int:
    page.wait_for_function(
        "() => { const gd = document.querySelector('.atlas-plot');"
        " return gd && gd._fullData && gd._fullData.some(t => t.x && t.x.length); }", timeout=30000)
    return page.evaluate("() => document.querySelector('.atlas-plot')._fullData.reduce((n, t) => n + t.x.length, 0)")


def test_explorer_draws_points_and_hover_names_the_identity(served_site, browser):
    site, base = served_site
    explorers = _explorer_pages(site)
    assert explorers, "no explorer page"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside: list[str] = []
    _local_only(context, base, outside)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + explorers[0], wait_until="load")
    n = _wait_for_points(page)
    assert n >= 50
    plot = page.locator(".atlas-plot")
    assert _ink(plot.screenshot()) > 500, "the explorer plot is blank"
    # Hover the first point of the largest coloured group, where Plotly puts it on screen.
    xy = page.evaluate("""() => {
      const gd = document.querySelector('.atlas-plot'); const L = gd._fullLayout;
      const t = gd._fullData[gd._fullData.length - 1]; const r = gd.getBoundingClientRect();
      return {x: r.left + L._size.l + L.xaxis.l2p(t.x[0]), y: r.top + L._size.t + L.yaxis.l2p(t.y[0]),
              identity: t.customdata[0][0]};
    }""")
    page.mouse.move(xy["x"], xy["y"])
    page.wait_for_selector(".hoverlayer .hovertext", timeout=10000)
    assert xy["identity"] in page.locator(".hoverlayer .hovertext").first.text_content()
    # Colour by cluster and by audit status, switch maps, and search an identity.
    selects = page.locator(".atlas-controls select")
    for value in ("cluster", "audit"):
        selects.nth(1).select_option(value)
    for value in page.eval_on_selector(".atlas-controls select", "s => Array.from(s.options).map(o => o.value)"):
        selects.nth(0).select_option(value)
        assert _wait_for_points(page) == n
    page.locator(".atlas-controls input[type=search]").fill(xy["identity"])
    page.wait_for_function("() => document.querySelector('.atlas-plot')._fullData.some(t => t.name.startsWith('search: '))")
    assert not errors, errors[:10]
    assert not outside, outside[:10]
    context.close()


def test_explorer_works_from_file_urls(served_site, browser):
    site, _ = served_site
    page = browser.new_page()
    errors: list[str] = []
    # Material's search index cannot load from file:// (a browser rule); everything else must work.
    page.on("pageerror", lambda e: errors.append(str(e)) if "search" not in str(e) else None)
    page.goto((site / _explorer_pages(site)[0]).as_uri(), wait_until="load")
    assert _wait_for_points(page) >= 50
    assert not errors, errors[:10]
    page.close()


def test_search_finds_a_page(served_site, browser):
    _, base = served_site
    page = browser.new_page()
    page.goto(base + "index.html", wait_until="load")
    query = page.locator("input[data-md-component=search-query]")
    query.click()
    # Material builds the lunr index in a web worker and shows "Initializing search" until it is
    # ready; it reads the query on keyup, so wait for the worker, then type key by key (a bare
    # fill() sends no keyup and can be lost on a slow, loaded machine).
    page.wait_for_function(
        "() => { const m = document.querySelector('.md-search-result__meta');"
        " return m && m.textContent.trim() && !/initializ/i.test(m.textContent); }",
        timeout=60000,
    )
    query.press_sequentially("dispersion", delay=20)
    page.wait_for_selector(".md-search-result__item", timeout=30000)
    assert page.locator(".md-search-result__item").count() >= 1
    page.close()


def _page_types(site: Path) -> list[str]:
    """One page of every kind: the top-level pages and each kind of cell page of the first cell."""
    pages = _pages(site)
    out = [p for p in pages if "/" not in p]
    kinds: dict[str, str] = {}
    for p in pages:
        if "/" in p:
            kinds.setdefault(p.rsplit("/", 1)[1], p)
    return out + sorted(kinds.values())


def test_screenshots_of_every_page_type(served_site, browser):
    site, base = served_site
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("default", "slate"):
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, color_scheme="dark" if scheme == "slate" else "light")
        for rel in _page_types(site):
            page.goto(base + rel, wait_until="networkidle")
            if page.locator(".arithmatex").count():
                page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
            out = SCREENSHOTS / f"{scheme}-{rel.replace('/', '_').replace('.html', '')}.png"
            page.screenshot(path=str(out), full_page=False)
            assert out.stat().st_size > 10_000
        page.close()
