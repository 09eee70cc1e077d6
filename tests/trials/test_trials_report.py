"""HTML reports of sweeps and sensitivity analyses: self-contained files whose tables and figures carry the numbers."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import ketasim as ks
from ketasim.cli import app
from ketasim.errors import InputError
from ketasim.output import write_netcdf
from ketasim.report.html import _fmt
from ketasim.report.trials_html import (render_sensitivity_report, render_sweep_report, sensitivity_figures,
                                        sweep_table)
from ketasim.trials.sweep import sweep

runner = CliRunner()
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _self_contained(html: str) -> list[bytes]:
    assert "<script" not in html and 'src="http' not in html and "href=\"http" not in html
    pngs = [base64.b64decode(m) for m in IMG.findall(html)]
    assert pngs and all(p.startswith(b"\x89PNG") and len(p) > 2000 for p in pngs)
    return pngs


@pytest.fixture(scope="module")
def sweep_ds():
    return sweep(None, ["arms.iv.dose=0.25..1.0 mg/kg:3"], n=5, end="2 d", step="1 h")


def test_sweep_report_has_figures_and_numbers(sweep_ds, tmp_path):
    path = render_sweep_report(sweep_ds, tmp_path / "report.html", metric="Cmax_ketamine")
    html = path.read_text()
    pngs = _self_contained(html)
    assert 'id="fig-sweep_Cmax_ketamine"' in html and len(pngs) >= 2   # the metric + headline metrics it has
    df = sweep_table(sweep_ds, "Cmax_ketamine")
    q = sweep_ds["Cmax_ketamine"].sel(arm="iv-depression").quantile(0.5, dim="subject").values
    np.testing.assert_allclose(df["median"].to_numpy(), q)
    assert df["median"].is_monotonic_increasing
    for v in df["median"]:
        assert f'<td class="num">{_fmt(float(v))}</td>' in html
    assert "<td>0.25, 0.625, 1</td>" in html            # the swept values
    for dose in ("0.25", "0.625", "1"):
        assert f'<td class="num">{dose}</td>' in html
    # the same bytes from the saved sweep.nc, and no temporary files left behind
    write_netcdf(sweep_ds, tmp_path / "sweep.nc")
    again = render_sweep_report(tmp_path, tmp_path / "again.html", metric="Cmax_ketamine")
    assert again.read_text() == html
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.html", "report.html", "sweep.nc"]
    with pytest.raises(InputError, match="not a metric of this sweep"):
        render_sweep_report(sweep_ds, tmp_path / "x.html", metric="nope")


def test_sobol_report_has_bars_and_indices(tmp_path):
    ds = ks.trials.sensitivity(parameters=["CL", "V1", "Ki_NMDA"], output="peak_occupancy_NMDA", n=32,
                               arm="iv-depression", seed=2)
    html = render_sensitivity_report(ds, tmp_path / "report.html").read_text()
    pngs = _self_contained(html)
    assert len(pngs) == 2 and 'id="fig-sensitivity_indices"' in html and "bootstrap" in html
    for k in ("S1", "ST", "S1_conf", "ST_conf"):
        for v in ds[k].values:
            assert f'<td class="num">{v:.3f}</td>' in html
    assert "<td class=\"num\">receptors</td>" in html and "862" in html        # layer and typical value of Ki_NMDA
    assert "peak_occupancy_NMDA" in html and "kamp_2020_racemic_meta" in html


def test_morris_report_has_the_plane(tmp_path):
    ds = ks.trials.sensitivity(parameters=["CL", "V1"], output="peak_C_plasma_ketamine", n=8, method="morris",
                               arm="iv-depression")
    figs = sensitivity_figures(ds)
    assert [f.name for f in figs] == ["sensitivity_indices", "morris_plane", "sensitivity_output"]
    html = render_sensitivity_report(ds, tmp_path / "r.html").read_text()
    _self_contained(html)
    for v in ds["mu_star"].values:
        assert f'<td class="num">{_fmt(float(v))}</td>' in html


def test_cli_sweep_and_sensitivity_write_reports(tmp_path):
    out = tmp_path / "sw"
    r = runner.invoke(app, ["sweep", "--vary", "arms.iv.dose=0.5,1.0 mg/kg", "--n", "3", "--out", str(out),
                            "--quiet", "--metric", "peak_DA_NAc_pct"])
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    _self_contained(html)
    summ = pd.read_csv(out / "sweep_summary.csv")
    for v in summ["median"]:
        assert f'<td class="num">{_fmt(float(v))}</td>' in html
    out = tmp_path / "se"
    r = runner.invoke(app, ["sensitivity", "--parameters", "Ki_NMDA,gain,Vmax_PFC", "--output", "peak_DA_NAc",
                            "--n", "8", "--arm", "iv", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    _self_contained(html)
    idx = pd.read_csv(out / "indices.csv")
    assert list(idx["parameter"]) == ["Ki_NMDA", "gain", "Vmax_PFC"]
    assert idx.loc[2, "ST"] == pytest.approx(0.0, abs=1e-9)    # PFC uptake cannot move NAc dopamine
    for v in idx["ST"]:
        assert f'<td class="num">{v:.3f}</td>' in html


def test_cli_sweep_over_an_outcome(tmp_path):
    r = runner.invoke(app, ["sweep", "--vary", "arms.iv.dose=0.5,1.0 mg/kg", "--n", "2", "--end", "7 d", "--step",
                            "2 h", "--outputs", "C_plasma_ketamine,tolerance", "--metric", "final_tolerance",
                            "--out", str(tmp_path), "--quiet"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(tmp_path / "sweep_summary.csv")
    assert df["median"].is_monotonic_increasing and 0 < df["median"].iloc[0] < 1   # more drug, more tolerance
    assert 'id="fig-sweep_final_tolerance"' in (tmp_path / "report.html").read_text()
