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


def test_trial_summarises_the_outcome_layers():
    """outputs=("C_plasma_ketamine", "outcomes"): peak_ and final_ of every outcome variable per subject, equal to
    the same subjects simulated directly."""
    from ketasim.outcomes import outcome_variables

    d = ks.trials.design(n=3, seed=5, end="2 d", step="2 h", chunk_size=2, outputs=("C_plasma_ketamine", "outcomes"))
    ds = ks.trials.run(d.with_(scenario=S.only_arms(d.scenario, [d.scenario.arms[2].name])))
    names = list(outcome_variables())
    assert {"tolerance", "drug_liking", "depression_score", "bladder_injury", "p_dependence"} <= set(names)
    for v in names:
        assert ds[f"peak_{v}"].dims == ("arm", "subject") and ds[f"final_{v}"].attrs["units"] is not None
    arm = d.scenario.arms[2]
    res = ks.simulate(S.regimen(arm), d.population(), d.scenario.times(), outputs=["tolerance", "drug_liking"])
    np.testing.assert_allclose(ds["final_tolerance"].sel(arm=arm.name).values,
                               res["tolerance"].isel(time=-1).values, rtol=1e-12)
    np.testing.assert_allclose(ds["peak_drug_liking"].sel(arm=arm.name).values,
                               res["drug_liking"].max("time").values, rtol=1e-12)
    assert np.all(ds["final_tolerance"].values > 0)
    default = d.with_(outputs=("default",)).arm_outputs[0]
    assert "C_plasma_ketamine" in default and not set(names) & set(default)
