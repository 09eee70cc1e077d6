"""Issue 8 acceptance: `ketasim epi project` shows expected new cases of dependence and uropathy per year,
with the harms-layer provenance of the linked rates, and the epi example scenarios ship with the package."""

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ketasim as ks
from ketasim.cli import app
from ketasim.epi.linking import rate_from_harms
from ketasim.epi.scenario import EXAMPLES_DIR
from ketasim.output import read_netcdf, write_netcdf

ROOT = Path(__file__).resolve().parents[2]
FAST = dict(intervals="laplace", n_starts=1, n_draws=20, n_proposals=100)


def test_epi_examples_ship_identical_to_repository_copies():
    repo = sorted(p.name for p in (ROOT / "examples").glob("epi-*.toml"))
    assert repo == sorted(p.name for p in EXAMPLES_DIR.glob("*.toml")) and len(repo) == 3
    for name in repo:
        assert (EXAMPLES_DIR / name).read_bytes() == (ROOT / "examples" / name).read_bytes(), name


def test_missing_scenario_file_names_the_shipped_copy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        ks.epidemiology.load_scenario("examples/epi-treatment-expansion.toml")
    assert str(info.value) == ("scenario file examples/epi-treatment-expansion.toml does not exist; give a .toml "
                               "file (the example 'epi-treatment-expansion.toml' ships with ketasim at "
                               f"{EXAMPLES_DIR / 'epi-treatment-expansion.toml'}).")
    with pytest.raises(FileNotFoundError, match=r"the shipped examples are in .*: epi-interventions\.toml, "
                                                r"epi-reclassification\.toml, epi-treatment-expansion\.toml\)\.$"):
        ks.epidemiology.load_scenario("nothere.toml")
    # the shipped copy itself loads and is the treatment-expansion scenario
    sc = ks.epidemiology.load_scenario(EXAMPLES_DIR / "epi-treatment-expansion.toml")
    assert sc.name == "treatment-expansion" and sc.interventions[0].factor == 2.0


def test_project_prints_expected_cases_per_year_from_the_linked_harms_rates(tmp_path):
    fit = ks.epidemiology.fit("england_wales_16_24_past_year", 2016, dependence_from_harms="recreational_weekend",
                              uropathy_from_harms="recreational_weekend", **FAST)
    fit_nc, proj_nc = tmp_path / "fit.nc", tmp_path / "p.nc"
    write_netcdf(fit, fit_nc)
    res = CliRunner().invoke(app, ["epi", "project", "--from-fit", str(fit_nc), "--years", "2017..2020",
                                   "--scenario", str(EXAMPLES_DIR / "epi-interventions.toml"), "--out", str(proj_nc)])
    assert res.exit_code == 0, res.output
    ds = read_netcdf(proj_nc)
    # the linked rates travel with the projection and are the harms layer's (p -> -ln(1-p)/3 y)
    linked = json.loads(ds.attrs["linked_rates"])
    for rate in ("regular_to_dependent", "uropathy_regular"):
        assert linked[rate]["value"] == pytest.approx(rate_from_harms(rate, "recreational_weekend", 3.0)["value"],
                                                      rel=1e-12)
        assert f"{rate} from the harms layer: {linked[rate]['value']:.4g} /yr" in res.stdout
    assert "expected new cases per year, median [band]: dependence | uropathy" in res.stdout
    for y in (2017, 2020):
        line = next(ln for ln in res.stdout.splitlines() if ln.startswith(f"  {y}") and "|" in ln)
        nums = [float(x) for x in re.findall(r"[-\d.e+]+(?=[\],| ])", line.split("baseline:")[1].split("combined")[0])]
        d = ds.new_dependence.sel(arm="baseline", year=y).values
        u = ds.new_uropathy.sel(arm="baseline", year=y).values
        expect = [d[1], d[0], d[2], u[1], u[0], u[2]]
        assert nums == pytest.approx(expect, rel=1e-3), (line, expect)
        assert 0 < d[0] <= d[1] <= d[2] and 0 < u[0] <= u[1] <= u[2]
    # without linking the command says where the rates come from and how to link them
    plain = ks.epidemiology.fit("england_wales_16_24_past_year", 2016, **FAST)
    write_netcdf(plain, fit_nc)
    res = CliRunner().invoke(app, ["epi", "project", "--from-fit", str(fit_nc), "--years", "2017..2018"])
    assert res.exit_code == 0, res.output
    assert "rates: data/epi/parameters.yaml (fit with --dependence-from-harms" in res.stdout
