"""The documentation site as a reader opens it: built by `make docs`, opened from disk (file://) in a
real headless Chromium, every navigation link lands on a page (not a folder listing), and search finds
a page."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.browser import chromium

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs need MkDocs (pip install -e .[docs])")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture
def browser():
    yield from chromium()


def test_every_page_opens_from_disk_and_search_finds_a_page(site, browser):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    browser.get((site / "index.html").as_uri())
    pages: list[str] = []
    deadline = time.time() + 30  # a loaded machine renders the page's scripts late
    while time.time() < deadline and len(pages) < 20:
        try:
            found = browser.find_elements(By.CSS_SELECTOR, "nav.md-nav a.md-nav__link[href]")
            links = {a.get_attribute("href") for a in found}
        except StaleElementReferenceException:  # the page's scripts replaced the navigation meanwhile
            continue
        pages = sorted(link.split("#")[0] for link in links if link and link.startswith("file://"))
        time.sleep(0.3)
    assert len(pages) >= 20, (browser.title, pages)
    for page in pages:
        assert page.endswith(".html"), f"{page}: a folder link shows a directory listing from disk"
        browser.get(page)
        assert "Index of" not in browser.title and browser.find_elements(By.CSS_SELECTOR, "article h1"), page
    browser.get((site / "index.html").as_uri())
    field = browser.find_element(By.CSS_SELECTOR, "input.md-search__input")
    field.click()
    field.send_keys("guided colorization")
    deadline = time.time() + 20
    while time.time() < deadline and not browser.find_elements(By.CSS_SELECTOR, ".md-search-result__item"):
        time.sleep(0.3)
    titles = [item.text for item in browser.find_elements(By.CSS_SELECTOR, ".md-search-result__item")]
    assert any("Guided" in title for title in titles), titles


def test_no_page_repeats_a_paragraph():
    """A page written by a script or an edit that went wrong repeats itself; a reader notices, so do we."""
    for page in sorted((ROOT / "docs").glob("*.md")):
        paragraphs = [p.strip() for p in page.read_text().split("\n\n") if len(p.strip()) > 200]
        repeated = {p[:80] for p in paragraphs if paragraphs.count(p) > 1}
        assert not repeated, f"{page.name} repeats: {sorted(repeated)}"
