"""Scale factors on outcome-layer parameters (ketasim.outcome_parameters): the table, exactness of factor 1, a
closed form (tolerance is linear in k_in), the per-subject loop against the vectorised layers, and sensitivity."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.errors import InputError
from ketasim.layer_data import load_yaml
from ketasim.layers.antidepressant import antidepressant_parameters
from ketasim.layers.harms import harms_parameters
from ketasim.layers.tolerance import tolerance_parameters
from ketasim.outcome_parameters import (outcome_factors_of, outcome_parameter_table, overridden,
                                        scaled_layer_parameters, with_outcome_factors)

REG = "(100 mg insufflated every 30 min x 4) weekly for 2 weeks"
T = np.arange(0.0, 14 * 24.0 + 0.01, 6.0)
OUTS = ["tolerance", "drug_liking", "depression_score", "p_dependence", "p_urinary_symptoms", "memory_impairment",
        "cognitive_burden"]


@pytest.fixture(scope="module")
def pop():
    return ks.sample_population(3, np.random.default_rng(3))


@pytest.fixture(scope="module")
def base(pop):
    return ks.simulate(REG, pop, T, outputs=OUTS)


def test_table_values_are_the_shipped_ones():
    t = outcome_parameter_table()
    assert t["harms.dependence.E50"].typical == load_yaml("outcomes", "harms.yaml")["dependence"]["E50"]["value"]
    assert t["tolerance.k_in"].typical == tolerance_parameters("human")["k_in"]
    assert t["antidepressant.P50"].typical == antidepressant_parameters()["P50"]
    assert t["antidepressant.Fmax"].scale == "logit" and t["harms.bladder.f_urine"].scale == "logit"
    assert t["tolerance.k_in"].scale == "log" and t["tolerance.k_in"].source
    assert "liking.L_max" not in t and "antidepressant.baseline_madrs" not in t
    assert {e.layer for e in t.values()} == {"tolerance", "liking", "memory", "antidepressant", "harms"}
    # the logit rule keeps a fraction inside (0, 1)
    assert 0.4149 < scaled_layer_parameters("antidepressant", {"antidepressant.Fmax": 100.0})["Fmax"] < 1.0


def test_overrides_are_scoped():
    p = scaled_layer_parameters("harms", {"harms.dependence.E50": 2.0})
    with overridden({"harms": p}):
        assert harms_parameters()["dependence"]["E50"] == pytest.approx(2 * 0.11954, rel=1e-12)
        assert tolerance_parameters()["k_in"] == outcome_parameter_table()["tolerance.k_in"].typical
    assert harms_parameters()["dependence"]["E50"] == 0.11954


def test_factor_one_is_the_default(pop, base):
    one = ks.simulate(REG, with_outcome_factors(pop, {"tolerance.k_in": 1.0, "harms.dependence.E50": 1.0,
                                                      "antidepressant.P50": 1.0}), T, outputs=OUTS)
    for o in OUTS:
        np.testing.assert_array_equal(one[o].values, base[o].values)


def test_tolerance_is_linear_in_k_in(pop, base):
    """S = k_in * (k_in-free integral), tolerance = 1 - 1/(1 + S): scaling k_in by f scales S by f exactly."""
    f = np.array([0.5, 1.0, 3.0])
    got = ks.simulate(REG, with_outcome_factors(pop, {"tolerance.k_in": f}), T, outputs=["tolerance"])["tolerance"]
    tol1 = base["tolerance"].values
    S1 = tol1 / (1.0 - tol1)
    np.testing.assert_allclose(got.values, 1.0 - 1.0 / (1.0 + f[:, None] * S1), rtol=1e-10, atol=1e-15)


def test_per_subject_loop_equals_the_vectorised_layer(pop):
    """One factor for everyone, run subject by subject, equals the whole population run with the scaled values."""
    fac = {"harms.dependence.E50": 2.0, "harms.bladder.S50": 0.5, "harms.cognition.tau": 1.5}
    loop = ks.simulate(REG, with_outcome_factors(pop, fac), T, outputs=OUTS)
    with overridden({"harms": scaled_layer_parameters("harms", fac)}):
        vec = ks.simulate(REG, pop, T, outputs=OUTS)
    for o in OUTS:
        np.testing.assert_allclose(loop[o].values, vec[o].values, rtol=1e-12, atol=1e-300, err_msg=o)
    assert np.all(loop["p_dependence"].values[:, -1] > 0)


def test_factors_travel_and_validate(pop):
    f = with_outcome_factors(pop, {"liking.d50": [1.0, 2.0, 3.0], "tolerance.k_out": 0.5})
    assert outcome_factors_of(f.take(np.array([2])), "liking")["liking.d50"].tolist() == [3.0]
    assert outcome_factors_of(pop) == {}
    with pytest.raises(InputError, match=r"'harms.E50' is not a parameter of the outcome layers"):
        with_outcome_factors(pop, {"harms.E50": 2.0})
    with pytest.raises(InputError, match=r"one value per subject \(3\)"):
        with_outcome_factors(pop, {"liking.d50": [1.0, 2.0]})
    with pytest.raises(InputError, match="finite scale factors > 0"):
        with_outcome_factors(pop, {"liking.d50": 0.0})


def test_sensitivity_over_outcome_parameters():
    ds = ks.trials.sensitivity(parameters=["CL", "harms.dependence.E50", "harms.dependence.h_max", "tolerance.k_in"],
                               output="final_p_dependence", n=6, method="morris", arm="recreational")
    mu = dict(zip(ds["parameter"].values.tolist(), ds["mu"].values))
    assert mu["tolerance.k_in"] == 0.0                  # dependence does not read tolerance
    assert mu["harms.dependence.E50"] < 0 < mu["harms.dependence.h_max"]
    assert list(ds["layer"].values) == ["pk", "harms", "harms", "tolerance"]
    assert ds["typical"].sel(parameter="harms.dependence.E50") == 0.11954
    with pytest.raises(InputError, match="act only on outcome outputs"):
        ks.trials.sensitivity(parameters=["tolerance.k_in"], output="peak_DA_NAc", n=4, method="morris")
