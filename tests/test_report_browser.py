"""The HTML report in a real browser: headless Chromium opens it without console errors and shows every figure.

Chromium is the Debian package (``make browser`` installs it; ``make test`` depends on it),
driven by Playwright's Python package with ``executable_path`` so Playwright never downloads
a browser of its own. A missing Chromium or Playwright fails this test; it never skips.
"""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = os.environ.get("KETASIM_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def test_report_opens_in_headless_chromium_and_shows_every_figure(tmp_path):
    assert Path(CHROMIUM).is_file(), (f"Chromium is missing at {CHROMIUM}: run `make browser` (installs the Debian "
                                      "package chromium); the browser test must not be skipped.")
    from playwright.sync_api import sync_playwright  # a missing package fails here, loudly

    from ketasim.flagship import run_flagship

    r = run_flagship(tmp_path / "out", n=4, end="1 d", quiet=True)
    figures = sorted(p.stem for p in (tmp_path / "out" / "figures").glob("*.png"))
    assert "benefit_harm" in figures and "ketamine_bands" in figures
    report = (tmp_path / "out" / "report.html").resolve()

    problems: list[str] = []
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1280, "height": 900})
        try:
            page = ctx.new_page()
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda q: problems.append(f"request failed: {q.url[:80]}"))
            page.goto(report.as_uri(), wait_until="load")
            title = page.title()
            images = page.evaluate("""() => Array.from(document.querySelectorAll('figure img')).map(img => {
                const r = img.getBoundingClientRect();
                const fig = img.closest('figure');
                return {id: fig.id, complete: img.complete, w: img.naturalWidth, h: img.naturalHeight,
                        shown_w: r.width, shown_h: r.height,
                        visible: getComputedStyle(img).visibility === 'visible' && getComputedStyle(img).display !== 'none',
                        caption: (fig.querySelector('figcaption') || {}).textContent || ''};
            })""")
            table_rows = page.locator("#summary-table tbody tr").count()
            appendix = page.locator("#provenance").is_visible()
        finally:
            ctx.close()

    assert not problems, problems
    assert "benefit-risk" in title
    assert sorted(i["id"].removeprefix("fig-") for i in images) == figures
    for i in images:
        assert i["complete"] and i["w"] > 100 and i["h"] > 100, i  # decoded
        assert i["visible"] and i["shown_w"] > 100 and i["shown_h"] > 50, i  # laid out on the page
        assert i["caption"].startswith("Figure "), i
    assert table_rows == r.summary["metric"].nunique()
    assert appendix
