"""The population model: conservation, non-negativity, closed-form steady states, rate hooks."""

import math

import numpy as np
import pytest

from ketasim.epi.model import (
    STATES, EpiParameters, Intervention, hazard_from_probability, run_model, steady_user_composition,
)

P0 = 1.0e6


def _run(p, **kw):
    args = dict(population=P0, band_years=9.0, start_year=2000, end_year=2060, initial_prevalence=0.01)
    args.update(kw)
    return run_model(p, **args)


@pytest.mark.parametrize("interventions", [
    (),
    (Intervention("treatment_entry", 3.0, 2010), Intervention("initiation", 0.5, 2015, ramp=3)),
    (Intervention("relapse", 0.0, 2005, end=2030),),
])
@pytest.mark.parametrize("capacity", [math.inf, 200.0])
def test_population_is_conserved_with_births_and_deaths_accounted(interventions, capacity):
    """P(t) - P(t0) = entries - exits - deaths at every solver output, to solver tolerance."""
    p = EpiParameters.defaults().with_rates(contagion=0.9, background_initiation=0.002,
                                            treatment_capacity=capacity, smr_dependent=7.6)
    tr = _run(p, interventions=interventions, rtol=1e-10)
    assert tr.balance_error < 1e-6 * P0
    # and the balance is not trivially zero: people do enter, leave and die
    assert tr.flow("entries").sum() > 0.5 * P0 and tr.flow("deaths").sum() > 0
    assert tr.flow("excess_deaths").sum() > 0
    # with the ageing-in rate set to (alpha + mu) P_ref the band stays near its reference size
    assert np.allclose(tr.total, P0, rtol=5e-3)


@pytest.mark.parametrize("seed", range(6))
def test_compartments_stay_non_negative_for_random_rates(seed):
    rng = np.random.default_rng(seed)
    base = EpiParameters.defaults()
    from ketasim.epi.data import load_parameter_table

    tab = load_parameter_table()
    rates = {}
    for name in ("contagion", "occasional_to_regular", "regular_to_dependent", "quit_occasional", "quit_regular",
                 "quit_dependent", "treatment_entry", "treatment_exit", "relapse", "restart_former"):
        lo, hi = float(tab[name]["low"]), float(tab[name]["high"])
        rates[name] = rng.uniform(lo, hi)
    rates["background_initiation"] = 10 ** rng.uniform(-6, -1.5)
    rates["deterrence"] = rng.uniform(0, 20)
    p = base.with_rates(**rates)
    tr = _run(p, initial_prevalence=rng.uniform(0, 0.05),
              interventions=(Intervention("treatment_entry", 10.0, 2020), Intervention("initiation", 0.0, 2030)))
    assert (tr.states > -1e-6 * P0).all()
    assert (tr.flows > -1e-6 * P0).all()


def _linear_steady_state(p: EpiParameters, band: float) -> np.ndarray:
    """Closed form of the model without contagion: N* = Lambda/(tau+alpha+mu), users = -M^-1 e_O tau N*."""
    from ketasim.epi.model import _linear_matrix, _rates_at

    alpha = 1 / band
    r = _rates_at(p, (), 0.0)
    lam = (alpha + p.mortality_background) * P0
    n_star = lam / (p.background_initiation + alpha + p.mortality_background)
    users = np.linalg.solve(_linear_matrix(r, alpha), -np.eye(6)[0] * p.background_initiation * n_star)
    return np.concatenate([[n_star], users])


@pytest.mark.parametrize("smr", [1.0, 4.9])
def test_steady_state_without_contagion_matches_the_closed_form(smr):
    p = EpiParameters.defaults().with_rates(contagion=0.0, background_initiation=0.01, smr_dependent=smr)
    tr = _run(p, end_year=2400, initial_prevalence=0.02, rtol=1e-10)
    expect = _linear_steady_state(p, 9.0)
    assert np.allclose(tr.states[-1], expect, rtol=1e-4, atol=1e-2)


def test_endemic_equilibrium_of_pure_contagion_matches_the_closed_form():
    """Only N -> O (contagion s) and O -> F (quit g): N*/P = k_O / s and O* = (alpha+mu)(P - N*) / k_O."""
    p = EpiParameters.defaults().with_rates(
        background_initiation=0.0, contagion=1.5, occasional_to_regular=0.0, restart_former=0.0, quit_occasional=0.4)
    tr = _run(p, end_year=2600, initial_prevalence=0.01, rtol=1e-10)
    alpha, mu = 1 / 9.0, p.mortality_background
    k_o = 0.4 + alpha + mu
    n_star = P0 * k_o / 1.5
    o_star = (alpha + mu) * (P0 - n_star) / k_o
    assert tr.state("never")[-1] == pytest.approx(n_star, rel=1e-4)
    assert tr.state("occasional")[-1] == pytest.approx(o_star, rel=1e-4)
    assert tr.state("dependent")[-1] == pytest.approx(0.0, abs=1e-3)


def test_below_threshold_contagion_dies_out():
    p = EpiParameters.defaults().with_rates(background_initiation=0.0, contagion=0.3, occasional_to_regular=0.0,
                                            restart_former=0.0, quit_occasional=0.4)
    tr = _run(p, end_year=2200)
    assert tr.past_year_users[-1] < 1e-3 * tr.past_year_users[0]


def test_no_initiation_and_no_users_stays_drug_free():
    p = EpiParameters.defaults().with_rates(background_initiation=0.0)
    tr = _run(p, initial_prevalence=0.0)
    assert np.allclose(tr.states[:, 1:], 0.0)
    assert np.allclose(tr.state("never"), P0, rtol=1e-6)


def test_default_rates_reproduce_the_dependence_proxies():
    """11.2% dependent among past-year users (8.55-17%) and ~3.25 y first use -> dependence (~3 y)."""
    p = EpiParameters.defaults()
    comp = steady_user_composition(p, 9.0)  # O R D T A F
    share = (comp[2] + comp[3]) / comp[:4].sum()
    assert 0.0855 <= share <= 0.17
    k_o = p.occasional_to_regular + p.quit_occasional + 1 / 9 + p.mortality_background
    k_r = p.regular_to_dependent + p.quit_regular + 1 / 9 + p.mortality_background
    assert 2.5 <= 1 / k_o + 1 / k_r <= 3.6


def test_hazard_from_probability_links_individual_outcomes():
    assert hazard_from_probability(0.0, 1.0) == 0.0
    h = hazard_from_probability(0.23, 3.0)
    assert 1 - math.exp(-3 * h) == pytest.approx(0.23)
    p = EpiParameters.defaults().with_rates(regular_to_dependent=h, uropathy_dependent=0.3)
    assert p.regular_to_dependent == h and p.uropathy_dependent == 0.3


def test_states_are_named():
    assert STATES == ("never", "occasional", "regular", "dependent", "treatment", "abstinent", "former")
