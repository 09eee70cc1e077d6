"""The documentation that is generated from data is current; the docs name what they promise."""

from pathlib import Path

from ketasim.docs_tables import parameters_markdown
from ketasim.parameters import list_parameter_sets

ROOT = Path(__file__).resolve().parents[1]


def test_parameter_appendix_is_current():
    on_disk = (ROOT / "docs" / "parameters.md").read_text(encoding="utf-8")
    assert on_disk == parameters_markdown(), (
        "docs/parameters.md is out of date: run `python -m ketasim.docs_tables > docs/parameters.md`"
    )


def test_every_set_is_documented_with_sources():
    text = (ROOT / "docs" / "parameters.md").read_text(encoding="utf-8")
    for sid in list_parameter_sets():
        assert f"## `{sid}`" in text


def test_model_description_states_the_equations():
    text = (ROOT / "docs" / "model.md").read_text(encoding="utf-8")
    for needle in ("dx/dt = A x + u(t)", "dC_e/dt = k_e0 (C_p − C_e)", "exp(η_i)", "Van Loan", "A_eliminated"):
        assert needle in text
