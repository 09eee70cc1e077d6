"""The trial report (ketasim.report.trial_html) and the grouped reading of trial_summary: numbers in the HTML equal
quantiles computed independently from the per-subject Dataset."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest
from typer.testing import CliRunner

import ketasim as ks
from ketasim.cli import app
from ketasim.errors import InputError
from ketasim.report.html import _fmt
from ketasim.report.trial_html import TRIAL_QUANTILES, render_trial_report, trial_table

runner = CliRunner()
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
DESIGN = ks.trials.design(n=40, seed=5, end="2 d", step="30 min", chunk_size=9, outputs=("default", "outcomes"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("trial")
    ds = ks.trials.run(DESIGN, out=out, load=True)
    return out, ds


def test_grouped_summary_equals_one_column_at_a_time_and_the_dataset(folder):
    out, ds = folder
    a = ks.trials.trial_summary(out, quantiles=TRIAL_QUANTILES)
    b = ks.trials.trial_summary(out, quantiles=TRIAL_QUANTILES, max_bytes=1)    # one column per pass
    assert a.equals(b)
    assert list(a.columns) == ["arm", "metric", "unit", "p05", "p25", "median", "p75", "p95"]
    for arm in ds["arm"].values:
        for m in ("Cmax_ketamine", "final_tolerance", "peak_drug_liking", "final_p_dependence"):
            row = a[(a.arm == arm) & (a.metric == m)].iloc[0]
            x = ds[m].sel(arm=arm).values
            np.testing.assert_allclose(row[["p05", "p25", "median", "p75", "p95"]].to_numpy(float),
                                       np.quantile(x[np.isfinite(x)], TRIAL_QUANTILES), rtol=1e-14)
    # default columns keep their order (summary.csv format)
    assert list(ks.trials.trial_summary(out).columns) == ["arm", "metric", "unit", "p05", "median", "p95"]


def test_trial_report_numbers_and_figures(folder):
    out, ds = folder
    path = render_trial_report(out)
    assert path == out / "report.html"
    html = path.read_text()
    assert "<script" not in html and 'src="http' not in html
    pngs = [base64.b64decode(m) for m in IMG.findall(html)]
    assert len(pngs) == 2 and all(p.startswith(b"\x89PNG") and len(p) > 5000 for p in pngs)
    assert 'id="fig-trial_boxes"' in html and 'id="fig-trial_cmax_histogram"' in html
    # every metric has a row; cells are median [p05–p95] per arm, computed here from the Dataset
    arms = list(ds["arm"].values)
    for m in ("Cmax_ketamine", "peak_DA_NAc_pct", "final_depression_score"):
        x = ds[m].values
        cells = [f"{_fmt(float(np.median(x[i])))} [{_fmt(float(np.quantile(x[i], 0.05)))}–"
                 f"{_fmt(float(np.quantile(x[i], 0.95)))}]" for i in range(len(arms))]
        assert f"<td>{m}</td>" in html
        for c in cells:
            assert f'<td class="num">{c}</td>' in html
    assert "40 (the same subjects in every arm)" in html and "5 of 5 (9 subjects each)" in html
    summ = ks.trials.trial_summary(out, quantiles=TRIAL_QUANTILES)
    cols, rows = trial_table(summ, arms)
    assert cols[:2] == ["metric", "unit"] and len(rows) == summ["metric"].nunique()
    # the same report from a precomputed summary; atomic (no temporary files)
    again = render_trial_report(out, out / "again.html", summary=summ)
    assert again.read_text() == html
    assert not [p for p in out.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


def test_report_needs_a_finished_trial(tmp_path):
    def stop(done, total):
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ks.trials.run(DESIGN, out=tmp_path, on_chunk=stop)
    with pytest.raises(InputError, match=r"incomplete: 4 of 5 chunks missing .* --resume"):
        render_trial_report(tmp_path)


def test_cli_writes_the_report_and_resume_remakes_it(tmp_path):
    out = tmp_path / "t"
    r = runner.invoke(app, ["trial", "--n", "5", "--end", "1 d", "--step", "1 h", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    first = (out / "report.html").read_text()
    assert "ketasim virtual trial — benefit-risk" in first
    (out / "report.html").unlink()
    r = runner.invoke(app, ["trial", "--resume", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert (out / "report.html").read_text() == first
    r = runner.invoke(app, ["trial", "--n", "3", "--end", "1 d", "--out", str(tmp_path / "u"), "--quiet",
                            "--no-report"])
    assert r.exit_code == 0 and not (tmp_path / "u" / "report.html").exists()


def test_cli_refuses_a_huge_loaded_trial(tmp_path):
    """A million subjects without --summaries-only would hold GiBs for trial.nc: a clear error, nothing run."""
    r = runner.invoke(app, ["trial", "--n", "1000000", "--end", "1 d", "--out", str(tmp_path / "x"), "--quiet"])
    assert r.exit_code != 0
    assert "--n 1,000,000 with 4 arms" in r.output and "Add --summaries-only" in r.output
    assert not (tmp_path / "x").exists()


def test_cli_prints_the_summary_table(tmp_path):
    """Without --quiet the trial ends with the per-arm table (median [5-95%] of the exposure metrics)."""
    out = tmp_path / "t"
    r = runner.invoke(app, ["trial", "--n", "4", "--end", "1 d", "--step", "1 h", "--out", str(out)])
    assert r.exit_code == 0, r.output
    summ = ks.trials.trial_summary(out)
    row = summ[(summ.arm == "iv-depression") & (summ.metric == "Cmax_ketamine")].iloc[0]
    assert "benefit-risk: n = 4 per arm, seed 1" in r.output
    assert f"{_fmt(row['median'])}" in r.output and "median [5-95% of subjects]" in r.output


def test_cli_factor_and_resume_keep_the_factors(tmp_path):
    """--factor scales a model parameter for every subject; the manifest records it and --resume reuses it."""
    out = tmp_path / "f"
    args = ["trial", "--n", "3", "--end", "1 d", "--step", "1 h", "--quiet", "--no-report", "--summaries-only"]
    r = runner.invoke(app, [*args, "--out", str(out), "--factor", "Ki_NMDA=2", "--chunk-size", "2"])
    assert r.exit_code == 0, r.output
    man = ks.trials.read_manifest(out)
    assert man["design"]["factors"] == {"Ki_NMDA": 2.0}
    weak = ks.trials.trial_summary(out)
    plain = tmp_path / "p"
    assert runner.invoke(app, [*args, "--out", str(plain)]).exit_code == 0
    base = ks.trials.trial_summary(plain)
    pick = lambda s: s[(s.arm == "iv-depression") & (s.metric == "peak_occupancy_NMDA")]["median"].item()  # noqa: E731
    assert pick(weak) < pick(base)
    (out / "summary.csv").unlink()
    r = runner.invoke(app, ["trial", "--resume", str(out), "--quiet", "--summaries-only"])
    assert r.exit_code == 0, r.output                      # same fingerprint: nothing rerun
    assert "<th>parameter scale factors</th><td>Ki_NMDA × 2</td>" in (out / "report.html").read_text()
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "g"), "--factor", "Ki_NMDA"])
    assert r.exit_code != 0 and "--factor must be NAME=NUMBER" in r.output
