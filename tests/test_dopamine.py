"""Dopamine layer: mass balance at steady state, baseline, ODE convergence."""

import numpy as np
import pytest

from ketasim.layers.dopamine import (REGIONS, dopamine_parameters, integrate_da, release_rate, run_dopamine,
                                     steady_da, uptake)


@pytest.mark.parametrize("region", REGIONS)
def test_mass_balance_at_steady_state(region):
    R = np.geomspace(1e-3, 5000.0, 200)
    da = steady_da(R, region)
    np.testing.assert_allclose(uptake(da, region), R, rtol=1e-10)
    assert np.all(np.diff(da) > 0)


@pytest.mark.parametrize("region", REGIONS)
def test_baseline_is_basal(region):
    basal = dopamine_parameters()["regions"][region]["basal_nM"]
    R0 = release_rate(4.0, 0.2, region)
    assert float(steady_da(R0, region)) == pytest.approx(basal, rel=1e-10)
    out = run_dopamine({"rate_VTA_DA": np.array([4.0]), "burst_fraction_VTA_DA": np.array([0.2])})
    assert out[f"DA_{region}_pct"][0] == pytest.approx(100.0)


def test_bursts_release_more_than_tonic_spikes():
    tonic = run_dopamine({"rate_VTA_DA": np.array([4.0]), "burst_fraction_VTA_DA": np.array([0.0])})
    burst = run_dopamine({"rate_VTA_DA": np.array([4.0]), "burst_fraction_VTA_DA": np.array([0.5])})
    assert burst["DA_NAc"][0] > tonic["DA_NAc"][0]


@pytest.mark.parametrize("region", REGIONS)
def test_ode_converges_to_steady_state(region):
    t = np.linspace(0, 60, 61)
    R = np.full((1, t.size), float(release_rate(8.0, 0.3, region)))
    da = integrate_da(t, R, region, da0=np.array([0.0]), dt_s=2e-3)
    assert da[0, -1] == pytest.approx(float(steady_da(R[0, 0], region)), rel=1e-3)
