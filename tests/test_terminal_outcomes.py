"""The terminal's benefit-and-harm table: every outcome column of every arm, within 80 columns."""

import io

import numpy as np
import xarray as xr
from rich.console import Console

from ketasim.terminal import _OUTCOME_COLUMNS, _print_outcomes


def _ds(values):
    arms = ["iv-depression", "esketamine", "recreational-weekend", "dependent-daily"]
    return xr.Dataset({f"outcome_{k}": ("arm", np.asarray(values[i], float)) for i, (k, _) in enumerate(_OUTCOME_COLUMNS)},
                      coords={"arm": arms}, attrs={"outcome_subjects": 100})


def test_every_value_printed_in_80_columns():
    vals = [[-11.0, -11.7, -11.1, -13.3], [54.1, 57.3, 54.5, 64.4], [48.8, 45.8, 49.2, 49.5],
            [39.4, 49.6, 47.5, 98.5], [25.4, 16.0, 35.9, 55.0], [0.071, 0.15, 0.17, 83.4],
            [0.11, 0.4, 1.47, 46.4], [0.062, 0.082, 0.11, 1.33]]
    buf = io.StringIO()
    _print_outcomes(_ds(vals), Console(file=buf, width=80))
    text = buf.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    row = next(line for line in text.splitlines() if line.startswith("dependent-daily"))
    assert row.split()[1:] == ["-13.3", "64.4", "49.5", "98.5", "55.0", "83.4", "46.4", "1.33"]
    assert "first 100 subjects" in text


def test_no_outcome_variables_prints_nothing():
    buf = io.StringIO()
    _print_outcomes(xr.Dataset(coords={"arm": ["a"]}), Console(file=buf, width=80))
    assert buf.getvalue() == ""


def test_not_applicable_shows_a_dash():
    vals = [[np.nan] * 4] + [[1.0] * 4] * 7
    buf = io.StringIO()
    _print_outcomes(_ds(vals), Console(file=buf, width=80))
    row = next(line for line in buf.getvalue().splitlines() if line.startswith("esketamine"))
    assert row.split()[1] == "-"
