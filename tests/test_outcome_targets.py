"""The outcome calibration registry (ketasim.outcome_targets): every target within its band, docs table current."""

from pathlib import Path

import pytest

from ketasim import outcome_targets as ot
from ketasim.errors import InputError

DOC = Path(__file__).resolve().parents[1] / "docs" / "outcomes.md"


@pytest.fixture(scope="module")
def table():
    return ot.evaluate()


@pytest.mark.slow
def test_every_target_is_within_its_band(table):
    assert set(table.layer) >= {"harms"}
    must = table[table.expect_within]
    bad = must[~must.within]
    assert bad.empty, bad[["id", "observed", "low", "high", "model"]].to_string()
    # known misses are documented in their note
    for i in table[~table.expect_within].id:
        assert "miss" in ot.TARGETS[i].note.lower(), i


@pytest.mark.slow
def test_docs_table_is_current(table):
    assert DOC.read_text() == ot.targets_markdown(table), (
        "docs/outcomes.md is stale: run `python -m ketasim.outcome_targets > docs/outcomes.md`")


def test_fold_error_and_errors():
    assert ot._fold(2.0, 1.0) == 2.0 and ot._fold(0.5, 1.0) == 2.0 and ot._fold(1.0, 1.0) == 1.0
    with pytest.raises(InputError, match="outside its band"):
        ot.Target("x.bad", "x", "d", "s", 5.0, 0.0, 1.0, "u", lambda: 1.0)
    with pytest.raises(InputError, match="unknown target"):
        ot.evaluate(ids=["no.such.target"])
    with pytest.raises(InputError, match="unknown layer"):
        ot.evaluate(layers=["no_such_layer"])
    with pytest.raises(InputError, match="expected a Target"):
        ot.register("harms.urinary_prevalence")
