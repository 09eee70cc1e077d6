"""simulate(outputs=...) group names: 'default', 'safety', 'outcomes', 'all'."""

import numpy as np
import pytest

import ketasim as ks
from ketasim.errors import InputError
from ketasim.layers.safety import SAFETY_OUTPUTS
from ketasim.outcomes import outcome_variables

REG = "84 mg esketamine intranasal"
T = np.arange(0.0, 6.0, 0.25)


@pytest.fixture(scope="module")
def everything():
    return ks.simulate(REG, ks.Subject(weight=70), T, outputs="all")


def test_all_is_default_plus_safety_plus_outcomes(everything):
    default = ks.simulate(REG, ks.Subject(weight=70), T)
    expected = set(default.data_vars) | set(SAFETY_OUTPUTS) | set(outcome_variables())
    assert set(everything.data_vars) == expected
    assert len(expected) > len(default.data_vars) + 10


def test_group_values_equal_named_values(everything):
    named = ks.simulate(REG, ks.Subject(weight=70), T, outputs=["delta_SBP", "drug_liking", "C_plasma_S_ketamine"])
    for v in named.data_vars:
        np.testing.assert_allclose(everything[v].values, named[v].values, rtol=1e-12, atol=1e-12)
    # the label's blood-pressure rise and liking are really there, not zeros
    assert 3.0 < float(everything["delta_SBP"].max()) < 40.0
    assert float(everything["drug_liking"].max()) > 20.0


def test_groups_mix_with_names_and_keep_order():
    res = ks.simulate(REG, ks.Subject(weight=70), T, outputs=["tolerance", "safety"])
    assert list(res.data_vars) == ["tolerance", *SAFETY_OUTPUTS]


def test_misspelt_group_suggests_it():
    with pytest.raises(InputError, match="default"):
        ks.simulate(REG, ks.Subject(weight=70), T, outputs=["defualt"])


def test_outcomes_group_has_the_acute_effects():
    res = ks.simulate(REG, ks.Subject(weight=70), T, outputs="outcomes")
    assert {"dissociation", "sedation", "drug_liking", "tolerance", "p_dependence"} <= set(res.data_vars)
    assert "delta_SBP" not in res.data_vars
    assert 20.0 < float(res["dissociation"].max()) < 80.0      # esketamine 84 mg: label's 61-75% dissociate


def test_outputs_as_a_generator_is_read_once():
    res = ks.simulate(REG, ks.Subject(weight=70), T, outputs=(o for o in ["C_plasma_S_ketamine", "drug_liking"]))
    assert list(res.data_vars) == ["C_plasma_S_ketamine", "drug_liking"]
