"""Receptor layer: occupancy bounds, the C = K point, dose monotonicity, unit conversion, errors."""

import numpy as np
import pytest

import ketasim as ks
from ketasim.layers.receptors import competitive_occupancy, receptor_parameters, run_receptors, unbound_nM

P = receptor_parameters()


@pytest.mark.parametrize("target,ligand", [("nmda", "S"), ("nmda", "R"), ("nmda", "NK"), ("mu", "S"),
                                           ("kappa", "R")])
def test_half_occupancy_at_K_single_ligand(target, ligand):
    K = P[target][ligand]
    assert competitive_occupancy({ligand: np.array([K])}, P[target])[0] == pytest.approx(0.5, abs=1e-12)


def test_occupancy_in_unit_interval_and_competitive():
    rng = np.random.default_rng(0)
    c = {k: 10 ** rng.uniform(-2, 6, 2000) for k in ("S", "R", "NK")}
    occ = competitive_occupancy(c, P["nmda"])
    assert np.all((occ >= 0) & (occ < 1))
    # adding a competitor never lowers total occupancy
    alone = competitive_occupancy({"S": c["S"]}, P["nmda"])
    assert np.all(occ >= alone - 1e-15)
    assert competitive_occupancy({"S": np.zeros(3)}, P["nmda"]).max() == 0.0


def test_unbound_conversion_uses_fu_and_molar_mass():
    # 237.73 ng/mL ketamine = 1 uM total; fu 0.53, Kp,uu 1 -> 530 nM unbound
    assert float(unbound_nM(237.73, "ketamine")) == pytest.approx(1000 * P["fu_ketamine"])
    assert float(unbound_nM(223.70, "norketamine")) == pytest.approx(1000 * P["fu_norketamine"])


def test_shaffer_racemic_ec50_is_reproduced():
    """The in vivo anchor: racemic ketamine at 1420 nM unbound (half S, half R) occupies 50%."""
    occ = competitive_occupancy({"S": np.array([710.0]), "R": np.array([710.0])}, P["nmda"])
    assert occ[0] == pytest.approx(0.5, abs=2e-3)


def test_dose_occupancy_monotonic():
    t = np.arange(0, 3, 1 / 30)
    peaks = []
    for dose in (0.05, 0.1, 0.25, 0.5, 1, 2, 4):
        ds = ks.simulate(f"{dose} mg/kg iv over 40 min", ks.Subject(weight=70), t, outputs=["occupancy_NMDA"])
        occ = ds.occupancy_NMDA.values
        assert np.all((occ >= 0) & (occ <= 1))
        peaks.append(occ.max())
    assert np.all(np.diff(peaks) > 0)
    # the dossier's illustrative 23-33% peak at the antidepressant dose (tag D)
    assert 0.2 < peaks[3] < 0.35


def test_esketamine_occupies_more_than_arketamine():
    t = np.arange(0, 2, 1 / 30)
    kw = dict(outputs=["occupancy_NMDA", "occupancy_mu"], parameters="kamp_2020_racemic_meta")
    s = ks.simulate("20 mg esketamine iv", ks.Subject(), t, **kw)
    r = ks.simulate("20 mg arketamine iv", ks.Subject(), t, **kw)
    assert s.occupancy_NMDA.max() > 2 * r.occupancy_NMDA.max()
    assert s.occupancy_mu.max() > r.occupancy_mu.max()


def test_negative_concentration_is_an_error():
    with pytest.raises(ks.InputError, match="concentration of S must be finite and >= 0 nM; got -5"):
        competitive_occupancy({"S": np.array([-5.0])}, P["nmda"])


def test_missing_norketamine_counts_as_zero():
    out = run_receptors({"C_effect_S_ketamine": np.array([100.0]), "C_effect_R_ketamine": np.array([0.0])})
    assert 0 < out["occupancy_NMDA"][0] < 1
