"""A trial honours the scenario's circuit choice (model.circuit), as `ketasim run` does."""

from __future__ import annotations

import numpy as np

import ketasim as ks
from ketasim.trials import _scenario as S


def test_trial_uses_the_scenario_circuit():
    base = ks.trials.design(n=3, seed=4, end="1 d", step="30 min", chunk_size=3)
    sc = S.with_overrides(base.scenario, ['model.circuit="trn_disinhibition"'])
    d = ks.trials.design(sc, n=3, seed=4, chunk_size=3)
    assert S.circuit(d.scenario) == ["trn_disinhibition"] and S.circuit(base.scenario) is None
    trn = ks.trials.run(d)
    default = ks.trials.run(base)
    assert d.fingerprint != base.fingerprint
    # an independent simulate() call with the same subjects and circuit gives the same per-subject peak
    arm = d.scenario.arms[0]
    res = ks.simulate(S.regimen(arm), d.population(), d.scenario.times(), outputs=["DA_NAc_pct"],
                      circuit="trn_disinhibition")
    np.testing.assert_allclose(trn["peak_DA_NAc_pct"].sel(arm=arm.name).values, res["DA_NAc_pct"].max("time").values,
                               rtol=1e-12)
    assert not np.allclose(trn["peak_DA_NAc_pct"].values, default["peak_DA_NAc_pct"].values, rtol=1e-3)
