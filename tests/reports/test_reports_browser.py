"""The five reports as an officer sees them (issue 15 §2): each HTML report of the demo trail
opened in a real Chromium (Debian's, driven by Playwright; no browser is downloaded) at a
laptop's 1400 x 900, and printed to PDF as officers file them.

Checked: nothing overflows its container or makes the page scroll sideways, on screen and in
the landscape print layout; every chart has a title and both axes labelled; no timestamp or
number cell wraps onto a second line; each report prints to A4 and Letter landscape pages.
Screenshots and PDFs are kept in the artefacts directory ($TRADETRAIL_ARTIFACTS, else
tests/artifacts/, git-ignored) for a person to look at.

Like the PostgreSQL tests, these fail rather than skip when the browser is missing: the test
script (scripts/test) installs it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from helpers import TESTS
from tradetrail.reports import REPORT_KINDS, build_report, render

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TODAY = datetime(2024, 3, 6, tzinfo=UTC)
DAY1, DAY2 = "2024-03-04", "2024-03-05"
SCREEN = {"width": 1400, "height": 900}
# the printable width of Letter landscape (279.4 mm less 2 x 12 mm margins) in CSS pixels: the
# narrower of the two papers the print CSS is made for
PRINT_WIDTH = round((279.4 - 24) / 25.4 * 96)
PAGE_POINTS = {"A4": (842.0, 595.0), "Letter": (792.0, 612.0)}  # landscape, 1/72 inch

pytestmark = pytest.mark.slow  # about 15 s: a demo trail, five reports, a browser

# Elements wider than their container, or whose content is wider than their box, anywhere
# in the document (chart internals excepted: an SVG scales to its box).
OVERFLOWS_JS = """() => {
  const bad = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth)
    bad.push(`document ${doc.scrollWidth} > ${doc.clientWidth}`);
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
    const parent = el.parentElement;
    const box = el.getBoundingClientRect(), outer = parent.getBoundingClientRect();
    const name = el.tagName.toLowerCase() + (el.className ? '.' + el.className : '');
    if (box.width > 0 && box.right > outer.right + 1)
      bad.push(`${name} ends at ${box.right} past its container's ${outer.right}`);
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).display !== 'inline')
      bad.push(`${name} content ${el.scrollWidth} wider than ${el.clientWidth}`);
  }
  return bad;
}"""

# Every chart: its <title>, aria-label, and the text of its title and axis labels.
CHARTS_JS = """() => [...document.querySelectorAll('figure > svg')].map(svg => {
  const text = part => {
    const g = svg.querySelector(`g[id$="-${part}"]`);
    return g ? g.textContent.trim() : '';
  };
  const title = svg.querySelector(':scope > title');
  return {title: title ? title.textContent.trim() : '', aria: svg.getAttribute('aria-label'),
          heading: text('title'), x: text('xlabel'), y: text('ylabel')};
})"""

# Lines each time and number cell's text takes (distinct line tops of its text).
LINES_JS = """() => [...document.querySelectorAll('td.t, td.n')].map(td => {
  const range = document.createRange();
  range.selectNodeContents(td);
  const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
  return [td.className, td.textContent, tops.size];
})"""


def artifacts() -> Path:
    where = os.environ.get("TRADETRAIL_ARTIFACTS")
    path = Path(where) if where else TESTS / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory, demo_trail_template: Path) -> dict[str, Path]:
    """The five reports of the session's two-day demo trail (only read) as HTML files."""
    home = demo_trail_template
    out = tmp_path_factory.mktemp("html")
    files = {}
    for kind in REPORT_KINDS:
        files[kind] = out / f"{kind}.html"
        files[kind].write_bytes(render(build_report(home, kind, DAY1, DAY2), "html"))
    return files


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (scripts/test does: "
            "apt-get install chromium); no browser is downloaded"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def pages_of(pdf: bytes) -> list[tuple[float, float]]:
    boxes = re.findall(rb"/MediaBox\s*\[\s*([-0-9. ]+)\]", pdf)
    out = []
    for box in boxes:
        x0, y0, x1, y1 = (float(v) for v in box.split())
        out.append((x1 - x0, y1 - y0))
    return out


@pytest.mark.parametrize("kind", REPORT_KINDS)
def test_report_in_chromium(kind: str, reports: dict[str, Path], browser: Any) -> None:
    page = browser.new_page(viewport=SCREEN)
    try:
        page.goto(reports[kind].as_uri())
        page.wait_for_load_state("load")

        assert page.evaluate(OVERFLOWS_JS) == [], f"{kind}: overflow at 1400 px"
        assert page.evaluate("document.documentElement.scrollWidth") <= SCREEN["width"]

        charts = page.evaluate(CHARTS_JS)
        assert charts, f"{kind}: no chart"
        for chart in charts:
            assert chart["title"] and chart["aria"] == chart["title"], chart
            assert chart["heading"] == chart["title"], chart
            assert chart["x"] and chart["y"], f"{kind}: chart without axis labels: {chart}"

        cells = page.evaluate(LINES_JS)
        assert any(c[0] == "n" for c in cells)
        wrapped = [c for c in cells if c[2] != 1]
        assert wrapped == [], f"{kind}: cells on more than one line"
        if kind in ("risk", "config", "access"):  # these list events with their time
            assert any(c[0] == "t" for c in cells), f"{kind}: no time cell"

        page.screenshot(path=str(artifacts() / f"{kind}.png"), full_page=True)

        for paper, (width, height) in PAGE_POINTS.items():
            pdf = page.pdf(format=paper)
            assert pdf.startswith(b"%PDF-") and len(pdf) > 20_000, (kind, paper, len(pdf))
            sizes = pages_of(pdf)
            assert sizes, (kind, paper)
            for w, h in sizes:  # landscape, as the print CSS asks
                assert abs(w - width) < 2 and abs(h - height) < 2, (kind, paper, w, h)
            if paper == "A4":
                (artifacts() / f"{kind}.pdf").write_bytes(pdf)

        page.emulate_media(media="print")
        page.set_viewport_size({"width": PRINT_WIDTH, "height": 900})
        assert page.evaluate(OVERFLOWS_JS) == [], f"{kind}: overflow in the print layout"
    finally:
        page.close()
