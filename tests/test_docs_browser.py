"""The docs in a real browser: build with ``-W``, serve on 127.0.0.1, open in headless Chromium.

Checks that formulas rendered (MathJax output elements present, MathJax served by the site
itself), that every image loaded, that nothing was fetched from another origin, and that the
table of all entries filters and sorts on header clicks.

Marked ``docs`` (excluded from the default run). Needs Debian's ``chromium`` and
``chromium-driver``, ``selenium``, and the docs dependencies; skipped when any is missing::

    apt-get install -y chromium chromium-driver
    python -m pip install sphinx numpydoc matplotlib myst-parser sphinx-mathjax-offline selenium
    python -m pytest -m docs tests/test_docs_browser.py
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import math
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.docs

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = [m for m in ("sphinx", "myst_parser", "numpydoc", "matplotlib", "selenium") if importlib.util.find_spec(m) is None]

if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("headless check needs Debian's chromium and chromium-driver", allow_module_level=True)
if MISSING:
    pytest.skip(f"docs dependencies missing: {', '.join(MISSING)}", allow_module_level=True)

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1600",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the docs (incrementally, into docs/_build/html) with warnings as errors."""
    out = DOCS / "_build" / "html"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(DOCS), str(out)],
        capture_output=True, text=True, timeout=1500, env=env, cwd=ROOT,
    )
    assert proc.returncode == 0, f"sphinx -W failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    assert (out / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax was not copied into the site"
    return out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def _open(browser, url: str) -> None:
    browser.get(url)
    # Wait for MathJax (when the page loads it) to finish typesetting.
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (window.MathJax && MathJax.startup && MathJax.startup.promise)"
        "  MathJax.startup.promise.then(() => done(true), () => done(false));"
        "else done(null);"
    )


def _images(browser) -> list[list]:
    return browser.execute_script(
        "return Array.from(document.images).map(i => [i.currentSrc || i.src, i.complete, i.naturalWidth]);"
    )


def _resources(browser) -> list[str]:
    return browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")


def _check_page(browser, base: str, path: str, *, math: bool, need_images: bool = True) -> None:
    _open(browser, f"{base}/{path}")
    images = _images(browser)
    assert images or not need_images, f"{path}: no images"
    broken = [src for src, complete, width in images if not complete or width <= 0]
    assert not broken, f"{path}: images not loaded: {broken}"
    foreign = [r for r in _resources(browser) if not r.startswith(base)]
    assert not foreign, f"{path}: fetched from another origin: {foreign}"
    if math:
        count = browser.execute_script("return document.querySelectorAll('mjx-container').length;")
        assert count > 0, f"{path}: no MathJax output (mjx-container)"
        errors = browser.execute_script("return document.querySelectorAll('mjx-merror').length;")
        assert errors == 0, f"{path}: {errors} formulas failed to typeset"
        scripts = browser.execute_script(
            "return Array.from(document.scripts).map(s => s.src).filter(s => s.includes('mathjax'));")
        assert scripts and all(s.startswith(base + "/_static/mathjax/") for s in scripts), scripts
    severe = [e["message"] for e in browser.get_log("browser")
              if e["level"] == "SEVERE" and "favicon" not in e["message"]]
    assert not severe, f"{path}: console errors: {severe}"


def test_index_page(browser, server):
    _check_page(browser, server, "index.html", math=True)
    assert "funclib" in browser.title


def test_gelu_page(browser, server):
    _check_page(browser, server, "catalog/gelu.html", math=True)
    text = browser.find_element("tag name", "body").text
    assert "Proven properties" in text and "interval" in text and "arXiv:1606.08415" in text
    links = browser.execute_script("return Array.from(document.links).map(a => a.href);")
    assert "https://arxiv.org/abs/1606.08415" in links


def _column(browser, index: int) -> list[str]:
    return browser.execute_script(
        "const t = document.querySelector('table.funclib-sortable');"
        "return Array.from(t.tBodies[0].rows).filter(r => r.style.display !== 'none')"
        f"  .map(r => r.cells[{index}].textContent.trim());"
    )


def _number(text: str) -> float:
    t = text.replace("\u2212", "-")
    return {"∞": math.inf, "-∞": -math.inf}[t] if t in ("∞", "-∞") else float(t)


def test_table_sorts_and_filters(browser, server):
    from selenium.webdriver.common.by import By

    _check_page(browser, server, "catalog/table.html", math=False, need_images=False)
    table = browser.find_element(By.CSS_SELECTOR, "table.funclib-sortable")
    assert table.get_attribute("data-funclib-ready") == "1", "sortable-table.js did not run"
    headers = table.find_elements(By.CSS_SELECTOR, "thead th")
    names = [h.text.strip() for h in headers]
    beta = next(i for i, n in enumerate(names) if n.startswith("β"))
    entry_col = 0
    rows_before = len(_column(browser, entry_col))
    import funclib

    assert rows_before == len(funclib.entries())

    # Numeric sort, ascending then descending; "—" (not applicable) stays last.
    headers[beta].click()
    assert headers[beta].get_attribute("aria-sort") == "ascending"
    col = _column(browser, beta)
    numbers = [_number(c) for c in col if c != "—"]
    assert len(numbers) >= 10 and numbers == sorted(numbers)
    assert all(c == "—" for c in col[len(numbers):])
    headers[beta].click()
    assert headers[beta].get_attribute("aria-sort") == "descending"
    numbers = [_number(c) for c in _column(browser, beta) if c != "—"]
    assert numbers == sorted(numbers, reverse=True)

    # Text sort on the entry names.
    headers[entry_col].click()
    col = [c.lower() for c in _column(browser, entry_col)]
    assert col == sorted(col)

    # The filter box hides rows that do not match.
    box = browser.find_element(By.CSS_SELECTOR, "input.funclib-filter")
    box.send_keys("gelu")
    visible = _column(browser, entry_col)
    assert 1 <= len(visible) < rows_before
    assert "GELU" in visible
