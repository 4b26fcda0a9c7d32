"""A real browser: Playwright drives Debian's Chromium (no browser download) through every tab."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
TABS = ["Melodies", "Timbre", "Translate", "Vocode", "About"]


@pytest.fixture(scope="module")
def page_url():
    from app.main import launch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = launch(port=port, device="cpu", block=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make test installs it where it can)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_every_tab_renders_without_console_errors(browser, page_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_url, wait_until="networkidle")
    for tab in TABS:
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(300)
        page.screenshot(path=str(tmp_path / f"{tab}.png"), full_page=True)
    page.get_by_role("tab", name="About").click()
    page.get_by_role("button", name="Refresh").click()
    page.get_by_text("architecture").first.wait_for(timeout=30_000)
    assert not errors, errors
    assert all((tmp_path / f"{t}.png").stat().st_size > 5000 for t in TABS)
    shots = Path(page_url and tmp_path)
    assert len(list(shots.glob("*.png"))) == len(TABS)
