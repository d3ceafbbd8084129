"""End to end: the real page in headless Chromium (Debian's `chromium`, driven by Playwright), a photo
uploaded, and what the page shows checked. Skips, saying why, where the browser or Playwright is missing."""
from __future__ import annotations

import os
import shutil

import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from trivision.models.registry import shipped_weights
from trivision.serve.app import background_server, create_app  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    """Debian's chromium (CI installs it: .ci/run); Playwright's own browser download is not used."""
    path = os.environ.get("TRIVISION_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("no chromium on PATH (apt-get install -y chromium; or set TRIVISION_CHROMIUM)")
    return path


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.skip("the Python package playwright is not installed (pip install -e '.[test]')")
    path = chromium_path()
    with sync_playwright() as pw:
        try:
            b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        except Error as e:
            pytest.skip(f"chromium at {path} does not start under Playwright: {str(e).splitlines()[0]}")
        yield b
        b.close()


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory):
    from skimage import data
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


def test_page_shows_faces_cars_and_colorized_photo(browser, astronaut, cars_weights, koala_weights, tmp_path):
    app = create_app(gender="gender-cnn", cars=str(cars_weights), colorize=str(koala_weights))
    with background_server(app) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/")
        assert page.title() == "trivision"
        page.set_input_files("#file", str(astronaut))

        # the faces panel: the photo with one box, labelled with a gender and a probability
        page.wait_for_selector("#gender-panel .face-box", timeout=60_000)
        boxes = page.locator("#gender-panel .face-box")
        assert boxes.count() == 1
        label = boxes.first.inner_text()
        assert label.split()[0] in ("female", "male") and label.endswith("%")
        assert page.locator("#gender-panel .status").inner_text() == "1 face found"
        assert page.locator("#gender-panel .stage img").evaluate("img => img.complete && img.naturalWidth") == 512

        # the cars panel: five classes by name, most likely first
        page.wait_for_selector("#cars-panel .top5 li:nth-child(5)", timeout=60_000)
        cars = page.locator("#cars-panel .top5 li").all_inner_texts()
        assert len(cars) == 5 and all(c.startswith("Test Car") for c in cars)

        # the colorized photo at the photo's size
        page.wait_for_selector("#colorized:not([hidden])", timeout=60_000)
        page.wait_for_function("document.querySelector('#colorized').complete", timeout=30_000)
        assert page.locator("#colorized").evaluate("img => img.naturalWidth") == 512
        assert page.locator("#colorized").get_attribute("src").startswith("data:image/png;base64,")

        page.screenshot(path=os.environ.get("TRIVISION_SCREENSHOT") or str(tmp_path / "page.png"), full_page=True)
        assert not errors, errors
        page.close()


def test_page_says_which_model_is_missing_and_rejects_non_images(browser, astronaut, tmp_path):
    # an install where cars has weights and colorize has none
    with background_server(create_app(colorize="colorize-never-shipped")) as url:
        page = browser.new_page()
        page.goto(url + "/")
        page.set_input_files("#file", str(astronaut))
        if shipped_weights("cars-bcnn-20") is None:
            page.wait_for_selector("#cars-panel .status.error", timeout=60_000)
            assert "model 'cars-bcnn-20' is not installed" in page.locator("#cars-panel .status").inner_text()
        else:
            page.wait_for_selector("#cars-panel .top5 li:nth-child(5)", timeout=60_000)
        page.wait_for_selector("#colorize-panel .status.error", timeout=60_000)
        assert ("model 'colorize-never-shipped' is not installed"
                in page.locator("#colorize-panel .status").inner_text())
        page.wait_for_selector("#gender-panel .face-box", timeout=60_000)  # the installed model still answers

        notes = tmp_path / "notes.txt"
        notes.write_text("not a photo")
        page.set_input_files("#file", str(notes))
        page.wait_for_function("document.querySelector('#gender-panel .status').textContent.includes('notes.txt')",
                               timeout=60_000)
        status = page.locator("#gender-panel .status")
        assert "not an image" in status.inner_text() and "error" in status.get_attribute("class")
        assert page.locator("#gender-panel .face-box").count() == 0
        page.close()
