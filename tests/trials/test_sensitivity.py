"""The SALib wrapper on known-answer functions, and the parameter-scaling trick against a modified ParameterSet."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import numpy as np
import pytest
from SALib.test_functions import Ishigami, Sobol_G

import ketasim as ks
from ketasim.errors import InputError
from ketasim.trials.sensitivity import analyse_function, evaluate_samples, parameter_problem

ISHIGAMI_S1 = np.array([0.3139, 0.4424, 0.0])  # analytical, a = 7, b = 0.1
ISHIGAMI_ST = np.array([0.5576, 0.4424, 0.2437])


def test_ishigami_sobol_known_answer():
    ds = analyse_function(Ishigami.evaluate, ["x1", "x2", "x3"], [(-np.pi, np.pi)] * 3, n=4096, seed=2)
    np.testing.assert_allclose(ds["S1"].values, ISHIGAMI_S1, atol=0.03)
    np.testing.assert_allclose(ds["ST"].values, ISHIGAMI_ST, atol=0.03)
    # the analytical values lie inside (a little more than) the bootstrap intervals
    assert np.all(np.abs(ds["S1"].values - ISHIGAMI_S1) <= 2 * ds["S1_conf"].values + 0.01)
    assert ds["factor" if "factor" in ds else "x"].dims == ("sample", "parameter")
    assert ds.sizes["sample"] == 4096 * 5


def test_sobol_g_known_answer():
    a = np.array([0, 1, 4.5, 9, 99, 99, 99, 99], float)
    names = [f"x{i + 1}" for i in range(a.size)]
    ds = analyse_function(lambda x: Sobol_G.evaluate(x, a), names, [(0.0, 1.0)] * a.size, n=4096, seed=3)
    np.testing.assert_allclose(ds["S1"].values, Sobol_G.sensitivity_index(a), atol=0.03)
    np.testing.assert_allclose(ds["ST"].values, Sobol_G.total_sensitivity_index(a), atol=0.03)


def test_morris_ranks_ishigami():
    ds = analyse_function(Ishigami.evaluate, ["x1", "x2", "x3"], [(-np.pi, np.pi)] * 3, method="morris", n=200,
                          seed=4)
    mu_star = ds["mu_star"].values
    assert mu_star[0] > mu_star[2] > 0 and mu_star[1] > mu_star[2]
    assert set(ds.data_vars) >= {"mu", "mu_star", "sigma", "mu_star_conf"}


def test_scale_factor_equals_a_modified_parameter_set():
    """exp(log f) on the varied parameter == the same set with that typical value multiplied by f."""
    ps = ks.get_parameter_set("kamp_2020_racemic_meta")
    reg = ks.parse_regimen("0.5 mg/kg iv over 40 min")
    t = np.arange(0, 12.01, 0.25)
    factors = np.array([[0.5, 1.7], [1.0, 1.0], [2.0, 0.6]])
    y = evaluate_samples(reg, t, parameter_problem(ps, ["CL", "V1"]), np.log(factors), "human",
                         "peak_C_plasma_ketamine")
    for (fcl, fv1), yi in zip(factors, y):
        params = dict(ps.params)
        params["CL"] = replace(params["CL"], value=params["CL"].value * fcl)
        params["V1"] = replace(params["V1"], value=params["V1"].value * fv1)
        mod = replace(ps, params=MappingProxyType(params))
        ref = ks.simulate(reg, ks.Subject(), t, parameters=mod, outputs=["C_plasma_ketamine"])
        assert yi == pytest.approx(float(ref["C_plasma_ketamine"].max()), rel=1e-10)


def test_model_sensitivity_dataset():
    ds = ks.trials.sensitivity(parameters=["CL", "V1", "Q2"], output="AUC_ketamine", n=64, arm="iv",
                               chunk_size=100)
    assert list(ds["parameter"].values) == ["CL", "V1", "Q2"]
    assert ds["factor"].dims == ("sample", "parameter") and ds.sizes["sample"] == 64 * 5
    assert float(ds["factor"].min()) >= 0.5 - 1e-12 and float(ds["factor"].max()) <= 2.0 + 1e-12
    assert ds["AUC_ketamine"].attrs["units"] == "ng*h/mL"
    # AUC of an IV dose is dose / CL: clearance explains (almost) all of it
    assert ds["S1"].sel(parameter="CL") > 0.9 and ds["ST"].sel(parameter="V1") < 0.05
    # chunking does not change the numbers
    ds2 = ks.trials.sensitivity(parameters=["CL", "V1", "Q2"], output="AUC_ketamine", n=64, arm="iv",
                                chunk_size=7)
    np.testing.assert_array_equal(ds["AUC_ketamine"].values, ds2["AUC_ketamine"].values)


def test_sensitivity_errors():
    with pytest.raises(InputError, match="parameters"):
        ks.trials.sensitivity(parameters=["CLX"], n=8)
    with pytest.raises(InputError, match="power of 2"):
        ks.trials.sensitivity(parameters=["CL"], n=100)
    with pytest.raises(InputError, match="output must be a summary metric"):
        ks.trials.sensitivity(parameters=["CL"], n=8, output="banana")
    with pytest.raises(InputError, match="method"):
        ks.trials.sensitivity(parameters=["CL"], n=8, method="fast")
