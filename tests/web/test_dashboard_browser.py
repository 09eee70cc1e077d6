"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against a real ``ketasim serve``.

Load the page, enter a regimen and see the plot change, compare two regimens, save and
reopen the permalink, download the CSV; start, cancel and complete background runs from the
keyboard; every control labelled; no console errors. A
screenshot is kept as an artifact in ``results/test-artifacts/`` (or ``$KETASIM_ARTIFACTS``).
Chromium missing fails the test; it never skips.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import httpx
import pandas as pd
import pytest

from ketasim.scenario import Scenario

from .conftest import ARGS, CHROMIUM

ARTIFACTS = Path(os.environ.get("KETASIM_ARTIFACTS", Path(__file__).resolve().parents[2] / "results" / "test-artifacts"))


def _peak(page, group: str) -> float:
    return float(page.get_attribute(f"#plot-{group}", "data-max"))


def _wait_sims(page, n: int) -> None:
    page.wait_for_function(f"Number(document.body.dataset.simulations || 0) >= {n}", timeout=60_000)


def _sims(page) -> int:
    return int(page.evaluate("Number(document.body.dataset.simulations || 0)"))


@pytest.mark.slow
def test_dashboard_in_headless_chromium(server, tmp_path):
    assert Path(CHROMIUM).is_file(), (f"Chromium is missing at {CHROMIUM}: run `make browser` (installs the Debian "
                                      "package chromium); the browser test must not be skipped.")
    from playwright.sync_api import sync_playwright

    problems: list[str] = []

    def watch(page):
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        # superseded simulate requests are aborted on purpose; downloads end as navigations
        page.on("requestfailed", lambda q: None if (q.failure or "").endswith("ERR_ABORTED")
                else problems.append(f"request failed: {q.url[:100]} {q.failure}"))

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            # the page under its Content-Security-Policy, untouched: it draws everything, no violations
            strict = browser.new_context(viewport={"width": 1280, "height": 1000})
            page0 = strict.new_page()
            watch(page0)
            page0.goto(server.url + "/", wait_until="load")
            page0.wait_for_selector("body[data-tables]", timeout=60_000)
            assert page0.locator(".plot canvas").count() == 4
            assert page0.locator("#br-table tbody tr[data-metric='outcome_p_dependence_end']").count() == 1
            strict.close()

            # the interactive checks poll with evaluated expressions, which the page's CSP forbids
            ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True, bypass_csp=True)
            page = ctx.new_page()
            watch(page)
            page.goto(server.url + "/", wait_until="load")
            _wait_sims(page, 1)
            assert re.search(r"version \d", page.locator(".meta").inner_text())
            # every control has a label (keyboard and screen-reader users)
            unlabelled = page.evaluate("""() => [...document.querySelectorAll('#controls input, #controls select')]
                .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id || e.name)""")
            assert unlabelled == []
            peak1 = _peak(page, "concentration")
            assert page.get_attribute("#plot-concentration", "data-variable") == "C_plasma_ketamine"
            assert page.locator("#plot-concentration canvas").count() == 1
            # an outcome curve from the start (dissociation, asked for explicitly)
            assert page.get_attribute("#plot-outcome", "data-variable") == "dissociation"
            assert _peak(page, "outcome") > 0

            # enter a regimen with the keyboard: double the dose -> the plot changes (linear PK: peak doubles)
            n = _sims(page)
            dose = page.locator("#arm1-dose")
            dose.focus()
            dose.fill("1")
            dose.press("Tab")
            _wait_sims(page, n + 1)
            page.wait_for_function("document.querySelector('#arm1-regimen').value === '1 mg/kg iv over 40 min'")
            page.wait_for_function(f"Number(document.querySelector('#plot-concentration').dataset.max) > {peak1 * 1.5}")
            assert _peak(page, "concentration") == pytest.approx(2 * peak1, rel=1e-5)

            # compare two regimens: add one, make it snorted ketamine
            n = _sims(page)
            page.click("#add-arm")
            page.select_option("#arm2-drug", "racemic")
            page.select_option("#arm2-route", "insufflated")
            page.fill("#arm2-dose", "100")
            page.locator("#arm2-dose").press("Tab")
            page.wait_for_function("document.querySelector('#arm2-regimen').value === '100 mg insufflated'")
            page.wait_for_function("document.querySelector('#plot-concentration').dataset.series === '2' && "
                                   "[...document.querySelectorAll('#br-table thead th')].some(t => t.textContent === '100 mg insufflated')")
            page.wait_for_function("document.querySelector('#br-table tbody tr[data-metric=\"outcome_drug_liking_peak\"]') !== null"
                                   " && document.querySelector('#status').textContent.includes('tables in')", timeout=60_000)
            heads = page.locator("#br-table thead th").all_inner_texts()
            assert heads[2:] == ["1 mg/kg iv over 40 min", "100 mg insufflated"]
            assert page.locator("#br-table tbody tr[data-metric='Cmax_ketamine'] td").count() == 3
            assert not page.locator("#error").is_visible()
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            # save -> permalink by content hash
            page.click("#save")
            page.wait_for_function("document.querySelector('#permalink').value.includes('/s/')")
            link = page.input_value("#permalink")
            sid = link.rsplit("/", 1)[-1]
            saved = httpx.get(f"{server.url}/api/scenarios/{sid}", timeout=10).json()
            assert Scenario.from_dict(saved["scenario"]).sha256 == sid
            assert [a["regimen"] for a in saved["scenario"]["arms"]] == ["1 mg/kg iv over 40 min", "100 mg insufflated"]
            peak_saved = _peak(page, "concentration")

            # download the CSV
            with page.expect_download() as dl:
                page.click("#dl-csv")
            path = dl.value.path()
            df = pd.read_csv(io.StringIO(Path(path).read_text()))
            assert list(df["arm"].unique()) == ["1 mg/kg iv over 40 min", "100 mg insufflated"]
            assert df["C_plasma_ketamine_median [ng/mL]"].max() == pytest.approx(peak_saved, rel=1e-5)

            # background runs, by keyboard: start two (one worker: the second waits), cancel the second
            # with Enter on its focused Cancel button; the first completes and links its result files
            page.focus("#run-start")
            page.keyboard.press("Enter")
            page.wait_for_selector("#runs-list li[data-run]", timeout=30_000)
            first = page.get_attribute("#runs-list li:nth-child(1)", "data-run")
            page.focus("#run-start")
            page.keyboard.press("Enter")
            page.wait_for_function("document.querySelectorAll('#runs-list li[data-run]').length === 2", timeout=30_000)
            second = page.get_attribute("#runs-list li:nth-child(1)", "data-run")
            assert second != first
            assert page.evaluate("document.activeElement.closest('li').dataset.run") == second
            assert page.evaluate("document.activeElement.className") == "run-cancel"
            page.keyboard.press("Enter")
            page.wait_for_selector(f"#run-{second}[data-status='cancelled']", timeout=60_000)
            assert not page.locator(f"#run-{second} .run-cancel").is_visible()
            assert page.locator(f"#run-{second} .run-files a").count() == 0
            page.wait_for_selector(f"#run-{first}[data-status='done']", timeout=180_000)
            assert page.get_attribute(f"#run-{first}", "data-progress") == "1"
            assert page.evaluate(f"document.querySelector('#run-{first}-progress').value") == 1
            assert page.locator(f"#run-{first} .run-status").inner_text() == "done, 100 %"
            links = {a.get_attribute("data-file"): a.get_attribute("href")
                     for a in page.locator(f"#run-{first} .run-files a").all()}
            assert links == {n: f"/api/runs/{first}/files/{n}" for n in ("summary.csv", "results.nc", "report.html")}
            api_first = httpx.get(f"{server.url}/api/runs/{first}", timeout=10).json()
            api_second = httpx.get(f"{server.url}/api/runs/{second}", timeout=10).json()
            assert api_first["status"] == "done" and api_second["status"] == "cancelled"
            assert api_first["scenario_id"] == sid  # the run is of the scenario on the page
            run_summary = pd.read_csv(io.StringIO(httpx.get(server.url + links["summary.csv"], timeout=30).text))
            assert set(run_summary["arm"]) == {"1 mg/kg iv over 40 min", "100 mg insufflated"}
            with page.expect_download() as dl:
                page.click(f"#run-{first} .run-files a[data-file='summary.csv']")
            assert Path(dl.value.path()).read_text() == httpx.get(server.url + links["summary.csv"], timeout=30).text
            page.screenshot(path=str(ARTIFACTS / "dashboard-runs.png"), full_page=True)

            # reopen the permalink in a fresh page
            page2 = ctx.new_page()
            watch(page2)
            page2.goto(link, wait_until="load")
            _wait_sims(page2, 1)
            assert page2.locator("#arms > fieldset").count() == 2
            assert page2.input_value("#arm1-regimen") == "1 mg/kg iv over 40 min"
            assert page2.input_value("#arm1-dose") == "1"
            assert page2.input_value("#arm2-route") == "insufflated"
            assert _peak(page2, "concentration") == pytest.approx(peak_saved, rel=1e-9)
            assert page2.input_value("#outcome") == "dissociation"
            # a fresh page lists the server's earlier runs (GET /api/runs), newest first, with their files
            page2.wait_for_function("document.querySelectorAll('#runs-list li[data-run]').length === 2", timeout=30_000)
            assert [page2.get_attribute(f"#runs-list li:nth-child({i})", "data-run") for i in (1, 2)] == [second, first]
            assert page2.get_attribute(f"#run-{first}", "data-status") == "done"
            assert page2.get_attribute(f"#run-{second}", "data-status") == "cancelled"
            assert page2.locator(f"#run-{first} .run-files a").count() == 3
            assert page2.get_attribute("#plot-outcome", "data-variable") == "dissociation"

            # small screens: one column, nothing wider than the viewport
            page2.set_viewport_size({"width": 420, "height": 900})
            page2.wait_for_timeout(400)
            overflow = page2.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, overflow
            page2.screenshot(path=str(ARTIFACTS / "dashboard-narrow.png"), full_page=True)

            # the API docs render from the package (no CDN)
            page3 = ctx.new_page()
            watch(page3)
            outside: list[str] = []
            page3.on("request", lambda q: None if q.url.startswith((server.url, "data:")) else outside.append(q.url))
            page3.goto(server.url + "/api/docs", wait_until="load")
            page3.wait_for_selector(".swagger-ui .opblock-tag", timeout=30_000)
            assert "/api/simulate" in page3.content()
            assert outside == []
        finally:
            browser.close()
    assert not problems, problems
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
