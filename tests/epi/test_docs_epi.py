"""docs/epidemiology.md states the equations and every rate with its source; shipped data are verbatim."""

from pathlib import Path

from ketasim.epi.data import load_parameter_table, read_table

ROOT = Path(__file__).resolve().parents[2]


def test_model_description_lists_every_rate_and_equation():
    text = (ROOT / "docs" / "epidemiology.md").read_text(encoding="utf-8")
    for name, row in load_parameter_table().items():
        assert f"`{name}`" in text, name
        assert row["source"] in text, name  # the table in the docs is the parameter file's
    for needle in ("dN/dt = Λ − λ N", "dD/dt = ε2 R + (1 − φ) ω T − h_T − γ_D D",
                   "P(t) − P(t0) = entries − exits − deaths", "solve_ivp", "Out of sample"):
        assert needle in text, needle


def test_every_parameter_has_a_tag_range_and_source():
    for name, row in load_parameter_table().items():
        assert row["tag"] in ("V", "S", "U", "D", "A"), name
        assert row["low"] <= row["value"] <= row["high"], name
        assert len(row["source"]) > 20, name


def test_shipped_tables_keep_citations_and_tags():
    for table in ("epidemiology", "use_patterns", "harms", "treatment"):
        rows = read_table(table)
        assert rows and all(r["tag"] in ("V", "S", "U") and r["citation"] for r in rows), table


def test_measured_blocks_are_rendered_from_the_stored_results():
    """The parameter table and the fit tables of the docs are exactly what ketasim.epi.docs_numbers renders."""
    import json

    from ketasim.epi import docs_numbers

    text = (ROOT / "docs" / "epidemiology.md").read_text(encoding="utf-8")
    res = json.loads((ROOT / "docs" / "epi_fits.json").read_text(encoding="utf-8"))
    assert docs_numbers.render_doc(text, res) == text
    assert set(res["variants"]) == {v[0] for v in docs_numbers.VARIANTS}


def test_stored_default_estimates_are_reproduced_by_a_fresh_fit():
    """The maximum-likelihood estimates in docs/epi_fits.json come from the current code."""
    import json

    import pytest

    import ketasim as ks

    res = json.loads((ROOT / "docs" / "epi_fits.json").read_text(encoding="utf-8"))
    for key in ("ew_default", "hk_default"):
        row = res["variants"][key]
        ds = ks.epidemiology.fit(row["series"], intervals="laplace", n_starts=4, n_draws=20, n_proposals=80)
        stored = row["all_years"]
        for name, p in stored["parameters"].items():
            assert float(ds.estimate.sel(parameter=name)) == pytest.approx(p["estimate"], rel=2e-3), (key, name)
        assert ds.attrs["log_likelihood"] == pytest.approx(stored["log_likelihood"], abs=1e-3)
        assert ds.attrs["aic"] == pytest.approx(stored["aic"], abs=1e-3)
