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


def test_trial_cli_outputs_summarises_effect_variables(tmp_path):
    """--outputs names the variables; every one gets peak_/auc_/final_ per subject (here the acute-effect
    layer's dissociation and sedation), and --resume keeps them."""
    import pandas as pd
    from typer.testing import CliRunner

    from ketasim.cli import app

    out = tmp_path / "t"
    r = CliRunner().invoke(app, ["trial", "--n", "4", "--end", "1 d", "--step", "30 min", "--chunk-size", "2",
                                 "--outputs", "C_plasma_ketamine,dissociation,sedation", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    summ = pd.read_csv(out / "summary.csv")
    assert {"peak_dissociation", "final_dissociation", "auc_sedation", "Cmax_ketamine"} <= set(summ["metric"])
    chunks = pd.concat(pd.read_parquet(p) for p in sorted((out / "chunks").glob("chunk-*.parquet")))
    d = ks.trials.design(n=4, end="1 d", step="30 min")
    arm = d.scenario.arms[0]
    res = ks.simulate(S.regimen(arm), d.population(), d.scenario.times(), outputs=["dissociation"])
    got = chunks[chunks["arm"] == arm.name].sort_values("subject")["peak_dissociation"].to_numpy()
    np.testing.assert_allclose(got, res["dissociation"].max("time").values, rtol=1e-12)
    r = CliRunner().invoke(app, ["trial", "--resume", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
