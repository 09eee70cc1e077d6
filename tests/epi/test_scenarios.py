"""Projections and interventions: effects in the expected direction, paired differences, contract."""

from pathlib import Path

import numpy as np
import pytest

import ketasim as ks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fit():
    return ks.epidemiology.fit("england_wales_16_24_past_year", until=2016, intervals="laplace", n_starts=1,
                               n_draws=20, n_proposals=80)


def _sc(target, factor, start=2020, **kw):
    return {"name": f"{target}x{factor}", "intervention": [{"target": target, "factor": factor, "start": start, **kw}]}


def test_projection_contract(fit):
    p = ks.epidemiology.project(fit, "2017..2030")
    assert p.sizes == {"arm": 1, "quantile": 3, "year": 14, "state": 7}
    q = p["count"]
    assert (q.isel(quantile=0) <= q.isel(quantile=1) + 1e-9).all() and (q.isel(quantile=1) <= q.isel(quantile=2) + 1e-9).all()
    assert p.prevalence_percent.attrs["units"] == "percent"
    assert not np.isnan(p.observed.sel(year=2017))


def test_treatment_expansion_lowers_dependence(fit):
    p = ks.epidemiology.project(fit, "2017..2035", scenario=ROOT / "examples" / "epi-treatment-expansion.toml")
    d = p.difference_dependent.sel(year=slice(2026, None))
    assert (d.sel(quantile=0.5) < 0).all() and (d.isel(quantile=2) <= 0).all()
    assert (p.difference_treatment_entries.sel(year=2026).sel(quantile=0.5) > 0)
    assert (p.difference_excess_deaths.sel(year=slice(2026, None), quantile=0.5) < 0).all()
    # no effect before the start year
    assert np.allclose(p.difference_dependent.sel(year=slice(2017, 2024)), 0.0, atol=1e-2)  # solver tolerance


def test_prevention_lowers_use_and_harm_reduction_lowers_uropathy_only(fit):
    prev = ks.epidemiology.project(fit, "2017..2030", scenario=_sc("initiation", 0.5))
    assert (prev.difference_past_year_users.sel(year=slice(2021, None), quantile=0.5) < 0).all()
    assert (prev.difference_new_uropathy.sel(year=slice(2022, None)).isel(quantile=2) <= 0).all()
    hr = ks.epidemiology.project(fit, "2017..2030", scenario=_sc("uropathy", 0.5))
    assert (hr.difference_new_uropathy.sel(year=slice(2021, None), quantile=0.5) < 0).all()
    assert np.allclose(hr.difference_past_year_users, 0.0, atol=1e-1)  # solver tolerance (of ~1e5 users)  # harm reduction does not change use


def test_ketamine_assisted_therapy_effect_on_relapse_lowers_dependence(fit):
    p = ks.epidemiology.project(fit, "2017..2030", scenario=ROOT / "examples" / "epi-interventions.toml")
    assert (p.difference_dependent.sel(year=slice(2027, None), quantile=0.5) < 0).all()
    assert "OTHER ADDICTION" in p.attrs["interventions"]


def test_capacity_limit_caps_treatment_entries(fit):
    p = ks.epidemiology.project(fit, "2017..2030", scenario=_sc("treatment_entry", 5.0, start=2025))
    cap = ks.epidemiology.project(fit, "2017..2030", scenario={"intervention": [
        {"target": "treatment_entry", "factor": 5.0, "start": 2025},
        {"target": "treatment_capacity", "factor": 1.0, "start": 2025}]})
    assert np.allclose(p.treatment_entries, cap.treatment_entries)  # infinite capacity x 1 = no limit


def test_vary_fixed_widens_the_band(fit):
    a = ks.epidemiology.project(fit, "2025..2030", scenario=_sc("treatment_entry", 2.0, start=2025))
    b = ks.epidemiology.project(fit, "2025..2030", scenario=_sc("treatment_entry", 2.0, start=2025),
                                vary_fixed=("treatment_entry", "treatment_success"))
    wa = float((a.difference_dependent.isel(quantile=2) - a.difference_dependent.isel(quantile=0)).sel(year=2030))
    wb = float((b.difference_dependent.isel(quantile=2) - b.difference_dependent.isel(quantile=0)).sel(year=2030))
    assert wb > wa


def test_example_scenarios_parse():
    for f in sorted((ROOT / "examples").glob("epi-*.toml")):
        sc = ks.epidemiology.load_scenario(f)
        assert sc.interventions and sc.description
