"""Circuit layer: stable fixed points, dynamic -> quasi-steady, variant signatures, wiring, errors."""

import numpy as np
import pytest

import ketasim as ks
from ketasim.hypotheses import COMBINATIONS
from ketasim.layers import circuit as C
from ketasim.layers.dopamine import run_dopamine

RAT = ks.Subject(weight=0.3, age=0.25, sex="M", species="rat")


def _da(m, occ, sop=None):
    r = C.quasi_steady(m, np.asarray(occ, float), sop)
    return run_dopamine(r)["DA_NAc_pct"]


@pytest.mark.parametrize("combo", COMBINATIONS, ids=lambda c: "+".join(c))
def test_fixed_points_stable_across_the_grid(combo):
    m = C.get_model(list(combo))
    occ, sop, X, _ = C.fixed_point_map(m)
    np.testing.assert_allclose(X[0, 0], 1.0, atol=1e-10)            # baseline by construction
    cols = range(0, sop.size, max(1, sop.size // 5))
    for k in cols:
        x = X[:, k]
        res = C.rhs(m, x, occ, np.full(occ.size, sop[k]))
        assert np.abs(res).max() < 1e-6                            # they are fixed points
        eig = np.linalg.eigvals(C.jacobian(m, x, occ, np.full(occ.size, sop[k])))
        assert eig.real.max() < 0, (combo, sop[k], eig.real.max())  # and stable


def test_map_is_cached_once_per_model():
    m = C.get_model("trn_disinhibition")
    assert C.fixed_point_map(m) is C.fixed_point_map(C.get_model("trn_disinhibition"))


@pytest.mark.parametrize("combo", [("cortical_disinhibition", "vta_local"), ("trn_disinhibition", "opioid")])
def test_dynamic_converges_to_quasi_steady_for_slow_occupancy(combo):
    m = C.get_model(list(combo))
    t = np.linspace(0.0, 4.0, 41)                        # 4 s ramp: slow next to 10-20 ms time constants
    occ = np.vstack([np.linspace(0.1, 0.7, t.size), np.linspace(0.9, 0.3, t.size)])
    sop = np.vstack([np.linspace(0.0, 0.3, t.size), np.linspace(0.5, 0.1, t.size)])
    rates, burst = C.integrate_dynamic(m, t, occ, sop)
    qs = C.quasi_steady(m, occ, sop)
    for j, p in enumerate(C.POPULATIONS):
        np.testing.assert_allclose(rates[:, :, j], qs[f"rate_{p}"], rtol=2e-2, err_msg=p)
    np.testing.assert_allclose(burst, qs["burst_fraction_VTA_DA"], rtol=2e-2, atol=1e-3)


def test_dynamic_relaxes_from_baseline_within_a_second():
    m = C.get_model("cortical_disinhibition")
    t = np.linspace(0.0, 1.0, 11)
    rates, _ = C.integrate_dynamic(m, t, np.array([0.6]), x0=np.ones((1, 6)))
    qs = C.quasi_steady(m, np.array([0.6]))
    np.testing.assert_allclose(rates[0, -1], [qs[f"rate_{p}"][0] for p in C.POPULATIONS], rtol=1e-4)
    assert not np.allclose(rates[0, 1], rates[0, -1], rtol=1e-3)   # it did move


# -- signatures of each hypothesis ------------------------------------------------------------
def test_trn_disinhibition_lowers_trn_and_raises_relay():
    m = C.get_model("trn_disinhibition")
    r = C.quasi_steady(m, np.array([0.0, 0.5, 0.9]))
    assert np.all(np.diff(r["rate_TRN"]) < 0) and np.all(np.diff(r["rate_relay"]) > 0)
    assert np.all(np.diff(_da(m, [0.0, 0.5, 0.9])) > 0)


def test_cortical_disinhibition_lowers_pv_and_raises_pyramidal_and_da():
    m = C.get_model("cortical_disinhibition")
    r = C.quasi_steady(m, np.array([0.0, 0.5, 0.9]))
    assert np.all(np.diff(r["rate_PFC_PV"]) < 0) and np.all(np.diff(r["rate_PFC_pyr"]) > 0)
    assert np.all(np.diff(r["rate_VTA_DA"]) > 0)


def test_vta_local_lowers_burst_driven_release_at_high_occupancy():
    m = C.get_model("vta_local")
    r = C.quasi_steady(m, np.array([0.0, 0.3, 0.95]))
    assert r["burst_fraction_VTA_DA"][2] < 0.25 * r["burst_fraction_VTA_DA"][0]
    da = _da(m, [0.0, 0.3, 0.95])
    assert da[2] < da[1] and da[2] < 100.0
    assert r["rate_VTA_GABA"][2] < r["rate_VTA_GABA"][0]          # GABA interneurons blocked too


def test_opioid_raises_da_with_mu_kappa_not_nmda():
    m = C.get_model("opioid")
    assert _da(m, [0.9], [0.0])[0] == pytest.approx(100.0)
    assert _da(m, [0.0], [0.5])[0] > 120.0


def test_variants_combine():
    m = C.get_model(["cortical_disinhibition", "opioid"])
    assert m.variants == ("cortical_disinhibition", "opioid") and m.uses_opioid
    assert _da(m, [0.5], [0.3])[0] > _da(C.get_model("cortical_disinhibition"), [0.5])[0]


# -- errors ----------------------------------------------------------------------------------
def test_occupancy_outside_unit_interval():
    m = C.get_model("trn_disinhibition")
    with pytest.raises(ks.InputError, match=r"occupancy_NMDA must be a fraction in \[0, 1\]; got 1.2"):
        C.quasi_steady(m, np.array([0.2, 1.2]))
    with pytest.raises(ks.InputError, match="got -0.1"):
        C.integrate_dynamic(m, [0, 1], np.array([-0.1]))


def test_unknown_variant_did_you_mean():
    with pytest.raises(ks.UnknownNameError, match="Did you mean 'trn_disinhibition'"):
        ks.simulate("25 mg/kg ip", RAT, [0, 1], circuit="trn_disinhibtion")
    with pytest.raises(ks.InputError, match="circuit must name at least one variant"):
        C.resolve_circuit([])


def test_rat_routes_for_humans_are_refused():
    with pytest.raises(ks.RouteNotSupportedError, match="route 'ip' is not available"):
        ks.simulate("25 mg/kg ip", ks.Subject(weight=70), [0, 1], circuit="vta_local")


# -- wiring into simulate() ---------------------------------------------------------------------
def test_issue_examples_and_attributes():
    times = np.arange(0, 3, 1 / 12)
    res = ks.simulate(ks.parse_regimen("0.5 mg/kg iv over 40 min"), ks.Subject(weight=70), times,
                      circuit="trn_disinhibition")
    rat = ks.simulate(ks.parse_regimen("25 mg/kg ip"), RAT, times)
    names = ["occupancy_NMDA", "occupancy_mu", "occupancy_kappa", "rate_TRN", "rate_relay", "rate_PFC_pyr",
             "rate_PFC_PV", "rate_VTA_GABA", "rate_VTA_DA", "DA_NAc", "DA_PFC", "DA_NAc_pct", "DA_PFC_pct"]
    for ds in (res, rat):
        for v in names:
            assert ds[v].attrs["units"] and ds[v].attrs["long_name"], v
            assert np.all(np.isfinite(ds[v].values)), v
        assert ds.DA_NAc_pct.values[0, 0] == pytest.approx(100.0)
    assert res.attrs["circuit"] == "trn_disinhibition"
    assert rat.attrs["circuit"] == "+".join(C.DEFAULT_CIRCUIT)
    assert float(res.rate_TRN.min()) < 10.0 and float(res.rate_relay.max()) > 5.0
    assert float(rat.DA_PFC_pct.max()) > 200.0
    both = ks.simulate("25 mg/kg ip", RAT, times, circuit=["cortical_disinhibition", "opioid"], outputs=["DA_NAc_pct"])
    assert both.attrs["circuit"] == "cortical_disinhibition+opioid" and list(both.data_vars) == ["DA_NAc_pct"]


def test_pk_only_outputs_do_not_run_the_chain(monkeypatch):
    import ketasim.pd_chain as chain

    def boom(*a, **k):
        raise AssertionError("downstream layer ran")

    monkeypatch.setattr(chain, "run_receptors", boom)
    monkeypatch.setattr(chain, "run_circuit", boom)
    ds = ks.simulate("0.5 mg/kg iv over 40 min", ks.Subject(weight=70), [0, 1, 2], outputs=["C_plasma_ketamine"])
    assert list(ds.data_vars) == ["C_plasma_ketamine"] and ds.attrs["circuit"] == ""


def test_occupancy_only_does_not_run_the_circuit(monkeypatch):
    import ketasim.pd_chain as chain

    monkeypatch.setattr(chain, "run_circuit", lambda *a, **k: (_ for _ in ()).throw(AssertionError("circuit ran")))
    ds = ks.simulate("0.5 mg/kg iv over 40 min", ks.Subject(weight=70), [0, 1, 2], outputs=["occupancy_NMDA"])
    assert list(ds.data_vars) == ["occupancy_NMDA"]


@pytest.mark.parametrize("circuit", ["cortical_disinhibition", ["trn_disinhibition", "opioid"]])
def test_fused_chain_equals_layer_by_layer(circuit):
    """The fast path (tabulated circuit+dopamine lookup) agrees with running the layers one by one."""
    from ketasim.pd_chain import DEFAULT_PD_OUTPUTS, run_pd

    rng = np.random.default_rng(1)
    pk = {"C_effect_S_ketamine": 10 ** rng.uniform(0, 3.5, (20, 50)),
          "C_effect_R_ketamine": 10 ** rng.uniform(0, 3.5, (20, 50)),
          "C_plasma_norketamine": 10 ** rng.uniform(0, 3.5, (20, 50))}
    fast = run_pd(pk, list(DEFAULT_PD_OUTPUTS), circuit)
    slow = run_pd(pk, list(DEFAULT_PD_OUTPUTS), circuit, fused=False)
    m = C.get_model(circuit)
    tol = 3e-3 if m.uses_opioid else 1e-4      # the 2-D opioid grid is coarser (41 points)
    for k in DEFAULT_PD_OUTPUTS:
        np.testing.assert_allclose(fast[k], slow[k], rtol=tol, err_msg=k)
    # and both agree with the Newton fixed point itself at arbitrary occupancies
    occ = fast["occupancy_NMDA"][0, :5]
    sop = (fast["occupancy_mu"] + fast["occupancy_kappa"])[0, :5]
    for j in range(5):
        x = C._newton(m, np.ones(6), occ[j], sop[j] if m.uses_opioid else 0.0)
        np.testing.assert_allclose(fast["rate_VTA_DA"][0, j], x[5] * m.r0[5], rtol=tol)


def test_unfitted_combination_uses_single_variant_fits():
    from ketasim.layers.circuit import load_calibration

    fits = load_calibration()
    m = C.get_model(["vta_local", "opioid"])      # not among the fitted combinations
    assert "vta_local+opioid" not in fits
    assert dict(m.strengths)["vta_local"] == pytest.approx(fits["vta_local"]["values"]["strength_vta_local"])
    assert m.opioid_weight == pytest.approx(fits["opioid"]["values"]["opioid_weight"])
