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
