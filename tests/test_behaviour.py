"""Reinforcement learning and self-administration (ketasim.behaviour).

- the driver's PK, resumed from saved states after every choice, equals simulating
  each subject's final (earned) regimen directly with ks.simulate;
- seeded reproducibility;
- closed-form limits of the TD agent (Redish 2004): a natural reward saturates, the
  non-compensable drug term grows the value by alpha*D per delivery without bound;
  no dopamine signal -> no acquisition;
- tolerance lowers the per-dose drug signal; escalation under extended access.
"""

import numpy as np
import pytest
from typer.testing import CliRunner

import ketasim as ks
from ketasim import testing as kt
from ketasim.behaviour import (agent_parameters, choice_probability, earned_regimens, parse_access,
                               parse_schedule, response_capacity, satiety, self_administration, td_update)
from ketasim.cli import app
from ketasim.errors import InputError
from ketasim.output import read_netcdf
from ketasim.layers.tolerance import response_factor


@pytest.fixture(scope="module")
def short_run():
    """Two 1-h daily sessions, three rats (the second session starts after a 23-h gap)."""
    return self_administration("1 h daily", "0.5 mg/kg iv", days=2, n=3, rng=np.random.default_rng(7))


def test_driver_pk_equals_direct_simulation_of_earned_regimens(short_run):
    sa = short_run
    regs = earned_regimens(sa)
    assert all(len(r.events) == int(sa["infusions"].values[i].sum()) for i, r in enumerate(regs))
    assert sum(len(r.events) for r in regs) > 10
    dt = agent_parameters("rat")["dt"]
    step_end = (24.0 * (sa["session"].values[:, None] - 1) + sa["step_time"].values[None, :] / 60.0 + dt).ravel()
    for i, reg in enumerate(regs):
        direct = ks.simulate(reg, ks.Subject(weight=0.3, age=0.25, species="rat"), step_end,
                             outputs=["C_effect_ketamine", "DA_NAc_pct"])
        kt.assert_close_relative(sa["C_effect_ketamine"].values[i].ravel(), direct["C_effect_ketamine"].values[0],
                                 1e-9, f"rat {i} effect-site ketamine")
        kt.assert_close_relative(sa["DA_NAc_pct"].values[i].ravel(), direct["DA_NAc_pct"].values[0], 1e-9,
                                 f"rat {i} NAc dopamine")


@pytest.mark.parametrize("dose, iiv", [("50 mg insufflated", False), ("56 mg esketamine intranasal", True)])
def test_driver_pk_with_delayed_inputs_equals_direct_simulation(dose, iiv):
    """Routes whose input is still entering at the next step (absorption lag, later spray devices,
    zero-order swallowed part) and subjects with inter-individual variability."""
    pop = ks.sample_population(3, np.random.default_rng(2)) if iiv else [ks.Subject() for _ in range(3)]
    pop = ks.population.as_population(pop)
    sa = self_administration("2 h daily", dose, species="human", days=1, subjects=pop, rng=np.random.default_rng(1),
                             agent={"q0": 3.0})          # an experienced user: several doses in the session
    regs = earned_regimens(sa)
    assert sum(len(r.events) for r in regs) >= 9
    t = sa["step_time"].values / 60.0 + agent_parameters("human")["dt"]
    for i, reg in enumerate(regs):
        direct = ks.simulate(reg, pop.take([i]), t, outputs=["C_effect_ketamine"], parameters=sa.attrs["parameter_sets"])
        kt.assert_close_relative(sa["C_effect_ketamine"].values[i, 0], direct["C_effect_ketamine"].values[0], 1e-9,
                                 f"{dose} subject {i}")


def test_seeded_reproducibility(short_run):
    again = self_administration("1 h daily", "0.5 mg/kg iv", days=2, n=3, rng=np.random.default_rng(7))
    for v in ("infusions", "infusion_time", "value", "DA_NAc_pct", "tolerance"):
        np.testing.assert_array_equal(again[v].values, short_run[v].values)
    other = self_administration("1 h daily", "0.5 mg/kg iv", days=2, n=3, rng=np.random.default_rng(8))
    assert not np.array_equal(np.nan_to_num(other["infusion_time"].values[:, :5]),
                              np.nan_to_num(short_run["infusion_time"].values[:, :5]))


def test_result_has_units_and_provenance(short_run):
    sa = short_run
    for v in sa.data_vars:
        assert "units" in sa[v].attrs and sa[v].attrs["long_name"], v
    assert sa.attrs["parameter_sets"] == "rat_ketamine_pk"
    assert "Redish 2004" in sa.attrs["agent"]
    assert sa["daily_intake"].attrs["units"] == "mg/kg"
    np.testing.assert_allclose(sa["daily_intake"].values, 0.5 * sa["infusions"].values)
    np.testing.assert_allclose(sa["cumulative_dose"].values, sa["daily_intake"].values.sum(axis=1))
    # time-out: no two infusions of a rat closer than 20 s
    gaps = np.diff(sa["infusion_time"].values, axis=1)
    assert np.nanmin(gaps) >= 20 / 3600 - 1e-12


def test_td_natural_reward_saturates_drug_value_grows_without_bound():
    alpha, r, D = 0.1, 1.0, 0.3
    q_nat, q_drug = np.array(0.0), np.array(0.0)
    for k in range(1, 301):
        q_nat = td_update(q_nat, 0.0, reward=r, alpha=alpha)
        q_drug = td_update(q_drug, D, reward=0.0, alpha=alpha)
        if k in (1, 10, 300):
            assert float(q_nat) == pytest.approx(r * (1 - (1 - alpha) ** k), rel=1e-12)   # closed form
            assert float(q_drug) == pytest.approx(k * alpha * D, rel=1e-12)                # linear growth
    assert float(q_nat) < r                       # saturates at the reward
    assert float(q_drug) > 8 * r                  # the drug term keeps value growing (Redish 2004)
    # a drug that also carries a natural reward: delta >= D at every delivery, even when fully "predicted"
    assert float(td_update(np.array(5.0), D, reward=1.0, alpha=alpha)) == pytest.approx(5.0 + alpha * D)


def test_no_dopamine_signal_no_acquisition():
    sa = self_administration("1 h daily", "0.5 mg/kg iv", days=2, n=4, rng=np.random.default_rng(3),
                             agent={"kappa": 0.0})
    assert np.all(sa["value"].values == 0.0)                       # nothing learned
    p = agent_parameters("rat")
    operant = p["lambda_max"] * 60 * choice_probability(0.0, p)   # presses per hour at Q = 0, no drug on board
    drug = self_administration("1 h daily", "0.5 mg/kg iv", days=2, n=4, rng=np.random.default_rng(3))
    assert sa["infusions"].values.mean() <= 1.3 * operant
    assert drug["infusions"].values[:, 1].mean() > 1.5 * sa["infusions"].values[:, 1].mean()


def test_tolerance_reduces_per_dose_dopamine_signal(short_run):
    sa = short_run
    assert np.all(sa["tolerance"].values[:, 0] == 0) and np.all(sa["tolerance"].values[:, 1] > 0.2)
    assert np.all(sa["drug_signal"].values[:, 1] < sa["drug_signal"].values[:, 0])
    off = self_administration("1 h daily", "0.5 mg/kg iv", days=2, n=3, rng=np.random.default_rng(7),
                              tolerance=False)
    assert np.all(off["tolerance"].values == 0)
    assert off["drug_signal"].values[:, 1].mean() > 1.5 * sa["drug_signal"].values[:, 1].mean()


def test_agent_building_blocks_closed_forms():
    p = agent_parameters("rat")
    assert float(choice_probability(p["q_other"], p)) == pytest.approx(0.5)
    # the first press of an FR8 chain is worth gamma^7 of the reinforcer
    q = 2.0
    v8 = q * p["gamma_press"] ** 7 - p["q_other"]
    assert float(choice_probability(q, p, ratio=8)) == pytest.approx(1 / (1 + np.exp(-p["beta"] * v8)))
    assert float(response_capacity(p["x50"], p)) == pytest.approx(0.5)
    assert float(satiety(100.0 + p["dDA50"], 1.0, p)) == pytest.approx(0.5)
    rf = float(response_factor(np.array(1.0)))                    # tolerance state 1: half the response
    assert float(satiety(100.0 + 2 * p["dDA50"], rf, p)) == pytest.approx(0.5)


@pytest.mark.slow
def test_escalation_extended_over_limited_access_and_tolerance_effect():
    def first_hour(access, tol):
        sa = self_administration(access, "0.5 mg/kg iv", days=5, n=6, rng=np.random.default_rng(2),
                                 tolerance=tol)
        fh = sa["first_hour_infusions"].values.mean(axis=0)
        return fh[1:].mean() - fh[0], fh
    esc_long, fh_long = first_hour("6 h daily", True)
    esc_short, fh_short = first_hour("1 h daily", True)
    assert esc_long > esc_short > 0          # first-hour intake escalates more under extended access
    assert fh_long[1:].mean() > fh_short[1:].mean()
    # without tolerance the homeostatic set point is reached with fewer doses: no extended-access excess
    esc_long_nt, _ = first_hour("6 h daily", False)
    esc_short_nt, _ = first_hour("1 h daily", False)
    assert (esc_long - esc_short) > (esc_long_nt - esc_short_nt)


def test_human_insufflated_runs():
    sa = self_administration("2 h daily", "50 mg insufflated", species="human", days=1, n=2,
                             rng=np.random.default_rng(1))
    assert sa.attrs["parameter_sets"] == "kamp_2020_racemic_meta"
    assert sa["daily_intake"].attrs["units"] == "mg"
    gaps = np.diff(sa["infusion_time"].values, axis=1)
    assert np.all(np.isnan(gaps) | (gaps >= 15 / 60 - 1e-12))      # 15-min minimum interval


def test_parsers():
    assert parse_access("2 h daily") == 2.0 and parse_access("6h daily") == 6.0
    assert parse_access("30 min daily") == 0.5
    assert parse_schedule("FR1") == 1 and parse_schedule("fr 5") == 5


@pytest.mark.parametrize("kwargs, match", [
    ({"access": "2 h weekly"}, r"access must be a daily session length .* got '2 h weekly'"),
    ({"access": "30 h daily"}, r"at most 24 h per day; got '30 h daily'"),
    ({"dose": "0.5 mg/kg iv every 1 h x 3"}, r"dose must be a single unit dose .* which has 3 events"),
    ({"dose": "0.5 mg/kg ivv"}, r"dose must be one unit dose .* unknown route"),
    ({"species": "mouse"}, r"species must be one of 'rat', 'human'; got 'mouse'"),
    ({"schedule": "PR"}, r"schedule must be a fixed ratio .* got 'PR'"),
    ({"timeout": "5 s"}, r"timeout must be >= the reward window tau_reward \(20 s\).* got 5 s"),
    ({"days": 0}, r"days must be a whole number of sessions >= 1; got 0"),
    ({"rng": 3}, r"rng must be a numpy.random.Generator"),
    ({"dose": "0.5 mg/kg intranasal"}, r"dose route 'intranasal' is not available for rats"),
])
def test_bad_input_is_named(kwargs, match):
    with pytest.raises(InputError, match=match):
        self_administration(**{"days": 1, "n": 1, **kwargs})


def test_cli_self_administer_writes_netcdf(tmp_path):
    out = tmp_path / "sa.nc"
    res = CliRunner().invoke(app, ["self-administer", "--species", "rat", "--dose", "0.5 mg/kg iv", "--access",
                                   "1h daily", "--days", "1", "--n", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "infusions" in res.output and "cumulative dose" in res.output
    ds = read_netcdf(out)
    assert ds["infusions"].shape == (2, 1) and ds.attrs["seed"] == 1
    bad = CliRunner().invoke(app, ["self-administer", "--access", "2 hours weekly", "--days", "1"])
    assert bad.exit_code == 1 and "access must be a daily session length" in bad.output


def test_circuit_variant_sets_the_drug_signal():
    kw = dict(days=1, n=2, rng=np.random.default_rng(4))
    a = self_administration("1 h daily", "0.5 mg/kg iv", circuit="trn_disinhibition", **kw)
    b = self_administration("1 h daily", "0.5 mg/kg iv", circuit="cortical_disinhibition",
                            **{**kw, "rng": np.random.default_rng(4)})
    assert a.attrs["circuit"] == "trn_disinhibition" and b.attrs["circuit"] == "cortical_disinhibition"
    assert not np.allclose(a["DA_peak_pct"].values, b["DA_peak_pct"].values)


@pytest.mark.slow
def test_behaviour_calibration_targets_within_band():
    from ketasim.outcome_targets import evaluate

    df = evaluate(layers=["behaviour"])
    assert len(df) == 4
    bad = df[~df["within"]]
    assert bad.empty, bad[["id", "observed", "low", "high", "model"]].to_string()
    intake = df.set_index("id").loc["behaviour.sa_infusions_0.5mgkg"]
    assert intake["fold_error"] < 1.25
