"""A real browser: Playwright drives Debian's Chromium (no browser download) through every tab.

Each tab is used once as a person would: upload a file or pick a bundled example, click the action, wait for
the result (an audio player with a WAV behind it, a plot, a download link, a table), and save a screenshot.
A console error, an error toast or a missing result fails the test. The tabs' models come from
``helpers.app``: the shipped melody and vocoder checkpoints and tiny timbre and translation models.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from app.tabs.melody import EXAMPLES_DIR
from app.tabs.vocode import LABELS
from engine.core.cards import figure_sections
from engine.core.checkpoint import CARD_FILE, checkpoint_root
from helpers.app import install_checkpoints, launched_app
from helpers.audio import harmonic_note

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
PAGE_TIMEOUT = 120_000  # ms to load the page on a loaded machine
RESULT_TIMEOUT = 240_000  # ms for one action's result (the machine may be busy with training runs)
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.mid"))


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    with launched_app(install_checkpoints(tmp_path_factory.mktemp("browser") / "checkpoints")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make test installs it where it can)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, page_url):
    """A fresh page on the app; fails the test afterwards if the browser logged an error."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_url, wait_until="load", timeout=PAGE_TIMEOUT)
    page.get_by_role("tab", name="About").wait_for(timeout=PAGE_TIMEOUT)
    yield page
    page.close()
    assert not errors, errors


def _block(page, label: str):
    """The component whose label reads ``label``."""
    name = page.get_by_test_id("block-label").filter(has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    return name.locator("xpath=..")


def _wait(page, result) -> None:
    """Wait for ``result`` to be visible; an error toast ends the wait with its message."""
    toast = page.locator(".toast-body.error")
    result.or_(toast).first.wait_for(state="visible", timeout=RESULT_TIMEOUT)
    if toast.count():
        pytest.fail(f"the app answered with an error: {toast.first.inner_text()}")


def _audio_ready(page, label: str) -> None:
    """The audio player ``label`` holds a sound (its download button appears), and that file is a WAV."""
    block = _block(page, label)
    link = block.get_by_test_id("download-link").first
    _wait(page, link)
    assert block.get_by_test_id("waveform-controls").first.is_visible(), f"{label}: no player controls"
    src = link.get_attribute("href") or ""
    assert "/gradio_api/file=" in src, (label, src)
    body = page.request.get(src).body()
    assert body[:4] == b"RIFF" and len(body) > 1000, (label, body[:16], len(body))


def _plot_ready(page, label: str) -> None:
    _wait(page, _block(page, label).locator("[data-testid=matplotlib] img"))


def _download_ready(page, label: str, suffix: str) -> None:
    link = _block(page, label).get_by_test_id("download-link").first
    _wait(page, link)
    assert (link.get_attribute("href") or "").endswith(suffix), link.get_attribute("href")


def _upload(page, label: str, path: Path) -> None:
    _block(page, label).locator("input[type=file]").set_input_files(str(path))


def _open(page, tab: str) -> None:
    page.get_by_role("tab", name=tab, exact=True).click()


def _screenshot(page, tmp_path: Path, tab: str) -> None:
    shot = tmp_path / f"{tab}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000, shot.stat().st_size  # a rendered page, not a blank one


def test_melodies_interpolates_an_upload(page, tmp_path):
    _open(page, "Melodies")
    _upload(page, "Melody A (.mid)", EXAMPLES[0])
    _wait(page, _block(page, "Melody A (.mid)").get_by_text(EXAMPLES[0].stem))
    page.get_by_role("button", name="Interpolate", exact=True).click()
    _plot_ready(page, "Every step")
    _audio_ready(page, "The whole interpolation")
    _download_ready(page, "MIDI download", ".mid")
    _screenshot(page, tmp_path, "Melodies")


def test_melodies_continues_a_bundled_example(page, tmp_path):
    _open(page, "Melodies")
    _open(page, "Continue / Inpaint")
    page.get_by_role("button", name="Continue", exact=True).click()
    _plot_ready(page, "Input and result")
    _audio_ready(page, "Continued / inpainted audio")
    _download_ready(page, "Continued / inpainted MIDI", ".mid")
    _screenshot(page, tmp_path, "Continue")


def test_timbre_morphs_two_bundled_notes(page, tmp_path):
    _open(page, "Timbre")
    page.get_by_role("button", name="Morph", exact=True).click()
    _plot_ready(page, "Morph rainbowgram")
    _audio_ready(page, "Morph (interpolated embedding, decoded)")
    _audio_ready(page, "Plain audio mix, same weights")
    _screenshot(page, tmp_path, "Timbre")


def test_translate_plays_a_bundled_example(page, tmp_path):
    _open(page, "Translate")
    page.get_by_text("violin-folk-ballad40-0.wav", exact=True).click()
    _audio_ready(page, "Clip (any format, up to 10 s)")  # the example is in the input
    page.get_by_role("button", name="Translate", exact=True).click()
    _plot_ready(page, "Input spectrogram")
    for slot, domain in enumerate(("sine", "saw"), 1):  # the instruments ticked by default, in output slots
        _wait(page, page.locator("strong", has_text=domain))  # the slot's heading names its instrument
        _audio_ready(page, f"output {slot}")
        _plot_ready(page, f"output {slot} spectrogram")
    _download_ready(page, "Download", ".wav")
    _screenshot(page, tmp_path, "Translate")


def test_vocode_an_uploaded_wav(page, tmp_path):
    wav = tmp_path / "note.wav"
    sf.write(wav, harmonic_note(262.0, 0.6, 1.0), 22050)
    _open(page, "Vocode")
    _upload(page, "Audio (up to 60 s)", wav)
    _audio_ready(page, "Audio (up to 60 s)")  # uploaded
    page.get_by_role("button", name="Vocode", exact=True).click()
    for name in ("griffinlim", "melgan", "hifigan"):  # every available vocoder is ticked by default
        _audio_ready(page, LABELS[name])
        _plot_ready(page, f"{LABELS[name]} spectrogram")
    table = page.get_by_role("grid", name="Side by side")
    for name in ("griffinlim", "melgan", "hifigan"):
        _wait(page, table.get_by_role("gridcell", name=LABELS[name], exact=True))
    _screenshot(page, tmp_path, "Vocode")


def test_about_lists_the_models_and_the_device(page, tmp_path):
    _open(page, "About")
    page.get_by_role("button", name="Refresh").click()
    table = page.get_by_role("grid", name="Shipped models")
    for name in ("mel_2bar", "melgan", "hifigan", "timbre", "translate"):
        _wait(page, table.get_by_role("gridcell", name=name, exact=True).first)
    _wait(page, page.get_by_text(re.compile(r"running on cpu")))
    for name in ("mel_2bar", "melgan"):  # each model's figures, under the titles its card gives them
        title = figure_sections((checkpoint_root() / name / CARD_FILE).read_text(encoding="utf-8"))[0][0]
        _wait(page, page.get_by_role("heading", name=title).first)
    _screenshot(page, tmp_path, "About")
