"""simulate(): the Dataset contract, default sets, populations, reproducibility."""

import numpy as np
import pytest
import xarray as xr

import ketasim as ks
from ketasim.layers.pk import DEFAULT_PK_OUTPUTS

T = np.arange(0, 24, 1 / 60)


def test_issue_example_single_subject():
    reg = ks.parse_regimen("0.5 mg/kg iv over 40 min")
    res = ks.simulate(reg, ks.Subject(weight=70, age=35, sex="F"), T)
    assert isinstance(res, xr.Dataset)
    assert res["C_plasma_ketamine"].dims == ("subject", "time")
    assert res["C_plasma_ketamine"].attrs["units"] == "ng/mL"
    assert set(DEFAULT_PK_OUTPUTS) <= set(res.data_vars)
    for v in res.data_vars:
        assert res[v].attrs["units"] and res[v].attrs["long_name"]
    assert res.attrs["parameter_sets"] == "kamp_2020_racemic_meta"
    assert "Kamp" in res.attrs["citations"]
    assert res.attrs["ketasim_version"] == ks.__version__
    # racemic totals are S + R
    np.testing.assert_allclose(res.C_plasma_ketamine, res.C_plasma_S_ketamine + res.C_plasma_R_ketamine, rtol=1e-12)
    # end-of-infusion peak: 35 mg into the Kamp model — a real number, not zero
    assert 100 < float(res.C_plasma_ketamine.max()) < 600


def test_population_outputs_restricted_and_reproducible():
    pop = ks.sample_population(n=300, rng=np.random.default_rng(1), parameters="perez_ruixo_2021_esketamine")
    reg = ks.parse_regimen("56 mg esketamine intranasal")
    t = np.arange(0, 48, 0.1)
    a = ks.simulate(reg, pop, t, parameters="perez_ruixo_2021_esketamine", outputs=["C_plasma_ketamine"])
    assert list(a.data_vars) == ["C_plasma_ketamine"]
    assert a.sizes == {"subject": 300, "time": t.size}
    pop2 = ks.sample_population(n=300, rng=np.random.default_rng(1), parameters="perez_ruixo_2021_esketamine")
    b = ks.simulate(reg, pop2, t, parameters="perez_ruixo_2021_esketamine", outputs=["C_plasma_ketamine"])
    np.testing.assert_array_equal(a.C_plasma_ketamine.values, b.C_plasma_ketamine.values)
    # simulating a sub-population gives the same numbers for the same subjects (no chunking effects)
    c = ks.simulate(reg, pop.take(slice(100, 140)), t, parameters="perez_ruixo_2021_esketamine",
                    outputs=["C_plasma_ketamine"])
    np.testing.assert_array_equal(c.C_plasma_ketamine.values, a.C_plasma_ketamine.values[100:140])
    # variability is real: Cmax spreads
    cmax = a.ket.cmax("C_plasma_ketamine").values
    assert cmax.std() / cmax.mean() > 0.15


def test_default_sets_by_drug_route_and_age():
    t = np.arange(0, 6, 0.1)
    assert ks.simulate("56 mg esketamine intranasal", ks.Subject(), t).attrs["parameter_sets"] == \
        "perez_ruixo_2021_esketamine"
    assert ks.simulate("2 mg/kg iv", ks.Subject(weight=20, age=6), t).attrs["parameter_sets"] == \
        "herd_2007_racemic_paeds"
    rat = ks.simulate("25 mg/kg ip", ks.Subject(weight=0.3, age=0.25, sex="M", species="rat"), t)
    assert rat.attrs["parameter_sets"] == "rat_ketamine_pk"
    assert float(rat.C_plasma_ketamine.max()) > 0
    mixed = ks.simulate("2 mg/kg iv", [ks.Subject(weight=20, age=6), ks.Subject(weight=70, age=40)], t)
    assert list(mixed.parameter_set.values) == ["herd_2007_racemic_paeds", "kamp_2020_racemic_meta"]


@pytest.mark.parametrize("text", [
    "0.5 mg/kg iv over 40 min", "84 mg intranasal", "100 mg insufflated every 30 min x 4",
    "56 mg intranasal twice weekly for 4 weeks", "25 mg oral", "2 mg/kg iv", "2 mg/kg esketamine intranasal",
    "1.2 mg/kg/h iv for 72 h", "35 mg iv over 40 min every 84 h x 8", "25 mg sublingual", "50 mg rectal",
    "25 mg esketamine inhaled", "0.5 mg/kg im", "20 mg arketamine iv over 40 min",
])
def test_every_issue_regimen_runs(text):
    res = ks.simulate(text, ks.Subject(weight=70), np.arange(0, 96, 0.25))
    c = res.C_plasma_ketamine.values
    assert np.all(np.isfinite(c)) and c.max() > 0 and c.min() >= -1e-9


def test_esketamine_gives_no_r_ketamine_and_arketamine_no_s():
    t = np.arange(0, 6, 0.1)
    es = ks.simulate("20 mg esketamine iv", ks.Subject(), t)
    assert float(abs(es.C_plasma_R_ketamine).max()) == 0 and float(es.C_plasma_S_ketamine.max()) > 0
    ar = ks.simulate("20 mg arketamine iv", ks.Subject(), t)
    assert float(abs(ar.C_plasma_S_ketamine).max()) == 0 and float(ar.C_plasma_R_ketamine.max()) > 0


def test_r_ketamine_cleared_more_slowly_with_s_only_set():
    """An S-ketamine set simulates R with clearance x stereo_ratio (< 1): R AUC > S AUC after racemate."""
    ps = ks.get_parameter_set("fanta_2015_s_ketamine")
    assert ps.stereo_ratio < 1
    res = ks.simulate("20 mg iv", ks.Subject(), np.arange(0, 48, 0.05), parameters=ps)
    assert float(res.ket.auc("C_plasma_R_ketamine")[0]) > float(res.ket.auc("C_plasma_S_ketamine")[0])


def test_netcdf_round_trip(tmp_path):
    from ketasim.output import read_netcdf, write_netcdf

    res = ks.simulate("25 mg oral", ks.Subject(), np.arange(0, 12, 0.5))
    write_netcdf(res, tmp_path / "r.nc")
    back = read_netcdf(tmp_path / "r.nc")
    np.testing.assert_allclose(back.C_plasma_ketamine.values, res.C_plasma_ketamine.values)
    assert back.C_plasma_ketamine.attrs["units"] == "ng/mL"
    assert back.attrs["parameter_sets"] == res.attrs["parameter_sets"]


def test_exact_auc_outputs():
    """AUC_* are exact cumulative integrals: AUC(inf) = F dose / CL, and independent of the grid."""
    ps = ks.get_parameter_set("kamp_2020_racemic_meta")
    long = ks.simulate("0.5 mg/kg iv over 40 min", ks.Subject(weight=70), np.array([0.0, 1.0, 500.0]),
                       outputs=["AUC_plasma_ketamine", "AUC_plasma_S_ketamine", "AUC_plasma_R_ketamine"])
    cl = ps.params["CL"].value  # L/h at 70 kg
    assert long.AUC_plasma_ketamine.values[0, -1] == pytest.approx(35.0 / cl * 1000.0, rel=1e-9)
    np.testing.assert_allclose(long.AUC_plasma_S_ketamine + long.AUC_plasma_R_ketamine, long.AUC_plasma_ketamine,
                               rtol=1e-12)
    coarse = ks.simulate("25 mg oral every 8 h x 3", ks.Subject(), np.array([0.0, 7.3, 30.0]),
                         outputs=["AUC_plasma_norketamine"])
    fine = ks.simulate("25 mg oral every 8 h x 3", ks.Subject(), np.round(np.arange(0, 30.05, 0.1), 10),
                       outputs=["AUC_plasma_norketamine", "C_plasma_norketamine"])
    np.testing.assert_allclose(coarse.AUC_plasma_norketamine.values[0, 1:],
                               fine.AUC_plasma_norketamine.sel(time=[7.3, 30.0], method="nearest").values[0],
                               rtol=1e-10)
    # and it agrees with the trapezoid of the concentration on a fine grid
    assert fine.AUC_plasma_norketamine.values[0, -1] == pytest.approx(
        float(fine.ket.auc("C_plasma_norketamine")[0]), rel=1e-3)
