"""End to end in headless Chromium: each tab is opened, filled (upload, drawing or example), run, and its output checked.

Debian's ``chromium`` is driven by Playwright for Python (no browser download). Without it the
tests are skipped, unless CI is set: then they fail. A screenshot per tab goes to ``artifacts/``.
"""

from __future__ import annotations

import os
import time
import urllib.request
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from ganstudio.ui.finetune import POLL_S
from ui.results import assert_not_blank
from ui.studio import ARTIFACTS, training_pictures

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium's connections are refused on a closed network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 60_000


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the browser tests must run; scripts/setup.sh --dev installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def page(studio_url):
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: pip install -r requirements-dev.txt")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(TIMEOUT_MS)
        tab.page_errors = []
        tab.on("pageerror", lambda error: tab.page_errors.append(str(error)))
        tab.goto(studio_url)
        tab.wait_for_selector("text=GAN Studio")
        yield tab
        browser.close()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()
    time.sleep(0.5)


def pick(page, dropdown_id: str, value: str) -> None:
    """Choose a value in a Gradio dropdown."""
    page.locator(f"#{dropdown_id} input").click()
    page.get_by_role("option", name=value, exact=True).click()
    time.sleep(0.8)  # the change event updates the tab's controls


def click_example(page, first_cell: str) -> None:
    """Click the first example row whose first cell reads ``first_cell`` (it fills the inputs)."""
    page.locator("div.table", has_text=first_cell).locator("visible=true").first.click()
    time.sleep(1)


def shown_images(page, selector: str, count: int = 1) -> list[Image.Image]:
    """The images under ``selector`` once at least ``count`` are there, fetched from the server."""
    images = page.locator(f"{selector} img")
    images.nth(count - 1).wait_for(state="visible")
    sources = images.evaluate_all("els => els.map(e => e.src)")
    pictures = []
    for source in sources[:count]:
        with urllib.request.urlopen(source, timeout=30) as response:
            pictures.append(Image.open(BytesIO(response.read())).convert("RGB"))
    return pictures


def wait_for_info(page, text: str) -> None:
    """Wait until a run-info line under a result mentions ``text`` (the new result is in)."""
    page.wait_for_function("text => [...document.querySelectorAll('.run-info')].some(e => e.innerText.includes(text))", arg=text)


def screenshot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_generate_shows_images_with_seeds_and_links_to_interpolate(page):
    open_tab(page, "Generate")
    pick(page, "generate-model", "tiny-dcgan")  # built-in models may come and go; the tests bring their own
    page.get_by_role("button", name="Generate", exact=True).click()
    picture = shown_images(page, "#generate-gallery")[0]
    assert_not_blank(picture)
    assert picture.size == (256, 256)
    assert page.get_by_text("seed 42", exact=True).first.is_visible()
    screenshot(page, "generate")
    page.locator("#generate-gallery img").first.click()
    page.get_by_role("button", name="Interpolate from it").click()
    time.sleep(1)
    assert page.get_by_role("tab", name="Interpolate", exact=True).get_attribute("aria-selected") == "true"
    assert page.get_by_label("Start seed").input_value() == "42"


def test_interpolate_shows_a_strip_and_an_animation(page):
    open_tab(page, "Interpolate")
    assert page.locator("#interpolate-model input").input_value() == "tiny-dcgan"  # sent from Generate
    page.get_by_role("button", name="Interpolate", exact=True).click()
    assert_not_blank(shown_images(page, "#interpolate-strip", count=10)[5])
    shown_images(page, "#interpolate-animation")
    screenshot(page, "interpolate")


def test_translate_an_uploaded_photo_both_ways_then_a_drawing(page, sample_paths):
    open_tab(page, "Translate")
    pick(page, "translate-model", "tiny-cyclegan")
    page.get_by_role("tab", name="Photo", exact=True).click()
    page.locator("#translate-image input[type=file]").set_input_files(sample_paths["astronaut"])
    page.get_by_label("B → A").check()
    page.get_by_role("button", name="Translate", exact=True).click()
    assert_not_blank(shown_images(page, "#translate-after")[0])
    screenshot(page, "translate-photo")

    pick(page, "translate-model", "tiny-sketch2digit")  # a sketch model opens the sketchpad
    sketch = page.locator("#translate-sketch")
    sketch.get_by_role("button", name="Brush").click()
    box = sketch.locator("canvas").last.bounding_box()
    left, top = box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.25
    page.mouse.move(left, top)
    page.mouse.down()
    for step in range(1, 11):  # a stroke down and to the right
        page.mouse.move(left + 8 * step, top + 14 * step)
    page.mouse.up()
    page.get_by_role("button", name="Translate the sketch").click()
    wait_for_info(page, "tiny-sketch2digit")
    assert_not_blank(shown_images(page, "#translate-after")[0])
    screenshot(page, "translate-sketch")


def test_a_file_that_is_not_an_image_gives_a_message_not_a_trace(page, sample_paths):
    open_tab(page, "Translate")
    pick(page, "translate-model", "tiny-cyclegan")
    page.get_by_role("tab", name="Photo", exact=True).click()
    page.locator("#translate-image input[type=file]").set_input_files(sample_paths["not_an_image"])
    page.get_by_role("button", name="Translate", exact=True).click()
    toast = page.get_by_text("is not an image this app can read")
    toast.first.wait_for(state="visible")
    assert page.get_by_text("Traceback").count() == 0
    screenshot(page, "translate-bad-input")
    page.reload()  # closes the message
    page.wait_for_selector("text=GAN Studio")


def test_stargan_edits_attributes_then_shows_every_domain(page):
    open_tab(page, "StarGAN")
    click_example(page, "stargan")  # a held-out digit, with the first StarGAN model (built-in ones come first)
    pick(page, "edit-model", "tiny-stargan")
    page.get_by_role("checkbox", name="red", exact=True).check()
    page.get_by_role("checkbox", name="slanted", exact=True).check()
    page.get_by_role("button", name="Edit attributes").click()
    assert_not_blank(shown_images(page, "#edit-after")[0])
    screenshot(page, "stargan-v1")
    pick(page, "edit-model", "tiny-stargan-v2")
    page.get_by_role("button", name="Show every domain").click()
    grid = shown_images(page, "#edit-grid", count=4)
    assert all(not picture.size[0] < 256 for picture in grid)
    screenshot(page, "stargan-v2")


def test_style_transfer_from_an_example_and_from_a_built_in_style(page):
    open_tab(page, "Style transfer")
    click_example(page, "magenta-arbitrary")  # the cat in the style of cells
    page.get_by_role("button", name="Stylize", exact=True).click()
    assert_not_blank(shown_images(page, "#stylize-result")[0])
    screenshot(page, "style-transfer-arbitrary")
    pick(page, "stylize-model", "magenta-26-styles")
    page.get_by_role("button", name="Show the styles").click()
    shown_images(page, "#style-gallery", count=26)
    page.locator("#style-gallery img").nth(7).click()
    time.sleep(0.5)
    page.get_by_role("button", name="Stylize", exact=True).click()
    wait_for_info(page, "style 7")
    assert_not_blank(shown_images(page, "#stylize-result")[0])
    screenshot(page, "style-transfer-26-styles")


@pytest.mark.xfail(reason="known regression since the public-mode merge: the models table does not list a test model imported by another client; to be fixed before public mode is called done", strict=False)
def test_models_tab_lists_the_registry_and_exports_to_onnx(page):
    open_tab(page, "Models")
    page.get_by_text("PyTorch runs on").wait_for()
    assert page.locator("#models-table").get_by_text("tiny-stargan-v2").count() >= 1
    pick(page, "models-export", "tiny-dcgan")
    page.get_by_role("button", name="Export to ONNX").click()
    page.get_by_text("max difference from PyTorch").wait_for()
    assert "tiny-dcgan-onnx\n.zip" in page.locator("#models-exported").inner_text()  # name and extension in two spans
    screenshot(page, "models")
    screenshot(page, "models")


def test_finetune_trains_an_uploaded_set_and_its_model_appears_in_the_pickers(page, tmp_path, sample_paths):
    open_tab(page, "Fine-tune")
    pick(page, "finetune-base", "tiny-dcgan")
    assert page.get_by_label("Image size (px)").input_value() == "32"  # the base's defaults fill the form
    uploads = [*training_pictures(tmp_path, 12), sample_paths["not_an_image"]]
    page.locator("#finetune-files input[type=file]").set_input_files(uploads)
    page.locator("#finetune-files").get_by_text("crop11").wait_for()  # uploaded (name and extension in two spans)
    page.get_by_label("Name of the new model").fill("browser-digits")
    page.get_by_label("Steps").fill("10")
    page.get_by_label("Batch size").fill("8")
    page.get_by_role("button", name="Start fine-tuning").click()
    page.get_by_text("12 image(s) used; 1 skipped (1 not images)").first.wait_for()
    # the new job is picked and shown until it ends (other jobs of the session may be listed too)
    page.locator("#finetune-progress", has_text="registered as browser-digits").wait_for(timeout=240_000)
    assert "Done" in page.locator("#finetune-progress").inner_text()
    time.sleep(POLL_S)  # the next tick has sent the last sample grid
    grid = shown_images(page, "#finetune-sample")[0]
    assert_not_blank(grid)
    assert page.locator("#finetune-losses canvas, #finetune-losses svg").count() >= 1
    assert page.locator("#finetune-jobs").get_by_text("browser-digits").count() >= 1
    screenshot(page, "fine-tune")
    open_tab(page, "Generate")  # the new model is in the other tabs' pickers without a reload
    pick(page, "generate-model", "browser-digits")
    page.get_by_role("button", name="Generate", exact=True).click()
    wait_for_info(page, "browser-digits")
    assert_not_blank(shown_images(page, "#generate-gallery")[0])


def test_a_stylegan_shows_the_controls_its_model_info_names(page):
    open_tab(page, "Generate")
    pick(page, "generate-model", "tiny-stylegan3")
    assert page.locator("#generate-psi").is_visible() and page.locator("#generate-rotate").is_visible()
    assert not page.locator("#generate-truncation").is_visible()  # the latent models' threshold
    assert not page.locator("#generate-noise").is_visible()  # StyleGAN3 has no noise inputs
    pick(page, "generate-model", "tiny-stylegan2")
    assert page.locator("#generate-noise").is_visible() and not page.locator("#generate-rotate").is_visible()
    page.get_by_text("Style mixing: the rows' images").click()
    page.get_by_role("button", name="Mix styles").click()
    wait_for_info(page, "3×2 mixes")
    assert shown_images(page, "#generate-mix")[0].size == (96 * 3, 128 * 3)  # 3 columns, 4 rows of 32 px, enlarged
    screenshot(page, "style-mixing")
    pick(page, "generate-model", "tiny-dcgan")
    assert not page.locator("#generate-psi").is_visible() and page.locator("#generate-truncation").is_visible()


def test_no_script_error_in_the_page(page):
    assert page.page_errors == []


TAB_NAMES = ["Generate", "Interpolate", "Translate", "StarGAN", "Style transfer", "Models", "Fine-tune"]


def test_on_a_phone_every_tab_is_in_sight_and_the_header_is_short(page):
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.reload()
        page.wait_for_selector("text=GAN Studio")
        time.sleep(1.0)  # the tab bar lays itself out after the first paint
        assert page.get_by_role("tab").count() == len(TAB_NAMES)  # none hidden in a "more tabs" menu
        for name in TAB_NAMES:
            box = page.get_by_role("tab", name=name, exact=True).bounding_box()
            assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= 390, name
        tabs_bottom = max(page.get_by_role("tab", name=name, exact=True).bounding_box()["y"] for name in TAB_NAMES)
        assert tabs_bottom < 844 / 3  # header and tab bar leave the screen to the tab itself
        open_tab(page, "Fine-tune")
        assert page.get_by_role("tab", name="Fine-tune", exact=True).get_attribute("aria-selected") == "true"
        page.screenshot(path=str(ARTIFACTS / "phone-tabs.png"))
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.reload()
        page.wait_for_selector("text=GAN Studio")


def test_a_public_studio_keeps_a_browsers_models_its_own_across_reloads(page, public_studio, tmp_path):
    from ui.studio import save_tiny_checkpoint

    checkpoint = save_tiny_checkpoint("dcgan", tmp_path / "netG_epoch_6.pth", nz=8, ngf=4, n_layers=4, seed=6)
    browser = page.context.browser  # the module's Chromium; each context has a storage of its own
    owner = browser.new_context().new_page()
    owner.set_default_timeout(TIMEOUT_MS)
    owner.goto(public_studio[0])
    open_tab(owner, "Models")
    owner.locator("#models-import-files input[type=file]").set_input_files([str(checkpoint)])
    owner.locator("#models-import-files").get_by_text("netG_epoch_6").wait_for()
    owner.locator("#models-import-name input, #models-import-name textarea").first.fill("browser-owned")
    owner.get_by_role("button", name="Import", exact=True).click()
    owner.get_by_text("Imported browser-owned").wait_for()
    owner.reload()  # a new session: the browser's stored id makes it the same visitor
    open_tab(owner, "Models")
    owner.locator("#models-table").get_by_text("browser-owned").first.wait_for()
    stranger = browser.new_context().new_page()
    stranger.set_default_timeout(TIMEOUT_MS)
    stranger.goto(public_studio[0])
    open_tab(stranger, "Models")
    stranger.locator("#models-table").get_by_text("tiny-dcgan").first.wait_for()
    assert stranger.locator("#models-table").get_by_text("browser-owned").count() == 0
    screenshot(owner, "public-models")
    owner.context.close()
    stranger.context.close()
