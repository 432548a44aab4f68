"""The README's screenshot of the web page: start `python -m colorlab.app`, colorize a gray sample photo in
headless Chromium, save the page as docs/app.png.

    python scripts/app_screenshot.py [--ckpt pretrained:cats]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from colorlab.data.embedded import SAMPLE_DIR

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", default="pretrained:cats")
    parser.add_argument("--photo", default="Bengal_107.jpg")
    parser.add_argument("--port", type=int, default=7893)
    args = parser.parse_args()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "colorlab.app", f"ckpt={args.ckpt}", f"port={args.port}"], env=env)
    url = f"http://127.0.0.1:{args.port}/"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with tempfile.TemporaryDirectory() as tmp:
            gray = Path(tmp) / args.photo
            Image.open(SAMPLE_DIR / args.photo).convert("L").save(gray)
            options = webdriver.ChromeOptions()
            for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
                         "--disable-background-networking", "--disable-dev-shm-usage"):  # fmt: skip
                options.add_argument(flag)
            driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
            try:
                driver.get(url)
                located = expected_conditions.presence_of_element_located(
                    (By.CSS_SELECTOR, "input[data-testid=file-upload]")
                )
                WebDriverWait(driver, 60).until(located).send_keys(str(gray))
                time.sleep(1.5)
                driver.find_element(By.CSS_SELECTOR, "#colorize").click()
                WebDriverWait(driver, 120).until(
                    lambda d: "Colorized" in d.find_element(By.CSS_SELECTOR, "#status").text
                )
                time.sleep(1.5)
                driver.save_screenshot(str(ROOT / "docs" / "app.png"))
            finally:
                driver.quit()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"wrote {ROOT / 'docs' / 'app.png'}")


if __name__ == "__main__":
    main()
