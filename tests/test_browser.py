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
        if page.locator(".atlas-explorer").count():  # its scripts load lazily: let them finish (and draw)
            page.wait_for_selector(".atlas-explorer[data-drawn]", timeout=60000)
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
    page.wait_for_selector(".atlas-explorer[data-drawn]", timeout=60000)
    page.wait_for_function(
        "() => { const gd = document.querySelector('.atlas-plot');"
        " return gd && gd._fullData && gd._fullData.some(t => t.x && t.x.length); }", timeout=30000)
    return page.evaluate("() => document.querySelector('.atlas-plot')._fullData"
                         ".filter(t => !/^search/.test(t.name)).reduce((n, t) => n + t.x.length, 0)")


_POINT_JS = """(which) => {
  // Screen position of a point of the largest coloured group (the last base trace), as Plotly draws it.
  const gd = document.querySelector('.atlas-plot'); const L = gd._fullLayout; const r = gd.getBoundingClientRect();
  const base = gd._fullData.filter(t => !/^search/.test(t.name));
  const t = base[base.length - 1]; const i = which % t.x.length;
  return {x: r.left + L._size.l + L.xaxis.l2p(t.x[i]), y: r.top + L._size.t + L.yaxis.l2p(t.y[i])};
}"""


def _explorer_context(browser, base: str, outside: list[str], errors: list[str]):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    _local_only(context, base, outside)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return context, page


def test_explorer_draws_points_and_hover_names_the_identity(served_site, browser):
    site, base = served_site
    explorers = _explorer_pages(site)
    assert explorers, "no explorer page"
    outside: list[str] = []
    errors: list[str] = []
    context, page = _explorer_context(browser, base, outside, errors)
    page.goto(base + explorers[0], wait_until="load")
    n = _wait_for_points(page)
    assert n >= 50 and n == int(page.get_attribute(".atlas-explorer", "data-points"))
    plot = page.locator(".atlas-plot")
    assert _ink(plot.screenshot()) > 500, "the explorer plot is blank"
    # The map uses the whole content width: no table of contents beside it.
    widths = page.evaluate("() => [document.querySelector('.atlas-plot').getBoundingClientRect().width,"
                           " document.querySelector('.md-content').getBoundingClientRect().width]")
    assert widths[0] >= 0.95 * widths[1] and widths[0] >= 950, widths
    assert not page.locator(".md-sidebar--secondary").is_visible()
    xy = page.evaluate(_POINT_JS, 0)
    page.mouse.move(xy["x"], xy["y"])
    page.wait_for_selector(".atlas-tooltip:not([hidden])", timeout=10000)
    identity = page.locator(".atlas-tooltip").text_content().split("\n")[0]
    assert identity and identity in page.evaluate("() => Array.from(document.querySelectorAll('datalist option'))"
                                                  ".map(o => o.value)")
    # Switch maps; search an identity.
    selects = page.locator(".atlas-controls select")
    for value in page.eval_on_selector(".atlas-controls select", "s => Array.from(s.options).map(o => o.value)"):
        selects.nth(0).select_option(value)
        assert _wait_for_points(page) == n
    page.locator(".atlas-controls input[type=search]").fill(identity)
    page.wait_for_function("() => document.querySelector('.atlas-plot')._fullData.some(t => t.name.startsWith('search: '))")
    assert not errors, errors[:10]
    assert not outside, outside[:10]
    context.close()


def test_explorer_colours_by_every_column(served_site, browser):
    site, base = served_site
    outside: list[str] = []
    errors: list[str] = []
    context, page = _explorer_context(browser, base, outside, errors)
    page.goto(base + _explorer_pages(site)[0], wait_until="load")
    n = _wait_for_points(page)
    colour = page.locator(".atlas-controls select").nth(1)
    labels = page.evaluate("() => Array.from(document.querySelectorAll('.atlas-controls select')[1].options)"
                           ".map(o => o.textContent)")
    assert labels[:4] == ["identity", "KMeans cluster", "audit status", "embedding norm"], labels
    for label in labels:
        colour.select_option(label=label)
        assert _wait_for_points(page) == n, label
        traces = page.evaluate("() => document.querySelector('.atlas-plot')._fullData.map(t => ({name: t.name,"
                               " scale: !!t.marker.showscale, colours: Array.isArray(t.marker.color) ||"
                               " ArrayBuffer.isView(t.marker.color)}))")
        if label == "embedding norm":  # a numeric column: one colour scale, per-point colours
            assert any(t["scale"] and t["colours"] for t in traces), traces
        else:  # categories: at most ten named colours and one grey rest
            assert not any(t["scale"] for t in traces) and len(traces) <= 11, traces
        if label == "audit status":
            assert {t["name"] for t in traces} >= {"no flag", "suspected mislabel"}, traces
        page.screenshot(path=str(SCREENSHOTS / f"explorer-colour-{label.replace(' ', '-')}.png"))
    assert not errors, errors[:10]
    context.close()


def test_click_on_a_point_lists_and_rings_its_nearest_neighbours(served_site, browser):
    site, base = served_site
    outside: list[str] = []
    errors: list[str] = []
    context, page = _explorer_context(browser, base, outside, errors)
    page.goto(base + _explorer_pages(site)[0], wait_until="load")
    _wait_for_points(page)
    xy = page.evaluate(_POINT_JS, 3)
    page.mouse.click(xy["x"], xy["y"])  # a real click on a drawn point
    page.wait_for_selector(".atlas-point table.atlas-list", timeout=10000)
    item = page.locator(".atlas-point .atlas-title").text_content()
    assert page.evaluate("() => decodeURIComponent(location.hash)") == f"#item={item}"
    rows = page.locator(".atlas-point table.atlas-list tbody tr")
    assert rows.count() == 10
    cosines = [float(rows.nth(i).locator("td").nth(3).text_content()) for i in range(10)]
    assert cosines == sorted(cosines, reverse=True) and -1 <= min(cosines) and max(cosines) <= 1
    listed = [rows.nth(i).locator("td").nth(1).text_content() for i in range(10)]
    assert item not in listed
    # The ten neighbours are ringed on the map, at the positions of those items.
    rings = page.evaluate("() => document.querySelector('.atlas-plot')._fullLayout.shapes.map(s => s.name)")
    assert rings.count("neighbour") == 10 and rings.count("selected") == 1, rings
    page.screenshot(path=str(SCREENSHOTS / "explorer-neighbours.png"), full_page=True)
    # A neighbour's link selects that point.
    rows.nth(0).locator("a").click()
    page.wait_for_function(f"() => document.querySelector('.atlas-point .atlas-title').textContent === {listed[0]!r}")
    assert not errors, errors[:10]
    assert not outside, outside[:10]
    context.close()


def test_box_selection_lists_the_points_and_downloads_them_as_csv(served_site, browser):
    import csv

    site, base = served_site
    outside: list[str] = []
    errors: list[str] = []
    context, page = _explorer_context(browser, base, outside, errors)
    page.goto(base + _explorer_pages(site)[0], wait_until="load")
    n = _wait_for_points(page)
    page.locator(".atlas-controls select").nth(2).select_option("select")
    box = page.evaluate("() => { const gd = document.querySelector('.atlas-plot'); const L = gd._fullLayout;"
                        " const r = gd.getBoundingClientRect(); return {x: r.left + L._size.l, y: r.top + L._size.t,"
                        " w: L._size.w, h: L._size.h}; }")
    x0, y0 = box["x"] + 0.05 * box["w"], box["y"] + 0.05 * box["h"]
    x1, y1 = box["x"] + 0.95 * box["w"], box["y"] + 0.6 * box["h"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=12)
    page.mouse.up()
    page.wait_for_selector(".atlas-selection .atlas-download", timeout=10000)
    text = page.locator(".atlas-selection .atlas-caption").text_content()
    selected = int(text.split()[0])
    assert 0 < selected < n
    with page.expect_download() as download:
        page.locator(".atlas-selection .atlas-download").click()
    rows = list(csv.reader(open(download.value.path(), encoding="utf-8")))
    header, body = rows[0], rows[1:]
    assert header[:2] == ["item", "identity"] and header[-2:] == ["PCA x", "PCA y"]
    assert len(body) == selected and len({r[0] for r in body}) == selected
    # Every row lies inside the dragged box (in data coordinates).
    lo_hi = page.evaluate(f"""() => {{ const L = document.querySelector('.atlas-plot')._fullLayout;
      return [L.xaxis.p2l({0.05 * box['w']}), L.xaxis.p2l({0.95 * box['w']}), L.yaxis.p2l({0.6 * box['h']}),
              L.yaxis.p2l({0.05 * box['h']})]; }}""")
    for r in body:
        x, y = float(r[-2]), float(r[-1])
        assert lo_hi[0] - 1e-3 <= x <= lo_hi[1] + 1e-3 and lo_hi[2] - 1e-3 <= y <= lo_hi[3] + 1e-3, (x, y, lo_hi)
    page.screenshot(path=str(SCREENSHOTS / "explorer-selection.png"), full_page=True)
    assert not errors, errors[:10]
    context.close()


def test_audit_rows_link_to_their_points_and_the_explorer_links_back(served_site, browser):
    site, base = served_site
    audit = next(p for p in _pages(site) if p.endswith("/audit.html"))
    outside: list[str] = []
    errors: list[str] = []
    context, page = _explorer_context(browser, base, outside, errors)
    page.goto(base + audit, wait_until="load")
    links = page.locator("table a[href*='explorer.html#item=']")
    assert links.count() >= 5
    item = links.first.text_content()
    links.first.click()
    page.wait_for_url("**/explorer.html#item=*")
    _wait_for_points(page)
    assert page.locator(".atlas-point .atlas-title").text_content() == item
    assert page.evaluate("() => document.querySelector('.atlas-plot')._fullLayout.shapes.some(s => s.name === 'selected')")
    back = page.locator(".atlas-point a[href^='audit.html#']")
    assert back.count() >= 1
    back.first.click()
    page.wait_for_url("**/audit.html#*")
    anchor = page.evaluate("() => location.hash.slice(1)")
    assert page.locator(f"[id='{anchor}']").count() == 1
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
