"""ks.compare_patterns / ketasim compare-patterns: the five patterns side by side, written atomically."""

import numpy as np
import pandas as pd
import pytest

import ketasim as ks
from ketasim.cli import main
from ketasim.compare_patterns import BENEFIT_METRICS, COMPARE_PATTERNS, METRICS, NOT_APPLICABLE, write_comparison
from ketasim.errors import InputError, UnknownNameError


@pytest.fixture(scope="module")
def table():
    return ks.compare_patterns(n=4, seed=3, weeks=4)


@pytest.mark.slow
def test_every_pattern_and_metric(table):
    assert list(table.pattern) == [p.key for p in COMPARE_PATTERNS]
    t = table.set_index("pattern")
    therapy = ["iv_therapeutic", "esketamine_56", "esketamine_84"]
    for k, *_ in METRICS:
        assert k in table.columns and np.all(np.isfinite(t.loc[therapy, k])), k
        # no depression at baseline: benefit not applicable for recreational / dependent use
        assert np.all(np.isfinite(t[k])) == (k not in BENEFIT_METRICS), k
    assert list(t.benefit) == ["baseline MADRS 32 (treatment-resistant default)"] * 3 + [NOT_APPLICABLE] * 2
    # benefit: the therapeutic courses lower the depression score and give responders by day 28
    for k in ("iv_therapeutic", "esketamine_56", "esketamine_84"):
        assert t.loc[k, "madrs_change_d28"] < 0 and 0 < t.loc[k, "p_response_d28"] <= 100
    # liking above placebo, at most the scale's half (bipolar VAS)
    assert np.all((t.drug_liking_peak > 0) & (t.drug_liking_peak <= 50))
    assert np.all((t.tolerance_end >= 0) & (t.tolerance_end <= 100))
    # harms rise from therapy to recreational to dependent use
    for k in ("p_urinary_end", "p_dependence_end", "cognitive_burden_end"):
        assert t.loc["esketamine_84", k] < t.loc["recreational_weekend", k] < t.loc["dependent_daily", k], k
        assert np.all((t[k] >= 0) & (t[k] <= 100))
    # esketamine 84 mg exposes more than 56 mg (same subjects)
    assert t.loc["esketamine_84", "cmax_week1"] > t.loc["esketamine_56", "cmax_week1"]


@pytest.mark.slow
def test_same_seed_same_table(table):
    again = ks.compare_patterns(n=4, seed=3, weeks=4, patterns=["esketamine_56"])
    row = table[table.pattern == "esketamine_56"].reset_index(drop=True)
    pd.testing.assert_frame_equal(again, row)


@pytest.mark.slow
def test_written_atomically(tmp_path, table):
    paths = write_comparison(table, tmp_path / "cmp")
    back = pd.read_csv(paths[0])
    assert list(back.pattern) == list(table.pattern)
    np.testing.assert_allclose(back.p_dependence_end, table.p_dependence_end, rtol=1e-12)
    assert "<table>" in paths[1].read_text() and not list((tmp_path / "cmp").glob(".*tmp*"))


@pytest.mark.slow
def test_given_baseline_gives_every_pattern_a_benefit(table):
    t = table.set_index("pattern")
    b = ks.compare_patterns(n=4, seed=3, weeks=4, patterns=["esketamine_56", "recreational_weekend"],
                            baseline_madrs=32).set_index("pattern")
    assert b.loc["recreational_weekend", "madrs_change_d28"] < 0
    assert b.loc["recreational_weekend", "benefit"] == "baseline MADRS 32 (given)"
    # the same baseline as the default: the therapy row is unchanged, harms of every row too
    np.testing.assert_allclose(b.loc["esketamine_56", [k for k, *_ in METRICS]].astype(float),
                               t.loc["esketamine_56", [k for k, *_ in METRICS]].astype(float), rtol=1e-12)
    np.testing.assert_allclose(b.loc["recreational_weekend", "p_dependence_end"],
                               t.loc["recreational_weekend", "p_dependence_end"], rtol=1e-12)


def test_bad_arguments():
    with pytest.raises(InputError, match="n must be"):
        ks.compare_patterns(n=0)
    with pytest.raises(InputError, match="weeks"):
        ks.compare_patterns(n=2, weeks=1)
    with pytest.raises(UnknownNameError):
        ks.compare_patterns(n=2, patterns=["weekend"])
    with pytest.raises(InputError, match="baseline_madrs"):
        ks.compare_patterns(n=2, baseline_madrs=70)


def test_cli(tmp_path, capsys):
    rc = main(["compare-patterns", "--n", "3", "--weeks", "4", "--patterns", "esketamine_56,recreational_weekend",
               "--out", str(tmp_path)])
    assert rc in (0, None)
    out = capsys.readouterr().out
    assert "recreational" in out and "urinary" in out and "no depression at baseline" in out
    assert (tmp_path / "compare_patterns.csv").exists() and (tmp_path / "compare_patterns.html").exists()
