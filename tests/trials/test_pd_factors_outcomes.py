"""Receptor, circuit and dopamine scale factors carried by the subjects (ketasim.pd_parameters.with_pd_factors)
reach every run of the chain, including the ones under the outcome layers, and the NMDA-blockade integral that
drives the slow outcome states."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.errors import InputError
from ketasim.layers import antidepressant, harms, tolerance
from ketasim.layers.exposure import BLOCKADE_INPUTS, blockade_integral
from ketasim.pd_chain import run_pd
from ketasim.pd_parameters import pd_factors_of, with_pd_factors

REG = "0.5 mg/kg iv over 40 min"


@pytest.fixture(scope="module")
def pop():
    return ks.sample_population(4, np.random.default_rng(3))


def test_factors_travel_with_subjects_and_validate(pop):
    f = with_pd_factors(pop, {"Ki_NMDA": [0.5, 1.0, 2.0, 1.3], "gain": 1.4})
    got = pd_factors_of(f.take(np.array([3, 0])))
    assert got["Ki_NMDA"].tolist() == [1.3, 0.5] and got["gain"].tolist() == [1.4, 1.4]
    assert pd_factors_of(pop) is None
    with pytest.raises(InputError, match=r"factors\['Ki_NMDA'\] must be a number or one value per subject \(4\)"):
        with_pd_factors(pop, {"Ki_NMDA": [1.0, 2.0]})
    with pytest.raises(InputError, match=r"'Ki_nmda' is not a parameter .* Did you mean 'Ki_NMDA'"):
        with_pd_factors(pop, {"Ki_nmda": 2.0})
    with pytest.raises(InputError, match=r"factors\['gain'\] must be finite scale factors > 0; got -1"):
        with_pd_factors(pop, {"gain": -1.0})


def test_simulate_applies_the_factors_as_run_pd_does(pop):
    """Independent path: PK from simulate, then run_pd(factors=) by hand; equal to the last bit."""
    t = np.arange(0.0, 6.01, 0.25)
    f = {"Ki_NMDA": np.array([0.5, 1.0, 2.0, 1.3]), "gain": 1.4, "Vmax_NAc": np.array([1.0, 0.7, 1.2, 1.0])}
    got = ks.simulate(REG, with_pd_factors(pop, f), t, outputs=["occupancy_NMDA", "DA_NAc_pct"])
    pk = ks.simulate(REG, pop, t, outputs=["C_effect_S_ketamine", "C_effect_R_ketamine", "C_plasma_norketamine"])
    ref = run_pd({k: pk[k].values for k in pk.data_vars}, ["occupancy_NMDA", "DA_NAc_pct"], factors=f)
    for k in ("occupancy_NMDA", "DA_NAc_pct"):
        np.testing.assert_array_equal(got[k].values, ref[k])
    assert got.attrs["pd_factors"] == "Ki_NMDA, Vmax_NAc, gain"


def test_blockade_integral_scales_exactly_with_ki(pop):
    """X = sum u_i AUC_i / K_i: all NMDA constants x f divides X by f; fu (logit) multiplies the ketamine terms by
    the odds-scaled fraction over the default one."""
    t = np.arange(0.0, 24.01, 0.5)
    ds = ks.simulate(REG, pop, t, outputs=list(BLOCKADE_INPUTS))
    inp = {k: ds[k].values for k in BLOCKADE_INPUTS}
    X0 = blockade_integral(inp)
    k = np.array([0.5, 1.0, 2.0, 4.0])
    X = blockade_integral(inp, with_pd_factors(pop, {"Ki_NMDA": k}))
    np.testing.assert_allclose(X, X0 / k[:, None], rtol=1e-13)
    # Ki of S-ketamine alone: only the S term changes
    XS = blockade_integral(inp, with_pd_factors(pop, {"Ki_NMDA_S": 2.0}))
    XS_ref = blockade_integral({**inp, "AUC_effect_S_ketamine": inp["AUC_effect_S_ketamine"] / 2.0})
    np.testing.assert_allclose(XS, XS_ref, rtol=1e-13)


def test_slow_layers_see_the_scaled_blockade(pop):
    """A layer given subjects with Ki_NMDA x f equals the same layer given the areas divided by f (X linear)."""
    t = np.arange(0.0, 14 * 24.0 + 0.01, 1.0)
    reg = "0.5 mg/kg iv over 40 min twice weekly for 2 weeks"
    inp = {k: v.values for k, v in ks.simulate(reg, pop, t, outputs=[*BLOCKADE_INPUTS, "A_eliminated"]).items()}
    f = np.array([0.5, 1.0, 2.0, 3.0])
    fp = with_pd_factors(pop, {"Ki_NMDA": f})
    scaled = {k: (v / f[:, None] if k in BLOCKADE_INPUTS else v) for k, v in inp.items()}
    for layer, names in ((tolerance, ["tolerance"]), (antidepressant, ["depression_score", "plasticity"]),
                         (harms, ["p_dependence", "cognitive_burden"])):
        a = layer.run(t, inp, fp, names)
        b = layer.run(t, scaled, pop, names)
        for nm in names:
            np.testing.assert_allclose(a[nm], b[nm], rtol=1e-12, atol=1e-14, err_msg=nm)
    # and the direction, subject by subject: a weaker block (larger Ki) builds less tolerance
    tol = tolerance.run(t, inp, fp, ["tolerance"])["tolerance"][:, -1]
    tol0 = tolerance.run(t, inp, pop, ["tolerance"])["tolerance"][:, -1]
    assert tol[0] > tol0[0] and tol[1] == tol0[1] and tol[2] < tol0[2]
    assert tol[3] / tol0[3] < tol[2] / tol0[2] < 1


def test_outcomes_through_simulate(pop):
    """End to end: factors of 1 leave every outcome unchanged; a weaker block lowers tolerance, benefit and
    dependence; the circuit gain moves liking (via NAc dopamine) but not tolerance (blockade only)."""
    t = np.arange(0.0, 7 * 24.0 + 0.01, 6.0)
    reg = "0.5 mg/kg iv over 40 min twice weekly for 1 week"
    outs = ["tolerance", "drug_liking", "depression_score", "p_dependence", "memory_impairment"]
    base = ks.simulate(reg, pop, t, outputs=outs)
    one = ks.simulate(reg, with_pd_factors(pop, {"Ki_NMDA": 1.0, "gain": 1.0}), t, outputs=outs)
    for o in outs:
        np.testing.assert_array_equal(one[o].values, base[o].values)
    weak = ks.simulate(reg, with_pd_factors(pop, {"Ki_NMDA": 3.0}), t, outputs=outs)
    assert np.all(weak["tolerance"].values[:, -1] < base["tolerance"].values[:, -1])
    assert np.all(weak["p_dependence"].values[:, -1] < base["p_dependence"].values[:, -1])
    assert np.all(weak["depression_score"].values[:, -1] > base["depression_score"].values[:, -1])  # less benefit
    assert np.all(weak["memory_impairment"].max("time") < base["memory_impairment"].max("time"))
    g = ks.simulate(reg, with_pd_factors(pop, {"gain": 0.5}), t, outputs=["tolerance", "drug_liking"])
    np.testing.assert_array_equal(g["tolerance"].values, base["tolerance"].values)
    assert np.all(g["drug_liking"].max("time") < base["drug_liking"].max("time"))


def test_sensitivity_of_dependence_to_chain_parameters():
    """p_dependence reads the blockade integral only: Ki_NMDA matters, the circuit gain has zero effect."""
    ds = ks.trials.sensitivity(parameters=["CL", "Ki_NMDA", "gain"], output="final_p_dependence", n=6,
                               method="morris", arm="recreational")
    mu = dict(zip(ds["parameter"].values.tolist(), ds["mu_star"].values))
    y = ds["final_p_dependence"].values
    assert np.all((y > 0) & (y < 1))
    assert mu["gain"] < 1e-12
    # elementary effects over the 4-fold factor range are of the order of the output itself (1.24x and 0.70x
    # the mean when written)
    assert mu["Ki_NMDA"] > 0.5 * y.mean() and mu["CL"] > 0.3 * y.mean()
    assert mu["Ki_NMDA"] > mu["CL"]
