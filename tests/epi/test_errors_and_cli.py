"""Pinned error messages of the population model, and the `ketasim epi` commands end to end."""

import json
import re

import pytest
from typer.testing import CliRunner

import ketasim as ks
from ketasim.cli import app
from ketasim.epi.model import EpiParameters, Intervention, run_model

SC = 'name = "x"\n[[intervention]]\n'

CASES = [
    (lambda: ks.epidemiology.fit("england_wales_16_24", 2016), ks.UnknownNameError,
     "series must be one of 'england_wales_16_24_past_year', 'england_wales_16_59_past_year', "
     "'hong_kong_registered', 'us_nsduh_adult_past_year'; got 'england_wales_16_24'. "
     "Did you mean 'england_wales_16_24_past_year'?"),
    (lambda: ks.epidemiology.fit("england_wales_16_24_past_year", 2003), ks.InputError,
     "until must leave at least 3 observations of 'england_wales_16_24_past_year' to fit (data cover 2007..2023: "
     "2007, 2008, 2010, 2014, 2016, 2017, 2019, 2022, 2023); got 2003. Use a later year."),
    (lambda: ks.epidemiology.fit("england_wales_16_24_past_year", 2030), ks.InputError,
     "until must be at most the last observed year of 'england_wales_16_24_past_year' (2023); got 2030. "
     "Leave until out to fit every year."),
    (lambda: ks.epidemiology.fit("england_wales_16_24_past_year", fitted=("contagoin",)), ks.UnknownNameError,
     re.compile(r"fitted must be one of .*; got 'contagoin'\. Did you mean 'contagion'\?")),
    (lambda: ks.epidemiology.load_scenario(SC + 'target="treatment"\nfactor=2\nstart=2025\n'), ks.InputError,
     "scenario <text>, intervention 1: target must be one of 'initiation', 'contagion', 'escalation', 'quit', "
     "'treatment_entry', 'treatment_capacity', 'treatment_success', 'relapse', 'uropathy'; got 'treatment'. "
     "Did you mean 'treatment_entry'?"),
    (lambda: ks.epidemiology.load_scenario(SC + 'target="relapse"\nfactor=-1\nstart=2025\n'), ks.InputError,
     "scenario <text>, intervention 1: factor of 'relapse' must be a finite number >= 0 (a negative factor would "
     "make rates and compartments negative); got -1.0."),
    (lambda: ks.epidemiology.load_scenario(SC + 'target="relapse"\nstart=2025\n'), ks.InputError,
     "scenario <text>, intervention 1: missing 'factor' (each intervention needs target, factor and start)."),
    (lambda: ks.epidemiology.load_scenario(SC + 'target="relapse"\nfactr=2\nstart=2025\n'), ks.InputError,
     "scenario <text>, intervention 1: unknown key 'factr'; expected one of target, factor, start, end, ramp, "
     "label, source. Did you mean 'factor'?"),
    (lambda: ks.epidemiology.load_scenario('name="x"\n[[intervention]\n'), ks.InputError,
     re.compile(r"scenario <text>: is not valid TOML \(.*line 2.*\)\.")),
    (lambda: ks.epidemiology.load_scenario('name="x"\n'), ks.InputError,
     "scenario <text>: needs at least one [[intervention]] table with target, factor and start."),
    (lambda: ks.epidemiology.load_scenario(SC + 'target="relapse"\nfactor="two"\nstart=2025\n'), ks.InputError,
     "scenario <text>, intervention 1: factor must be a number; got 'two'."),
    (lambda: EpiParameters.defaults().with_rates(relapse=-0.1), ks.InputError,
     "relapse must be >= 0 (a negative rate would make compartments negative); got -0.1."),
    (lambda: run_model(EpiParameters.defaults(), population=1e6, band_years=9, start_year=2000, end_year=2010,
                       initial_prevalence=0.01, interventions=(Intervention("treatment_success", 3.0, 2005),)),
     ks.InputError, "treatment_success x factor gives a success fraction of 1.5 > 1 at year 2005; lower the "
                    "scenario factor (at most 2 for this model)."),
    (lambda: run_model(EpiParameters.defaults(), population=1e6, band_years=9, start_year=2000, end_year=2010,
                       initial_prevalence=0.6), ks.InputError,
     re.compile(r"initial_prevalence 0\.6 implies more users and former users than people .*; lower it\.")),
]


@pytest.mark.parametrize("call, exc, message", CASES)
def test_error_messages_are_pinned(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    text = str(info.value)
    if isinstance(message, re.Pattern):
        assert message.fullmatch(text), text
    else:
        assert text == message


def test_projection_years_out_of_range():
    fit = ks.epidemiology.fit("england_wales_16_24_past_year", 2016, intervals="laplace", n_starts=1, n_draws=5,
                              n_proposals=20)
    with pytest.raises(ks.InputError, match=r"years must lie within 2006\.\.2100 for 'england_wales_16_24_past_year' "
                                            r"\(the model starts in 2006\); got 1990\.\.2030\."):
        ks.epidemiology.project(fit, "1990..2030")
    with pytest.raises(ks.InputError, match=r"the Dataset is not a ketasim epidemiology fit"):
        ks.epidemiology.project(fit.drop_attrs(), "2017..2030")


@pytest.mark.parametrize("args, message", [
    (["epi", "fit", "--series", "england_wales_16_24"], "ketasim: error: series must be one of"),
    (["epi", "fit", "--until", "1999"], "ketasim: error: until must leave at least 3 observations"),
    (["epi", "project", "--from-fit", "missing.nc"], "ketasim: error: --from-fit missing.nc does not exist"),
    (["epi", "compare", "--series", "hong_kong"], "ketasim: error: --series must be one of"),
])
def test_epi_cli_errors_are_one_line(args, message):
    res = CliRunner().invoke(app, args)
    assert res.exit_code != 0
    err = res.stderr if hasattr(res, "stderr") else res.output
    assert err.startswith(message), err
    assert "Traceback" not in res.output and err.count("\n") == 1


def test_epi_cli_fit_project_report(tmp_path):
    runner = CliRunner()
    fit_nc, summ = tmp_path / "ew_fit.nc", tmp_path / "ew_fit.json"
    res = runner.invoke(app, ["epi", "fit", "--series", "england_wales_16_24_past_year", "--until", "2016",
                              "--intervals", "laplace", "--out", str(fit_nc), "--summary", str(summ)])
    assert res.exit_code == 0, res.output
    assert "out of sample" in res.stdout
    s = json.loads(summ.read_text())
    assert s["n_test"] == 4 and "rmse" in s["out_of_sample"] and "contagion" in s["parameters"]
    sc = tmp_path / "sc.toml"
    sc.write_text('name = "tx"\n[[intervention]]\ntarget = "treatment_entry"\nfactor = 2.0\nstart = 2025\n')
    res = runner.invoke(app, ["epi", "project", "--from-fit", str(fit_nc), "--years", "2017..2030",
                              "--scenario", str(sc), "--n-draws", "20", "--out", str(tmp_path / "p.nc")])
    assert res.exit_code == 0, res.output
    assert "Δ dependent summed" in res.stdout and (tmp_path / "p.nc").exists()
    html = tmp_path / "epi.html"
    res = runner.invoke(app, ["epi", "report", str(fit_nc), "--out", str(html), "--scenario", str(sc),
                              "--n-draws", "10"])
    assert res.exit_code == 0, res.output
    text = html.read_text()
    assert text.count("data:image/png;base64,") >= 4 and "Fit quality" in text and "Scenario: tx" in text


@pytest.mark.slow
def test_epi_cli_fit_with_named_event_start_state_and_cross_validation(tmp_path):
    summ = tmp_path / "hk.json"
    res = CliRunner().invoke(app, ["epi", "fit", "--series", "hong_kong_registered", "--intervals", "laplace",
                                   "--event", "hk_youth_drug_measures_2009:treatment_entry", "--cross-validate",
                                   "--summary", str(summ)])
    assert res.exit_code == 0, res.output
    s = json.loads(summ.read_text())
    assert list(s["parameters"]) == ["contagion", "event:hk_youth_drug_measures_2009:treatment_entry"]
    assert s["leave_one_out"]["year"] == [2001, 2004, 2008, 2009, 2012]  # 1999 alone in its segment: skipped
    assert "leave-one-out: RMSE(log)" in res.stdout and "BIC" in res.stdout
    res = CliRunner().invoke(app, ["epi", "fit", "--intervals", "laplace", "--event", "none", "--start-state",
                                   "seeded", "--summary", str(summ)])
    assert res.exit_code == 0, res.output
    s = json.loads(summ.read_text())
    assert list(s["parameters"]) == ["contagion", "initial_prevalence"] and s["start_state"] == "seeded"
