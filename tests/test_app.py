"""The web page, in a real headless Chromium: upload photos, get them back colored at their original
size, and see a message (not a crash) for a broken upload; the server keeps serving."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorlab.inference.webpage import ResultFolders, colorize_files
from colorlab.models.checkpoints import load_model
from tests.conftest import smooth_image
from tests.helpers.browser import chromium

ROOT = Path(__file__).resolve().parents[1]


def test_bad_uploads_get_a_message_and_good_ones_a_full_size_result(cli_sweep, tmp_path):
    model = load_model(cli_sweep / "0_baseline")
    good = tmp_path / "good.png"
    Image.fromarray(smooth_image(70, 1)[:50]).save(good)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    big = tmp_path / "big.png"
    Image.new("RGB", (200, 200)).save(big)
    previews, results, problems = colorize_files([str(broken), str(good), str(big)], model, tmp_path, 1.0, 30_000)
    assert [Image.open(p).size for p in results] == [(70, 50)] and len(previews) == 1
    assert "broken.jpg: cannot identify image file" in problems[0] or "broken.jpg" in problems[0]
    assert "big.png" in problems[1] and "max_pixels=30,000" in problems[1]
    assert not any(str(tmp_path) in problem for problem in problems)  # the upload's name, never a server path


def test_the_results_folder_is_capped_while_serving_and_removed_at_exit(tmp_path):
    store = ResultFolders(max_bytes=3_000, root=tmp_path / "results")
    for _ in range(10):
        request = store.new_request()
        (request / "result.png").write_bytes(b"x" * 1_000)
        store.prune(keep=request)
        assert (request / "result.png").is_file() and store.bytes_used() <= 3_000
    assert len(list(store.root.iterdir())) == 3
    store.remove()
    assert not store.root.exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float, server: subprocess.Popen) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the app exited: {server.stdout.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds} s")


@pytest.fixture
def browser():
    yield from chromium()


@contextlib.contextmanager
def serve(ckpt: str, cwd: Path):
    """`python -m colorlab.app ckpt=<ckpt>` on a free port; yields its URL, stops it afterwards."""
    pytest.importorskip("gradio", reason="the web page needs Gradio (pip install -e .[app])")
    port = free_port()
    temp = cwd / "system-temp"  # the server's temporary folders go here: checked empty after it stops
    temp.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1"}
    env.update(TMPDIR=str(temp))
    env.pop("GRADIO_TEMP_DIR", None)
    command = [sys.executable, "-m", "colorlab.app", f"ckpt={ckpt}", f"port={port}"]
    server = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(url, 120, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not list(temp.iterdir()), f"the server left {sorted(p.name for p in temp.iterdir())} behind"


@pytest.fixture
def app_url(cli_sweep, tmp_path):
    with serve(str(cli_sweep / "0_baseline"), tmp_path) as url:
        yield url


def upload_and_wait(driver, paths: list[Path], expect: str, seconds: float = 120) -> str:
    """Upload `paths`, press Colorize, wait until the status says `expect`; return the status text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    located = expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "input[data-testid=file-upload]"))
    field = WebDriverWait(driver, 60).until(located)  # the Photos box's input, once the page has rendered
    field.send_keys("\n".join(str(p) for p in paths))
    time.sleep(1.0)  # let the upload finish
    driver.find_element(By.CSS_SELECTOR, "#colorize").click()
    deadline = time.time() + seconds
    while time.time() < deadline:
        text = driver.find_element(By.CSS_SELECTOR, "#status").text
        if expect in text:
            return text
        time.sleep(0.5)
    raise AssertionError(f"status never said {expect!r}: {driver.find_element(By.CSS_SELECTOR, '#status').text!r}")


def test_the_page_in_a_real_browser(browser, app_url, tmp_path):
    from selenium.webdriver.common.by import By

    photo = tmp_path / "cat.png"
    Image.fromarray(smooth_image(90, 4)[:60]).convert("L").save(photo)  # a gray 90x60 photo
    browser.get(app_url)
    status = upload_and_wait(browser, [photo], "Colorized 1 of 1")
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#results a[href]")]
    links = [link for link in links if link and "cat_color" in link]
    assert links, browser.find_element(By.CSS_SELECTOR, "#results").get_attribute("innerHTML")[:2000]
    with urllib.request.urlopen(links[0], timeout=30) as response:
        result = Image.open(io.BytesIO(response.read())).convert("RGB")
    assert result.size == (90, 60)  # the original resolution
    rgb = np.asarray(result, dtype=np.int16)
    assert np.abs(rgb - rgb.mean(2, keepdims=True)).mean() > 1.0  # colored, not gray
    assert "could not" not in status

    browser.get(app_url)  # a broken upload: a message in the page, and the server goes on
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not a photo")
    status = upload_and_wait(browser, [broken], "Colorized 0 of 1")
    assert "could not colorize broken.jpg" in status
    browser.get(app_url)
    upload_and_wait(browser, [photo], "Colorized 1 of 1")


def test_the_shipped_model_colorizes_on_the_page_at_its_own_temperature(browser, tmp_path):
    """pretrained:cats decodes at T = 1.3: the page's temperature control must accept it (it once stopped at 1.0)."""
    photo = tmp_path / "cat.png"
    Image.fromarray(smooth_image(64, 5)).convert("L").save(photo)
    with serve("pretrained:cats", tmp_path) as url:
        browser.get(url)
        upload_and_wait(browser, [photo], "Colorized 1 of 1")


def image_of(driver, selector: str) -> np.ndarray | None:
    """The picture an <img> inside `selector` shows, fetched as the browser would (None: none yet)."""
    import base64

    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, f"{selector} img")
    source = found[0].get_attribute("src") if found else None
    if not source:
        return None
    if source.startswith("data:"):
        data = base64.b64decode(source.split(",", 1)[1])
    else:
        with urllib.request.urlopen(source, timeout=30) as response:
            data = response.read()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)


def wait_for_change(driver, selector: str, before: np.ndarray | None, seconds: float = 90) -> np.ndarray:
    """Wait until the picture in `selector` differs from `before`; return it."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        now = image_of(driver, selector)
        if now is not None and (before is None or now.shape != before.shape or np.abs(now - before).max() > 0):
            return now
        time.sleep(0.5)
    raise AssertionError(f"{selector} never changed")


def wait_for_status(driver, text: str, seconds: float = 90) -> None:
    """Wait until the guided section's status line reads `text` (its final answer, not "refining")."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    status = driver.find_element(By.CSS_SELECTOR, "#guided_status")
    WebDriverWait(driver, seconds).until(lambda _: status.text.strip() == text)


def click_at(driver, selector: str, fx: float, fy: float) -> None:
    """Click the picture in `selector` at fractions (fx, fy) of its width and height."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    picture = driver.find_element(By.CSS_SELECTOR, f"{selector} img")
    width, height = picture.size["width"], picture.size["height"]
    ActionChains(driver).move_to_element_with_offset(
        picture, int((fx - 0.5) * width), int((fy - 0.5) * height)
    ).click().perform()


def blueness(rgb: np.ndarray) -> float:
    return float((rgb[..., 2] - (rgb[..., 0] + rgb[..., 1]) / 2).mean())


def guide_in_browser(driver, url: str, photo: Path, point: tuple[float, float]) -> dict[str, np.ndarray]:
    """Upload `photo` to the guided section, place a saturated blue point at `point` (fractions), then
    remove it: the result before, with and after the point."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    located = expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#guide_photo input[type=file]"))
    WebDriverWait(driver, 60).until(located).send_keys(str(photo))
    wait_for_status(driver, "0 point(s).")
    automatic = wait_for_change(driver, "#guided_result", None)
    driver.find_element(By.CSS_SELECTOR, "#point_colour button.dialog-button").click()  # open the picker
    typed = driver.find_element(By.CSS_SELECTOR, "#point_colour input[type=text]")
    typed.send_keys(Keys.CONTROL, "a")
    typed.send_keys("#0000ff", Keys.ENTER)  # its hex field, as a user types it
    driver.find_element(By.CSS_SELECTOR, "#guided_status").click()  # close it
    swatch = driver.find_element(By.CSS_SELECTOR, "#point_colour button.dialog-button")
    WebDriverWait(driver, 10).until(lambda _: "0, 0, 255" in swatch.get_attribute("style"))
    time.sleep(0.5)
    click_at(driver, "#guide_photo", *point)
    wait_for_status(driver, "1 point(s).")  # the decoder's answer, after the first one
    guided = wait_for_change(driver, "#guided_result", automatic)
    driver.find_element(By.CSS_SELECTOR, "#undo_point").click()
    wait_for_status(driver, "0 point(s).")
    restored = wait_for_change(driver, "#guided_result", guided)
    return {"automatic": automatic, "guided": guided, "restored": restored}


def test_guided_colorizing_in_a_real_browser(browser, tmp_path):
    """A model that takes hints gets the guided section: a click places a point, the result changes,
    undo brings the automatic colours back exactly."""
    from colorlab.models import model_file
    from tests.test_hints import hint_net

    model = tmp_path / "hints.ckpt"
    model_file.save(model, hint_net(strong=True), variant="unet_hints")
    photo = tmp_path / "cat.png"
    Image.fromarray(smooth_image(128, 3)).save(photo)
    with serve(str(model), tmp_path) as url:
        shots = guide_in_browser(browser, url, photo, (0.3, 0.4))
    assert shots["guided"].shape == shots["automatic"].shape == (128, 128, 3)
    assert np.abs(shots["guided"] - shots["automatic"]).max() > 0
    assert np.abs(shots["restored"] - shots["automatic"]).max() <= 1  # the automatic colours again


def test_a_blue_point_turns_a_warm_region_blue_in_a_real_browser(browser, tmp_path):
    """The shipped hint model on a real cat photo: a saturated blue point where the model paints warm
    turns that region blue; in the photo's corner farthest from it (the wall behind the cat) the
    colours barely move; undoing it brings the automatic colours back."""
    import torch

    from colorlab.core.color import rgb_to_lab
    from colorlab.inference.guided import GuidedPhoto
    from tests.conftest import SAMPLE

    photo = tmp_path / "cat.png"
    Image.open(SAMPLE / "Bengal_107.jpg").convert("L").save(photo)
    automatic = np.asarray(GuidedPhoto(load_model("pretrained:cats"), Image.open(photo)).colorize([]))
    _, ab = rgb_to_lab(torch.from_numpy(automatic.copy()).permute(2, 0, 1)[None])
    warm = torch.nn.functional.avg_pool2d(ab[:, :1] + ab[:, 1:], 15, 1, 7)[0, 0]  # a + b: red-yellow
    y, x = np.unravel_index(int(warm.argmax()), warm.shape)
    height, width = warm.shape
    with serve("pretrained:cats", tmp_path) as url:
        shots = guide_in_browser(browser, url, photo, ((x + 0.5) / width, (y + 0.5) / height))
    r = 12
    near = (slice(max(0, y - r), y + r), slice(max(0, x - r), x + r))
    # the photo's corner farthest from the point (the mirror image of a point near the middle would lie
    # on the same cat, which the point is meant to reach)
    top = 0 if y >= height / 2 else height - 2 * r
    left = 0 if x >= width / 2 else width - 2 * r
    far = (slice(top, top + 2 * r), slice(left, left + 2 * r))
    assert blueness(shots["automatic"][near]) < 0 < blueness(shots["guided"][near]) - 40  # warm, then blue
    near_change = np.abs(shots["guided"][near] - shots["automatic"][near]).mean()
    far_change = np.abs(shots["guided"][far] - shots["automatic"][far]).mean()
    assert far_change < 0.2 * near_change, (far_change, near_change)
    assert np.abs(shots["restored"] - shots["automatic"]).max() <= 1  # the automatic colours again


def cat_beside_a_wall(path: Path) -> tuple[int, int]:
    """A real cat photo (gray) with a bright, flat wall to its right across a sharp edge; returns the
    wall's first column and the photo's width."""
    from tests.conftest import SAMPLE

    cat = np.asarray(Image.open(SAMPLE / "Bengal_107.jpg").convert("L"))
    height, width = cat.shape
    wall = np.full((height, width // 2), 235, np.uint8)
    Image.fromarray(np.concatenate([cat, wall], axis=1)).save(path)
    return width, width + width // 2


def test_a_blue_point_fills_the_cats_region_and_leaves_the_wall_across_an_edge_in_a_real_browser(browser, tmp_path):
    """The shipped model on the page: one saturated blue point on the cat turns a wide part of the cat
    blue (not a small disc around the point) and leaves the wall beyond the cat's edge as it was."""
    photo = tmp_path / "cat_and_wall.png"
    edge, width = cat_beside_a_wall(photo)
    with serve("pretrained:cats", tmp_path) as url:
        shots = guide_in_browser(browser, url, photo, (0.3 * edge / width, 0.5))
    automatic, guided = shots["automatic"], shots["guided"]
    scale = automatic.shape[1] / width  # the page shows a preview
    cat, wall = slice(0, int(0.9 * edge * scale)), slice(int(1.1 * edge * scale), None)
    bluer = (guided[:, cat, 2] - guided[:, cat, 0]) - (automatic[:, cat, 2] - automatic[:, cat, 0]) > 10
    disc = np.pi * (25 * scale) ** 2  # the small disc a point used to colour
    assert bluer.sum() > 1.5 * disc, (bluer.sum(), disc)  # a region, not a disc
    assert np.abs(guided[:, wall] - automatic[:, wall]).mean() < 1.0  # across the edge: unchanged
