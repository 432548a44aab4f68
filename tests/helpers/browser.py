"""A real headless Chromium for the tests that look at pages as a user does (the web page, the docs)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = "Chromium and its driver are not installed (Debian: apt-get install chromium chromium-driver; .ci/run does)"


def chromium() -> Iterator:
    """A Selenium driver of headless Chromium (skips, saying why, where Chromium or Selenium is missing)."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="the browser tests need selenium (pip install -e .[dev])"
    )
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip(MISSING)
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", "--allow-file-access-from-files"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
