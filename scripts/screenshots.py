#!/usr/bin/env python3
"""Regenerate the README's pictures of the five reports (docs/img/report-<kind>.png).

Makes the demo trail the tests use (two days, seed 11, a fixed today, so the pictures change
only when the reports do), renders each report to HTML, opens it in Debian's Chromium
(/usr/bin/chromium, driven by Playwright; no browser is downloaded) at a laptop's 1400 px,
and keeps the top of the page, scaled to 900 px wide and stored as a palette PNG so the
repository stays small.

    python3 scripts/screenshots.py [--out docs/img] [--height 1650]
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

from tradetrail.demo import run_demo
from tradetrail.reports import REPORT_KINDS, build_report, render

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTH = 1400
SHOWN = 900


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--height", type=int, default=1650, help="CSS pixels kept from the top")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "trail"
        run_demo(home, events=3000, days=2, seed=11, today=datetime(2024, 3, 6, tzinfo=UTC))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            for kind in REPORT_KINDS:
                html = Path(tmp) / f"{kind}.html"
                html.write_bytes(
                    render(build_report(home, kind, "2024-03-04", "2024-03-05"), "html")
                )
                page.goto(html.as_uri())
                shot = Path(tmp) / f"{kind}.png"
                height = min(args.height, page.evaluate("document.documentElement.scrollHeight"))
                page.screenshot(
                    path=str(shot),
                    full_page=True,
                    clip={"x": 0, "y": 0, "width": WIDTH, "height": height},
                )
                image = Image.open(shot).convert("RGB")
                small = image.resize((SHOWN, round(image.height * SHOWN / WIDTH)), Image.LANCZOS)
                target = args.out / f"report-{kind}.png"
                small.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(
                    target, optimize=True
                )
                print(
                    f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}: "
                    f"{target.stat().st_size // 1024} KiB"
                )
            browser.close()


if __name__ == "__main__":
    main()
