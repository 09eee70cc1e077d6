"""The command line, as a user runs it."""

import io
import json

import pandas as pd
from typer.testing import CliRunner

from ketasim.cli import app

runner = CliRunner()


def test_simulate_csv_on_stdout():
    res = runner.invoke(app, ["simulate", "84 mg intranasal", "--weight", "70", "--end", "24h", "--step", "5min",
                              "--format", "csv"])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(io.StringIO(res.stdout))
    assert df.columns[0] == "time_h"
    assert "C_plasma_ketamine" in df.columns
    assert len(df) == 24 * 12 + 1
    assert df.C_plasma_ketamine.max() > 0


def test_simulate_netcdf(tmp_path):
    out = tmp_path / "run.nc"
    res = runner.invoke(app, ["simulate", "0.5 mg/kg iv over 40 min", "--parameters", "domino_tci_racemic",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    from ketasim.output import read_netcdf

    ds = read_netcdf(out)
    assert ds.attrs["parameter_sets"] == "domino_tci_racemic"


def test_simulate_json_outputs_subset():
    res = runner.invoke(app, ["simulate", "25 mg oral", "--outputs", "C_plasma_norketamine", "--format", "json",
                              "--end", "2h", "--step", "30min"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["time_h"] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert set(doc) == {"time_h", "C_plasma_norketamine", "units", "attrs"}


def test_parameters_and_variables_listings():
    res = runner.invoke(app, ["parameters", "--format", "json"])
    assert res.exit_code == 0
    rows = json.loads(res.stdout)
    ids = {r["id"] for r in rows}
    for need in ("perez_ruixo_2021_esketamine", "fanta_2015_s_ketamine", "otto_2021_s_norketamine",
                 "simons_2022_s_ketamine", "domino_tci_racemic", "clements_1981_racemic", "hijazi_2003_racemic",
                 "herd_2007_racemic_paeds", "kamp_2020_racemic_meta", "rat_ketamine_pk"):
        assert need in ids
    assert all(r["citation"] and r["routes"] and r["analytes"] for r in rows)
    res = runner.invoke(app, ["parameters", "perez_ruixo_2021_esketamine"])
    assert res.exit_code == 0 and "FRn" in res.stdout
    res = runner.invoke(app, ["variables", "--format", "json"])
    names = {r["name"] for r in json.loads(res.stdout)}
    assert {"C_plasma_ketamine", "C_effect_ketamine", "A_eliminated"} <= names


def test_simulate_default_end_follows_the_regimen():
    from typer.testing import CliRunner

    from ketasim.cli import app

    r = CliRunner().invoke(app, ["simulate", "56 mg esketamine intranasal twice weekly for 4 weeks",
                                 "--outputs", "tolerance", "--format", "csv"])
    assert r.exit_code == 0, r.output
    rows = r.output.strip().splitlines()
    # doses on days 0, 3.5, ..., 24.5 (8 doses): last at 588 h; default end 24 h later, hourly beyond 2 days
    assert rows[-1].startswith("612,") and rows[2].startswith("1,")
    r = CliRunner().invoke(app, ["simulate", "10 mg iv", "--outputs", "C_plasma_ketamine"])
    assert r.output.strip().splitlines()[-1].startswith("24,")      # one dose: 24 h at 5-min steps
    assert len(r.output.strip().splitlines()) == 1 + 24 * 12 + 1


def test_simulate_relapse_clock_option():
    from typer.testing import CliRunner

    from ketasim.cli import app

    reg = "56 mg esketamine intranasal twice weekly for 4 weeks, then 84 mg esketamine intranasal weekly for 12 weeks"
    r = CliRunner().invoke(app, ["simulate", reg, "--outputs", "p_relapse", "--relapse-clock", "16 weeks",
                                 "--end", "40 weeks", "--step", "4 weeks"])
    assert r.exit_code == 0, r.output
    rows = [line.split(",") for line in r.output.strip().splitlines()[1:]]
    p = {float(t): float(v) for t, v in rows}
    assert p[2688.0] == 0.0 and all(p[t] == 0.0 for t in p if t <= 2688.0)     # nothing before the clock starts
    assert 0.0 < p[3360.0] < p[6720.0] < 1.0                                      # then cumulative, rising
    # the same as the Python API with the clock set
    import numpy as np

    import ketasim as ks
    res = ks.simulate(reg, ks.with_relapse_clock(ks.Subject(weight=70.0), 2688.0), np.array([0.0, 6720.0]),
                      outputs=["p_relapse"])
    assert abs(float(res["p_relapse"][0, -1]) - p[6720.0]) < 1e-5
    bad = CliRunner().invoke(app, ["simulate", "10 mg iv", "--outputs", "p_relapse", "--relapse-clock", "-3h"])
    assert bad.exit_code == 1 and ">= 0 h" in bad.output
