"""Take the README's screenshots from a running demo (``make run``), at a phone's 360 px.

    .venv/bin/python docs/images/screenshots.py [BASE_URL]

BASE_URL defaults to http://127.0.0.1:5000. Chromium is /usr/bin/chromium (``HANDSUP_CHROMIUM``
overrides), driven by Playwright as in the browser tests. Writes ``console-phone.png`` (the
dashboard), ``console-inbox.png`` (the inbox's threads, the first one opened; for
docs/console.md) and ``conversation.png`` (a volunteer's texts in the simulator) next to this
file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("HANDSUP_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 360, "height": 740}
DEMO_LOGIN = ("demo@example.org", "handsup-demo")
BEN = "%2B12025550112"  # a demo volunteer with two weeks of texts


def main(base: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(viewport=VIEWPORT, device_scale_factor=1).new_page()
        page.goto(f"{base}/console/login")
        page.fill("input[name=email]", DEMO_LOGIN[0])
        page.fill("input[name=password]", DEMO_LOGIN[1])
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/console/")
        page.screenshot(path=HERE / "console-phone.png")
        page.goto(f"{base}/console/inbox")
        page.locator("li.thread-item summary").first.click()
        page.screenshot(path=HERE / "console-inbox.png")
        page.goto(f"{base}/simulator/?community=demo&phone={BEN}")
        page.evaluate("document.querySelector('ol.thread').scrollIntoView()")  # from the start
        page.screenshot(path=HERE / "conversation.png")
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000")
