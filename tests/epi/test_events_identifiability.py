"""Policy events, the equilibrium start, the reduced parameter sets, AMIS and leave-one-out CV."""

import json
import math

import numpy as np
import pytest

import ketasim as ks
from ketasim.epi.data import SERIES, Series, SeriesSpec, load_events, load_series
from ketasim.epi.fitting import Problem, event_parameter, leave_one_out, estimate
from ketasim.epi.model import EpiParameters, Intervention, _linear_matrix, equilibrium_state, run_model

FAST = dict(intervals="laplace", n_starts=2, n_draws=40, n_proposals=200)


def test_equilibrium_start_is_a_fixed_point_and_matches_the_closed_form_without_contagion():
    # without contagion the equilibrium is linear: N* = Lambda / (tau + alpha + mu), users = -M^-1 e_O tau N*
    p = EpiParameters.defaults().with_rates(background_initiation=0.01, contagion=0.0)
    alpha, pop = 1 / 9, 1e6
    x = equilibrium_state(p.as_dict(), alpha, pop)
    n_star = (alpha + p.mortality_background) * pop / (0.01 + alpha + p.mortality_background)
    users = np.linalg.solve(_linear_matrix(p.as_dict(), alpha), -np.eye(6)[0] * 0.01 * n_star)
    assert x[0] == pytest.approx(n_star, rel=1e-12)
    assert np.allclose(x[1:], users, rtol=1e-10)
    # with contagion the solved state does not move when the model is run from it
    q = EpiParameters.defaults().with_rates(background_initiation=1e-6, contagion=0.6, deterrence=2.0)
    tr = run_model(q, population=pop, band_years=9.0, start_year=2000, end_year=2040, initial_prevalence=0.0,
                   equilibrium_start=True)
    assert np.allclose(tr.states, tr.states[0], rtol=1e-6)
    assert tr.prevalence_percent[0] > 1  # the endemic (not the drug-free) equilibrium
    # below the epidemic threshold only the innovators' trickle remains
    low = run_model(q.with_rates(contagion=0.2), population=pop, band_years=9.0, start_year=2000, end_year=2001,
                    initial_prevalence=0.0, equilibrium_start=True)
    assert low.prevalence_percent[0] < 1e-3


def test_equilibrium_start_rejects_a_finite_treatment_capacity():
    p = EpiParameters.defaults().with_rates(treatment_capacity=100.0)
    with pytest.raises(ks.InputError, match="an equilibrium start needs unlimited treatment_capacity"):
        run_model(p, population=1e6, band_years=9, start_year=2000, end_year=2001, initial_prevalence=0.0,
                  equilibrium_start=True)


def test_every_event_has_a_date_inside_its_series_and_a_citation():
    for name, ev in load_events().items():
        assert ev["source"] and len(ev["source"]) > 40, name
        assert ev["tag"] in ("V", "S", "U"), name
        assert 0 < ev["factor_low"] < 1 < ev["factor_high"], name
        for series in ev["series"]:
            assert series in SERIES, (name, series)
            s = load_series(series)
            assert SERIES[series].start_year < ev["start"] <= s.years.max(), (name, series)
        assert event_parameter(name) == f"event:{name}:{ev['target']}"
    # the dates are the documented ones: 10 June 2014 and November 2008
    assert load_events()["uk_ketamine_class_b_2014"]["start"] == pytest.approx(2014 + 160 / 365.25, abs=0.01)
    assert load_events()["hk_youth_drug_measures_2009"]["start"] == pytest.approx(2008 + 317 / 365.25, abs=0.01)


def _synthetic(p, years, sigma, seed, interventions=(), equilibrium=False):
    spec = SeriesSpec("synthetic", "nowhere", "16-24", "past_year_use_percent", "prevalence_percent",
                      1.0e6, 9.0, 2000, "simulated by the model itself")
    tr = run_model(p, population=1e6, band_years=9.0, start_year=2000, end_year=int(years.max()),
                   initial_prevalence=0.01, interventions=interventions, equilibrium_start=equilibrium)
    rng = np.random.default_rng(seed)
    y = tr.prevalence_percent[years - 2000] * np.exp(sigma * rng.standard_normal(years.size))
    return Series(spec, years, y, np.ones(years.size), np.zeros(years.size, dtype=int),
                  ("V",) * years.size, ("simulation",) * years.size)


def test_fit_recovers_a_known_policy_effect_at_the_documented_date():
    """simulate -> fit -> compare: initiation x 0.5 from 10 June 2014, equilibrium start, contagion 0.5."""
    ev = load_events()["uk_ketamine_class_b_2014"]
    truth_s, truth_f = 0.5, 0.5
    p = EpiParameters.defaults().with_rates(contagion=truth_s)
    years = np.arange(2001, 2024)
    data = _synthetic(p, years, 0.03, 4, (Intervention("initiation", truth_f, ev["start"]),), equilibrium=True)
    ds = ks.epidemiology.fit(data=data, fitted=("contagion",), start_state="equilibrium",
                             events=("uk_ketamine_class_b_2014",), **FAST)
    name = "event:uk_ketamine_class_b_2014:initiation"
    for pname, truth in (("contagion", truth_s), (name, truth_f)):
        est, lo, hi = (float(ds[v].sel(parameter=pname)) for v in ("estimate", "lower", "upper"))
        assert lo <= truth <= hi, (pname, truth, lo, hi)
        assert abs(math.log(est / truth)) < 0.15, (pname, est)
    assert not ds.at_bound.any()
    assert json.loads(ds.attrs["events"])[name].startswith("Fitted: initiation rates x this factor from 2014.44")


def test_reduced_default_sets_are_identified_on_the_real_series():
    """The default fitted sets: every interval inside its bounds on all years of both regions."""
    for series, expect in (("england_wales_16_24_past_year", ["contagion", "event:uk_ketamine_class_b_2014:initiation"]),
                           ("hong_kong_registered", ["contagion", "event:hk_youth_drug_measures_2009:quit"])):
        ds = ks.epidemiology.fit(series, **FAST)
        assert ds.parameter.values.tolist() == expect
        assert not bool(ds.at_bound.any()), series
        assert ds.attrs["identifiable"] == 1
        assert ds.attrs["posterior_ess"] > 40  # AMIS; the old SIR gave 10-60 with 600 proposals
        tm = json.loads(ds.attrs["train_metrics"])
        assert tm["rmse_log"] < (0.36 if series.startswith("england") else 0.15), (series, tm)
        n, k = ds.attrs["n_train"], ds.attrs["n_estimated"]
        assert ds.attrs["aicc"] == (ds.attrs["aic"] + 2 * k * (k + 1) / (n - k - 1) if n > k + 1 else math.inf)
        assert ds.attrs["bic"] == pytest.approx(ds.attrs["aic"] + ds.attrs["n_estimated"] * (math.log(ds.attrs["n_train"]) - 2))


def test_hong_kong_policy_event_is_justified_by_information_criteria():
    with_ev = ks.epidemiology.fit("hong_kong_registered", **FAST)
    without = ks.epidemiology.fit("hong_kong_registered", events=(), **FAST)
    assert with_ev.attrs["aic"] < without.attrs["aic"] - 2 and with_ev.attrs["bic"] < without.attrs["bic"] - 2
    # quitting about triples after the 2008/09 measures; the 2009 -> 2012 fall is reproduced
    f = float(with_ev.estimate.sel(parameter="event:hk_youth_drug_measures_2009:quit"))
    assert 2.0 < f < 4.0
    fitted_2012 = float(with_ev.fitted.sel(year=2012))
    assert abs(fitted_2012 / 3192 - 1) < 0.1
    # the 1999 count sits in its own ascertainment segment (ketamine a dangerous drug from 15 Dec 2000)
    s = load_series("hong_kong_registered")
    assert s.segment[s.years == 1999].tolist() == [0] and set(s.segment[s.years > 2000]) == {1}


def test_event_errors_name_the_problem():
    with pytest.raises(ks.InputError, match=r"event must be one of 'uk_ketamine_class_b_2014', 'hk_youth_drug_measures_2009'; got "
                                            r"'uk_ketamine_class_a'\. Did you mean 'uk_ketamine_class_b_2014'\?"):
        ks.epidemiology.fit("england_wales_16_24_past_year", events=("uk_ketamine_class_a",), **FAST)
    with pytest.raises(ks.InputError, match=r"event 'uk_ketamine_class_b_2014' starts at 2014\.44, outside the "
                                            r"fitted data of 'england_wales_16_24_past_year' \(2006\.\.2010\)"):
        ks.epidemiology.fit("england_wales_16_24_past_year", until=2010, events=("uk_ketamine_class_b_2014",), **FAST)
    with pytest.raises(ks.InputError, match="target of event 'uk_ketamine_class_b_2014' must be one of .*got 'bogus'"):
        ks.epidemiology.fit("england_wales_16_24_past_year", events=("uk_ketamine_class_b_2014:bogus",), **FAST)
    with pytest.raises(ks.InputError, match="fitted includes 'initial_prevalence' but start_state='equilibrium'"):
        ks.epidemiology.fit("england_wales_16_24_past_year", fitted=("contagion", "initial_prevalence"), **FAST)
    # the default events are dropped silently when the fitted years end before them
    ds = ks.epidemiology.fit("england_wales_16_24_past_year", until=2010, **FAST)
    assert ds.parameter.values.tolist() == ["contagion"]


def test_leave_one_out_predicts_noise_free_model_data_exactly():
    p = EpiParameters.defaults().with_rates(contagion=0.8, background_initiation=0.002)
    data = _synthetic(p, np.arange(2001, 2013, 2), 0.0, 0)
    prob = Problem(data, ("contagion", "initial_prevalence"), EpiParameters.defaults().with_rates(
        background_initiation=0.002), None, initial_prevalence=0.005)
    z, _ = estimate(prob, n_starts=1)
    out = leave_one_out(prob, z, n_starts=1)
    assert out["year"] == data.years.tolist()
    assert out["rmse_log"] < 1e-3
    assert prob.train.all()  # the training mask is restored


@pytest.mark.slow
def test_dependence_rate_from_the_harms_layer_is_wired_into_the_fit():
    """regular_to_dependent = -ln(1 - p_dependence)/3 y of the recreational pattern (harms layer, calibrated
    to 8.55% after 3 y, GDS 2018 [V]); the same probability read through the calibration module."""
    from ketasim import calibrate_outcomes_harms as cal
    from ketasim.epi.linking import rate_from_harms

    r = rate_from_harms("regular_to_dependent", "recreational_weekend", 3.0)
    p = cal.dependence_recreational() / 100
    assert r["probability"] == pytest.approx(p, rel=1e-12)
    assert r["value"] == pytest.approx(-math.log1p(-p) / 3.0, rel=1e-12)
    assert r["probability"] == pytest.approx(0.0855, abs=0.002)  # the layer's calibration target
    ds = ks.epidemiology.fit("england_wales_16_24_past_year", dependence_from_harms="recreational_weekend",
                             uropathy_from_harms="recreational_weekend", **FAST)
    linked = json.loads(ds.attrs["linked_rates"])
    assert linked["regular_to_dependent"]["value"] == pytest.approx(r["value"], rel=1e-12)
    base = json.loads(ds.attrs["epi_fit_json"])["base"]
    assert base["regular_to_dependent"] == pytest.approx(r["value"], rel=1e-12)
    assert base["uropathy_regular"] == pytest.approx(linked["uropathy_regular"]["value"], rel=1e-12)
    # a slower escalation lowers the model's dependence share against the default rates
    default = ks.epidemiology.fit("england_wales_16_24_past_year", **FAST)
    assert float(ds.dependence_share[-1]) < float(default.dependence_share[-1])
    with pytest.raises(ks.InputError, match="pattern must be one of"):
        ks.epidemiology.fit("england_wales_16_24_past_year", dependence_from_harms="binge", **FAST)
    with pytest.raises(ks.InputError, match="regular_to_dependent is both fitted and taken from the harms layer"):
        ks.epidemiology.fit("england_wales_16_24_past_year", fitted=("contagion", "regular_to_dependent"),
                            dependence_from_harms="recreational_weekend", **FAST)
