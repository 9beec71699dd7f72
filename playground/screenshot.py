"""`make playground-screenshot`: redraw docs/playground.png, the README's picture, by the
browser tests' own steps (a /sing until both takes are in)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playground.browser import Playground, chromium_missing, launch, sing


def main(out: Path) -> None:
    reason = chromium_missing()
    if reason:
        sys.exit(reason)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        running = Playground(Path(tmp) / "playground.log")
        try:
            running.wait_ready()
            with sync_playwright() as pw:
                browser = launch(pw)
                try:
                    page = browser.new_page(viewport={"width": 1280, "height": 860})
                    page.set_default_timeout(60_000)
                    page.goto(running.url)
                    sing(page)
                    result = page.locator(".message", has_text="your song is ready")
                    result.scroll_into_view_if_needed()
                    page.screenshot(path=str(out))
                finally:
                    browser.close()
        finally:
            running.stop()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/playground.png"))
