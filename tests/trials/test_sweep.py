"""Sweeps: the --vary syntax, Cartesian and paired designs, dose-response."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.errors import InputError
from ketasim.trials.sweep import Vary, parse_vary


def test_parse_vary():
    v = parse_vary("arms.iv.dose=0.25..1.0 mg/kg:7")
    assert v == Vary("arms.iv.dose", (0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0), "mg/kg")
    assert parse_vary("population.weight=50..110:4").values == (50.0, 70.0, 90.0, 110.0)
    assert parse_vary("arms.esketamine.dose=28,56,84 mg") == Vary("arms.esketamine.dose", (28.0, 56.0, 84.0), "mg")
    assert v.setting(0.5) == 'arms.iv.dose="0.5 mg/kg"'
    for bad, msg in (("arms.iv.dose", "PATH=LO..HI"), ("x=a,b", "not a number"), ("x=1 mg,2 g", "one unit"),
                     ("x=1..2:0", ">= 1")):
        with pytest.raises(InputError, match=msg):
            parse_vary(bad)


def test_dose_sweep_is_linear_and_simulates_one_arm():
    ds = ks.trials.sweep(vary=["arms.iv.dose=0.25..1.0 mg/kg:4"], n=8, end="2 d", step="30 min", chunk_size=3)
    assert ds["Cmax_ketamine"].dims == ("arms.iv.dose", "arm", "subject")
    assert list(ds["arm"].values) == ["iv-depression"]
    np.testing.assert_allclose(ds["arms.iv.dose"].values, [0.25, 0.5, 0.75, 1.0])
    c = ds["Cmax_ketamine"].isel(arm=0).values
    np.testing.assert_allclose(c / c[0], np.outer([1, 2, 3, 4], np.ones(8)), rtol=1e-9)  # linear PK
    # the point at the arm's own dose equals the plain trial (common random numbers)
    ref = ks.trials.run(ks.trials.design(n=8, end="2 d", step="30 min"))
    np.testing.assert_array_equal(ds["Cmax_ketamine"].sel({"arms.iv.dose": 0.5}).isel(arm=0).values,
                                  ref["Cmax_ketamine"].sel(arm="iv-depression").values)


def test_cartesian_and_paired():
    vary = ["arms.esketamine.dose=56,84 mg", "population.weight=60,90"]
    cart = ks.trials.sweep(vary=vary, n=4, end="1 d", step="1 h", outputs=["C_plasma_ketamine"])
    assert cart["Cmax_ketamine"].dims == ("arms.esketamine.dose", "population.weight", "arm", "subject")
    assert dict(cart["Cmax_ketamine"].sizes) == {"arms.esketamine.dose": 2, "population.weight": 2, "arm": 4,
                                                 "subject": 4}
    paired = ks.trials.sweep(vary=vary, mode="paired", n=4, end="1 d", step="1 h", outputs=["C_plasma_ketamine"])
    assert paired["Cmax_ketamine"].dims == ("sweep", "arm", "subject")
    assert list(paired["population.weight"].values) == [60.0, 90.0]
    for i, (d, w) in enumerate([(56.0, 60.0), (84.0, 90.0)]):
        np.testing.assert_array_equal(paired["Cmax_ketamine"].isel(sweep=i).values,
                                      cart["Cmax_ketamine"].sel({"arms.esketamine.dose": d,
                                                                 "population.weight": w}).values)
    with pytest.raises(InputError, match="same number of values"):
        ks.trials.sweep(vary=["population.weight=60,90", "end=1,2,3"], mode="paired", n=2)


def test_sweep_errors():
    with pytest.raises(InputError, match="no arm named 'nasal'"):
        ks.trials.sweep(vary=["arms.nasal.dose=1,2 mg"], n=2)
    with pytest.raises(InputError, match="at least one field"):
        ks.trials.sweep(vary=[], n=2)


def test_sweep_over_model_parameters():
    """param.<name> sweeps scale a receptor or outcome-layer parameter for every subject: factor 1 is the plain
    trial to the last bit, a weaker NMDA block lowers peak dopamine and tolerance, E50 lowers dependence."""
    kw = dict(n=4, end="2 d", step="30 min", chunk_size=4, outputs=("default", "outcomes"))
    ds = ks.trials.sweep(vary=["param.Ki_NMDA=0.5,1,2"], **kw)
    assert ds["param.Ki_NMDA"].attrs["units"] == "x typical"
    base = ks.trials.run(ks.trials.design(**kw))
    for m in ("peak_DA_NAc_pct", "final_tolerance", "final_p_dependence", "Cmax_ketamine"):
        np.testing.assert_array_equal(ds[m].sel({"param.Ki_NMDA": 1.0}).values, base[m].values)
    for m in ("peak_DA_NAc_pct", "final_tolerance", "final_p_dependence"):
        v = ds[m].values                                       # (factor, arm, subject)
        assert np.all(v[0] > v[1]) and np.all(v[1] > v[2]), m
    np.testing.assert_array_equal(ds["Cmax_ketamine"].values[0], ds["Cmax_ketamine"].values[2])  # PK untouched
    e = ks.trials.sweep(vary=["param.harms.dependence.E50=0.5,2"], **kw)
    p = e["final_p_dependence"].values
    assert np.all(p[0] > p[1])
    np.testing.assert_array_equal(e["final_tolerance"].values[0], e["final_tolerance"].values[1])
    d = ks.trials.design(factors={"harms.dependence.E50": 2.0, "Ki_NMDA": 1.5}, **kw)
    assert d.to_dict()["factors"] == {"Ki_NMDA": 1.5, "harms.dependence.E50": 2.0}
    assert "factors" not in ks.trials.design(**kw).to_dict()          # fingerprints of plain trials unchanged


def test_sweep_over_model_parameters_errors():
    with pytest.raises(InputError, match=r"sweep point \{'param.Ki_nmda': 0.5\}: factors: 'Ki_nmda' is not .* "
                                         r"Did you mean 'Ki_NMDA'"):
        ks.trials.sweep(vary=["param.Ki_nmda=0.5,1"], n=2, end="1 d")
    with pytest.raises(InputError, match=r"factors\['gain'\] must be finite scale factors > 0; got -1"):
        ks.trials.sweep(vary=["param.gain=-1,1"], n=2, end="1 d")
    with pytest.raises(InputError, match=r"param.Ki_NMDA: a model parameter is varied by scale factors .* got the "
                                         r"unit 'nM'"):
        ks.trials.sweep(vary=["param.Ki_NMDA=400,800 nM"], n=2, end="1 d")
