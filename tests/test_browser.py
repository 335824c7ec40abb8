"""The built site in a real browser (headless Chromium driven by Playwright).

Every page loads with no console error, every image loads, every internal link resolves, search
returns results. Screenshots of key pages are saved under test-artifacts/screenshots/.
"""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

from tests.conftest import ROOT, chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def served_site(demo_build):
    site = demo_build[0] / "site"
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


def test_every_page_loads_cleanly(served_site, browser):
    site, base = served_site
    pages = _pages(site)
    assert "index.html" in pages and len(pages) >= 10
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    failed: list[str] = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    page.on("requestfailed", lambda r: failed.append(f"{page.url}: {r.url}"))
    broken_links: list[str] = []
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
    assert not errors, "console errors:\n" + "\n".join(errors[:20])
    assert not failed, "failed requests:\n" + "\n".join(failed[:20])
    assert not broken_links, "broken links:\n" + "\n".join(broken_links[:20])
    context.close()


def test_formulas_are_typeset(served_site, browser):
    _, base = served_site
    page = browser.new_page()
    page.goto(base + "methods.html", wait_until="load")
    page.wait_for_selector("mjx-container", state="attached", timeout=20000)
    assert page.locator("mjx-container").count() >= 10
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


def test_screenshots_of_key_pages(served_site, browser):
    site, base = served_site
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    key = ["index.html", "comparisons.html", "methods.html"]
    key += [p for p in _pages(site) if p.endswith("/all/geometry.html")][:1]
    key += [p for p in _pages(site) if p.endswith(("/all/clustering.html", "/all/similarity.html", "/all/audit.html"))][:3]
    for scheme in ("default", "slate"):
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, color_scheme="dark" if scheme == "slate" else "light")
        for rel in key:
            page.goto(base + rel, wait_until="networkidle")
            out = SCREENSHOTS / f"{scheme}-{rel.replace('/', '_').replace('.html', '')}.png"
            page.screenshot(path=str(out), full_page=False)
            assert out.stat().st_size > 10_000
        page.close()
