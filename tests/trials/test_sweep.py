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
