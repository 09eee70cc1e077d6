"""Scale factors on receptor, circuit and dopamine parameters (ketasim.pd_parameters), checked against
closed forms and independent model builds, and their use in global sensitivity analysis."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import ketasim as ks
from ketasim.errors import InputError
from ketasim.layers.circuit import POPULATIONS, batch_arrays, get_model, quasi_steady
from ketasim.layers.dopamine import dopamine_parameters
from ketasim.layers.receptors import receptor_parameters
from ketasim.pd_chain import run_pd
from ketasim.pd_parameters import check_factors, pd_parameter_table, scale_value

WANTED = ["occupancy_NMDA", "occupancy_mu", "rate_VTA_DA", "burst_fraction_VTA_DA", "DA_NAc", "DA_NAc_pct", "DA_PFC"]


@pytest.fixture(scope="module")
def pk():
    """PK inputs of the receptor layer for 3 identical typical subjects, 0.5 mg/kg iv over 40 min, 0-6 h."""
    t = np.arange(0.0, 6.01, 0.1)
    res = ks.simulate("0.5 mg/kg iv over 40 min", ks.Subject(), t,
                      outputs=["C_effect_S_ketamine", "C_effect_R_ketamine", "C_plasma_norketamine"])
    return {k: np.repeat(res[k].values, 3, axis=0) for k in res.data_vars}


def test_factor_one_is_the_default_chain(pk):
    ref = run_pd(pk, WANTED)
    got = run_pd(pk, WANTED, factors={"Ki_NMDA": 1.0, "Vmax_NAc": np.ones(3)})
    for k in WANTED:
        np.testing.assert_array_equal(got[k], ref[k])
    # the factored (unfused) path with a factor next to 1 is continuous with the tabulated default
    near = run_pd(pk, WANTED, factors={"Ki_NMDA": 1.0 + 1e-12})
    np.testing.assert_allclose(near["DA_NAc"], ref["DA_NAc"], rtol=1e-4)
    np.testing.assert_allclose(near["DA_NAc"], run_pd(pk, WANTED, fused=False)["DA_NAc"], rtol=1e-9)
    with pytest.raises(InputError, match="not a parameter of the receptor"):
        run_pd(pk, WANTED, factors={"Ki_nope": 1.0})


def test_ki_nmda_against_the_closed_form(pk):
    """Ki_NMDA x f multiplies all three NMDA constants: occ = x / (1 + x), x = sum C_u / (f K)."""
    f = np.array([0.5, 1.0, 3.0])
    got = run_pd(pk, ["occupancy_NMDA"], factors={"Ki_NMDA": f})["occupancy_NMDA"]
    p = receptor_parameters()
    uk = 0.53 * 1.0 * 1000.0 / 237.73            # fu, Kp,uu, molar mass (receptors.yaml)
    un = 0.40 * 1.0 * 1000.0 / 223.70
    x = (pk["C_effect_S_ketamine"] * uk / 862.0 + pk["C_effect_R_ketamine"] * uk / 4024.0
         + pk["C_plasma_norketamine"] * un / 9110.0) / f[:, None]
    assert p["nmda"]["S"] == 862.0 and p["nmda"]["R"] == 4024.0 and p["nmda"]["NK"] == 9110.0
    np.testing.assert_allclose(got, x / (1 + x), rtol=1e-12)
    assert got[0].max() > got[1].max() > got[2].max() > 0


def test_fraction_factor_multiplies_the_odds(pk):
    v = scale_value(0.53, np.array([0.5, 1.0, 2.0]), "logit")
    odds = v / (1 - v)
    np.testing.assert_allclose(odds / (0.53 / 0.47), [0.5, 1.0, 2.0], rtol=1e-12)
    a = run_pd(pk, ["occupancy_NMDA"], factors={"fu_ketamine": 2.0})["occupancy_NMDA"]
    b = run_pd(pk, ["occupancy_NMDA"], factors={"Ki_NMDA_S": 0.53 / float(v[2]), "Ki_NMDA_R": 0.53 / float(v[2])})
    # raising fu of ketamine by g equals lowering the ketamine constants by g (norketamine unchanged)
    np.testing.assert_allclose(a, b["occupancy_NMDA"], rtol=1e-12)


def test_dopamine_factor_against_the_quadratic(pk):
    """DA_NAc with Vmax x 2: the positive root of release = Vmax DA / (Km + DA) + k DA, release per spike
    fixed by the basal DA with the new Vmax."""
    base = run_pd(pk, ["rate_VTA_DA", "burst_fraction_VTA_DA"], fused=False)
    got = run_pd(pk, ["DA_NAc"], factors={"Vmax_NAc": np.array([1.0, 2.0, 2.0])})["DA_NAc"]
    r = dopamine_parameters()["regions"]["NAc"]
    V, Km, k, basal, kap = 2 * r["Vmax_nM_per_s"], r["Km_nM"], r["k_nonDAT_per_s"], r["basal_nM"], 3.0
    drive = base["rate_VTA_DA"][1] * (1 + (kap - 1) * base["burst_fraction_VTA_DA"][1])
    q = (V * basal / (Km + basal) + k * basal) / (4.0 * (1 + (kap - 1) * 0.2))
    R = q * drive
    roots = np.array([max(np.roots([k, k * Km + V - Ri, -Ri * Km]).real) for Ri in R])
    np.testing.assert_allclose(got[1], roots, rtol=1e-9)
    np.testing.assert_allclose(got[1], got[2])
    assert not np.allclose(got[0], got[1])


def test_circuit_factors_per_subject_equal_a_rebuilt_model(pk):
    """gain and a connection weight varied per subject == the circuit model built with those values."""
    m = get_model()
    fg = np.array([0.7, 1.0, 1.6])
    fw = np.array([1.3, 1.0, 0.6])
    got = run_pd(pk, ["rate_VTA_DA", "burst_fraction_VTA_DA", "DA_NAc_pct"],
                 factors={"gain": fg, "w_VTA_DA_VTA_GABA": fw})
    occ = run_pd(pk, ["occupancy_NMDA"])["occupancy_NMDA"]
    j, g = POPULATIONS.index("VTA_DA"), POPULATIONS.index("VTA_GABA")
    for s in range(3):
        W = np.array(m.W)
        W[j, g] *= fw[s]
        ms = dataclasses.replace(get_model(None, gain=m.gain * fg[s]), W=tuple(map(tuple, W)))
        ref = quasi_steady(ms, occ[s])
        np.testing.assert_allclose(got["rate_VTA_DA"][s], ref["rate_VTA_DA"], rtol=2e-4)
        np.testing.assert_allclose(got["burst_fraction_VTA_DA"][s], ref["burst_fraction_VTA_DA"], rtol=2e-4,
                                   atol=1e-6)
    default = run_pd(pk, ["DA_NAc_pct"])["DA_NAc_pct"]
    np.testing.assert_allclose(got["DA_NAc_pct"][1], default[1], rtol=1e-4)   # factor 1 row: the default
    assert got["DA_NAc_pct"][2].max() != pytest.approx(default[2].max(), rel=1e-3)


def test_batch_arrays_with_unit_factors_are_the_model():
    m = get_model(["trn_disinhibition", "vta_local"])
    A = batch_arrays(m, {"strength_vta_local": 1.0}, 2)
    np.testing.assert_array_equal(A["F"][1], np.array(m.F))
    np.testing.assert_array_equal(A["f_ext"][0], np.array(m.f_ext))
    np.testing.assert_array_equal(A["W"][0], np.array(m.W))
    assert A["burst_nmda"][0] == m.burst_nmda and A["b0"][0] == pytest.approx(m.b0)


def test_table_lists_the_layers_and_typical_values():
    t = pd_parameter_table()
    assert {t[k].layer for k in t} == {"receptors", "circuit", "dopamine"}
    assert t["Vmax_NAc"].typical == 1550.0 and t["kappa_burst"].typical == 3.0
    assert t["gain"].typical == get_model().gain
    assert "strength_vta_local" in t and "strength_trn_disinhibition" not in t
    assert "strength_trn_disinhibition" in pd_parameter_table("trn_disinhibition")


def test_errors_name_the_parameter_and_the_valid_names(pk):
    with pytest.raises(InputError, match=r"'Ki_NDMA' is not a parameter.*Ki_NMDA.*Did you mean 'Ki_NMDA'"):
        check_factors({"Ki_NDMA": 2.0})
    with pytest.raises(InputError, match=r"factors\['gain'\] must be finite scale factors > 0; got -1"):
        check_factors({"gain": -1.0})
    with pytest.raises(InputError, match=r"one value per subject \(3\); got shape \(2,\)"):
        check_factors({"gain": [1.0, 2.0]}, n=3)
    with pytest.raises(InputError, match="max_multiple must stay > 1"):
        run_pd(pk, ["rate_VTA_DA"], factors={"max_multiple": 0.1})
    with pytest.raises(InputError, match=r"'opioid_weight' is not a parameter .* \(circuit cortical_disinhibition"):
        run_pd(pk, ["rate_VTA_DA"], ["cortical_disinhibition"], factors={"opioid_weight": 1.2})


def test_path_continuation_equals_the_occupancy_map(pk):
    """Without the opioid term, following each subject's path gives the per-subject map's numbers (grid 401)."""
    from ketasim.layers.circuit import quasi_steady_batch, quasi_steady_path_batch

    m = get_model()
    occ = run_pd(pk, ["occupancy_NMDA"])["occupancy_NMDA"]
    f = {"gain": np.array([0.6, 1.0, 1.7]), f"strength_{m.variants[0]}": np.array([1.5, 0.8, 1.0])}
    a = quasi_steady_batch(m, f, occ)
    b = quasi_steady_path_batch(m, f, occ)
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=2e-5, err_msg=k)


def test_opioid_variant_takes_circuit_factors(pk):
    """With the opioid variant (a 2-D quasi-steady map) circuit factors are solved along each subject's path: the
    rates satisfy the fixed-point equations of a model rebuilt with the scaled values, and the opioid weight
    raises VTA dopamine firing (less GABA drive)."""
    from ketasim.layers.circuit import rhs

    circ = ["cortical_disinhibition", "opioid"]
    m = get_model(circ)
    w = np.array([0.5, 1.0, 2.0])
    got = run_pd(pk, ["occupancy_NMDA", "occupancy_mu", "occupancy_kappa", "rate_VTA_DA", *[f"rate_{q}" for q in
                 POPULATIONS]], circ, factors={"gain": 1.3, "opioid_weight": w})
    occ, sop = got["occupancy_NMDA"], got["occupancy_mu"] + got["occupancy_kappa"]
    assert sop.max() > 0.025   # 0.5 mg/kg: peak mu + kappa occupancy ~0.03
    for i in range(3):
        mi = get_model(circ, gain=m.gain * 1.3, opioid_weight=m.opioid_weight * w[i])
        x = np.stack([got[f"rate_{q}"][i] / mi.r0[j] for j, q in enumerate(POPULATIONS)], axis=-1)
        assert np.max(np.abs(rhs(mi, x, occ[i], sop[i]))) < 1e-8
    peak = got["rate_VTA_DA"].max(axis=1)
    assert peak[0] < peak[1] < peak[2]
    # near 1 the path solution agrees with the default bilinear map (its interpolation error, < 1e-3)
    near = run_pd(pk, ["rate_VTA_DA"], circ, factors={"gain": 1.0 + 1e-12})
    ref = run_pd(pk, ["rate_VTA_DA"], circ)
    np.testing.assert_allclose(near["rate_VTA_DA"], ref["rate_VTA_DA"], rtol=1e-3)


def test_sobol_over_pd_parameters():
    """A PD parameter on the path gets a clearly non-zero total index; parameters the output cannot depend on
    (PFC uptake and the mu-opioid constant for NAc dopamine without the opioid variant) get ~0."""
    ds = ks.trials.sensitivity(parameters=["Ki_NMDA", "basal_NAc", "Vmax_PFC", "Ki_mu"], output="peak_DA_NAc",
                               n=64, arm="iv-depression", seed=5)
    st = ds["ST"].to_series()
    assert st["Ki_NMDA"] > 0.05 and st["basal_NAc"] > 0.05
    assert abs(st["Vmax_PFC"]) < 1e-9 and abs(st["Ki_mu"]) < 1e-9
    assert list(ds["layer"].values) == ["receptors", "dopamine", "dopamine", "receptors"]
    assert ds["typical"].sel(parameter="Ki_NMDA") == 862.0
    # larger Ki (weaker block) lowers peak NAc dopamine with the default circuit
    # (dopamine is close to proportional to its basal level, so divide that factor out)
    x = np.log(ds["factor"].sel(parameter="Ki_NMDA").values)
    y = ds["peak_DA_NAc"].values / ds["factor"].sel(parameter="basal_NAc").values
    assert np.corrcoef(x, y)[0, 1] < -0.9


def test_sensitivity_rejects_unknown_and_misplaced_parameters():
    with pytest.raises(InputError, match=r"'Ki_nmda' is neither a parameter of set .* Did you mean 'Ki_NMDA'"):
        ks.trials.sensitivity(parameters=["CL", "Ki_nmda"], output="peak_DA_NAc", n=8, arm="iv-depression")
    with pytest.raises(InputError, match=r"do not act on output 'peak_C_plasma_ketamine': C_plasma_ketamine is"):
        ks.trials.sensitivity(parameters=["Ki_NMDA"], output="peak_C_plasma_ketamine", n=8, arm="iv-depression")
    with pytest.raises(InputError, match=r"do not act on output 'final_p_urinary_symptoms'"):
        ks.trials.sensitivity(parameters=["CL", "gain"], output="final_p_urinary_symptoms", n=8, arm="dependent")
    with pytest.raises(InputError, match=r"do not act on output 'peak_dissociation'"):
        ks.trials.sensitivity(parameters=["Ki_NMDA"], output="peak_dissociation", n=8, arm="iv-depression")


def test_sensitivity_of_an_outcome_to_pk_parameters():
    """Outcome-layer outputs (issue 4) take PK factors: clearance moves peak drug liking, V1 far less."""
    ds = ks.trials.sensitivity(parameters=["CL", "V1"], output="peak_drug_liking", n=4, method="morris",
                               arm="recreational")
    mu = ds["mu_star"].to_series()
    assert mu["CL"] > 5 * mu["V1"] > 0 and ds["peak_drug_liking"].attrs["units"] == "VAS"
