"""The flagship job: results on disk, reproducibility, report and plausibility.

Runs the embedded default scenario (default parameter sets) for 20 subjects
over 3 days, so the whole file takes seconds.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ketasim.errors import InputError
from ketasim.flagship import FLAGSHIP, METRICS, FlagshipResult, load_scenario, print_summary, run_flagship
from ketasim.report import render_report

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "benefit-risk.toml"
SMALL = {"n": 20, "end": "3 d"}
FIGURES = ("ketamine_bands", "ketamine_first24h", "norketamine_bands", "cmax_distribution", "benefit_harm")


def expected_figures(ds) -> set[str]:
    """The PK figures, the benefit-vs-harm scatter, and one figure per layer beyond PK that ran."""
    layers = [x.strip() for x in ds.attrs["layers"].split(",") if x.strip() != "pk"]
    return set(FIGURES) | {f"layer_{x}" for x in layers}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    a = tmp_path_factory.mktemp("run_a")
    b = tmp_path_factory.mktemp("run_b")
    ra = run_flagship(a, quiet=True, formats=("html", "pdf"), **SMALL)
    rb = run_flagship(b, quiet=True, report=False, **SMALL)
    return ra, rb


def test_files_written_atomically(runs):
    r, _ = runs
    d = r.out_dir
    for name in ("flagship.nc", "summary.csv", "report.html"):
        assert (d / name).is_file()
    assert {p.stem for p in (d / "figures").glob("*.png")} == expected_figures(r.dataset)
    assert not list(d.rglob("*.tmp")), "temporary files left behind"


def test_dataset_layout_and_provenance(runs):
    ds = xr.load_dataset(runs[0].out_dir / "flagship.nc", engine="h5netcdf")
    arms = [a.name for a in FLAGSHIP.arms]
    assert list(ds["arm"].values) == arms
    assert ds["C_plasma_ketamine"].dims == ("arm", "subject_sample", "time")
    assert ds["C_plasma_ketamine"].dtype == np.float32
    assert ds["C_plasma_ketamine_quantiles"].dims == ("arm", "quantile", "time")
    assert list(ds["quantile"].values) == [0.05, 0.25, 0.5, 0.75, 0.95]
    assert ds["Cmax_ketamine"].dims == ("arm", "subject") and ds.sizes["subject"] == 20
    assert ds["time"].values[-1] == 72.0 and np.allclose(np.diff(ds["time"].values), 1 / 6)
    for v in ("C_plasma_ketamine", "C_plasma_norketamine", "C_effect_ketamine", *METRICS):
        assert ds[v].attrs["units"]
    assert ds.attrs["ketasim_version"]
    assert ds.attrs["seed"] == 1
    doc = tomllib.loads(ds.attrs["scenario"])
    assert doc["population"] == {"n": 20, "seed": 1} and doc["end"] == "3 d"
    assert len(ds.attrs["scenario_sha256"]) == 64
    sets = ds.attrs["parameter_sets"].split(", ")
    assert "kamp_2020_racemic_meta" in sets and "perez_ruixo_2021_esketamine" in sets
    prov = json.loads(ds.attrs["provenance"])
    assert {p["id"] for p in prov} == set(sets)
    assert all(p["citation"] and p["parameters"] for p in prov)
    import h5py

    with h5py.File(runs[0].out_dir / "flagship.nc", "r") as f:  # compressed
        assert f["C_plasma_ketamine"].compression == "gzip" and f["C_plasma_ketamine"].shuffle


def test_summary_numbers_finite_and_tidy(runs):
    s = runs[0].summary
    assert list(s.columns) == ["arm", "metric", "unit", "median", "p05", "p95"]
    metrics = [v for v in runs[0].dataset.data_vars if runs[0].dataset[v].dims == ("arm", "subject")]
    assert set(METRICS) <= set(metrics)
    assert len(s) == len(FLAGSHIP.arms) * len(metrics)
    vals = s[["median", "p05", "p95"]].to_numpy()
    assert np.isfinite(vals).all()
    assert (s["p05"] <= s["median"]).all() and (s["median"] <= s["p95"]).all()
    on_disk = pd.read_csv(runs[0].out_dir / "summary.csv")
    pd.testing.assert_frame_equal(on_disk, s)


def test_identical_numbers_for_identical_seed(runs):
    ra, rb = runs
    pd.testing.assert_frame_equal(ra.summary, rb.summary)
    xr.testing.assert_identical(ra.dataset, rb.dataset)


def test_chunk_size_does_not_change_numbers(runs, tmp_path):
    r = run_flagship(tmp_path, quiet=True, chunk_size=7, report=False, **SMALL)
    pd.testing.assert_frame_equal(r.summary, runs[0].summary)
    xr.testing.assert_identical(r.dataset, runs[0].dataset)


def test_another_seed_gives_other_subjects(tmp_path, runs):
    r = run_flagship(tmp_path, quiet=True, seed=2, report=False, **SMALL)
    assert not np.array_equal(r.dataset["Cmax_ketamine"].values, runs[0].dataset["Cmax_ketamine"].values)


def test_report_from_disk_equals_report_direct(runs, tmp_path):
    r = runs[0]
    direct = (r.out_dir / "report.html").read_bytes()  # written by the run, from the computed result
    from_disk = render_report(r.out_dir, tmp_path / "disk.html").read_bytes()
    assert direct == from_disk
    loaded = FlagshipResult.load(r.out_dir)
    xr.testing.assert_identical(loaded.dataset, r.dataset)
    pd.testing.assert_frame_equal(loaded.summary, r.summary)


def test_pdf_report_has_every_figure(runs):
    pdf = (runs[0].out_dir / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"CreationDate" not in pdf
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    # title page, summary table, one page per figure, provenance pages, scenario appendix
    assert pages >= len(expected_figures(runs[0].dataset)) + 3


def test_html_is_self_contained_with_figures_and_provenance(runs):
    r = runs[0]
    html = (r.out_dir / "report.html").read_text(encoding="utf-8")
    figs = expected_figures(r.dataset)
    assert html.count('src="data:image/png;base64,') == len(figs)
    for f in figs:
        assert f'id="fig-{f}"' in html
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)="(https?:)?//', html), "external resource in the report"
    if "outcomes" not in r.dataset.attrs["layers"]:
        assert "What this does not yet include" in html
    assert "Appendix: provenance" in html
    for ps in json.loads(r.dataset.attrs["provenance"]):
        assert f'id="set-{ps["id"]}"' in html
        for p in ps["parameters"]:
            assert f"<code>{p['name']}</code>" in html
        for route in ps["routes"]:
            assert f"<code>{route['route']}</code>" in html
    assert "insufflated" in html and "borrowed" in html  # the insufflation module is not the set's own
    for lp in json.loads(r.dataset.attrs["provenance_layers"]):  # parameters of the layers beyond PK, with sources
        assert f"Layer {lp['layer']}: parameters from <code>{lp['file']}</code>" in html
        assert lp["parameters"] and all(p["source"] for p in lp["parameters"])
    for arm in FLAGSHIP.arms:
        assert arm.name in html


def test_iv_cmax_near_published_value(runs):
    # 0.5 mg/kg racemic ketamine IV over 40 min: plasma Cmax about 185 ng/mL
    # (Zanos et al. 2018 Pharmacol Rev Table 1, citing Zarate 2006; reference/pkpd_effects.csv
    # "clinical plasma-concentration anchor: antidepressant" [S], reference/antidepressant.csv).
    t = runs[0].table()["iv-depression"]
    assert 185 / 2 < t["Cmax_ketamine"]["median"] < 185 * 2
    # the plasma peak is at the end of the 40-min infusion (10-min grid)
    assert 0.5 <= t["Tmax_first_ketamine"]["median"] <= 0.84


def test_embedded_default_equals_example_file():
    with open(EXAMPLE, "rb") as fh:
        doc = tomllib.load(fh)
    assert doc == FLAGSHIP.to_dict()
    assert load_scenario(EXAMPLE) == FLAGSHIP
    assert tomllib.loads(FLAGSHIP.to_toml()) == FLAGSHIP.to_dict()
    assert [a["name"] for a in doc["arms"]] == ["iv-depression", "esketamine", "recreational-weekend",
                                                 "dependent-daily"]
    assert doc["population"] == {"n": 1000, "seed": 1} and doc["end"] == "28 d" and doc["step"] == "10 min"
    assert doc["model"] == {"circuit": "best"}


def test_scenario_file_gives_the_same_numbers(runs, tmp_path):
    r = run_flagship(tmp_path, scenario_path=EXAMPLE, quiet=True, report=False, **SMALL)
    pd.testing.assert_frame_equal(r.summary, runs[0].summary)
    assert r.dataset.attrs["scenario_sha256"] == runs[0].dataset.attrs["scenario_sha256"]


def test_to_json_and_print_summary(runs):
    from rich.console import Console

    r = runs[0]
    j = json.loads(json.dumps(r.to_json()))
    assert set(j["summary"]) == {a.name for a in FLAGSHIP.arms}
    m = j["summary"]["iv-depression"]["Cmax_ketamine"]
    assert m["unit"] == "ng/mL" and all(math.isfinite(m[k]) for k in ("median", "p05", "p95"))
    con = Console(record=True, width=100)
    print_summary(r, con)
    out = con.export_text()
    for arm in FLAGSHIP.arms:
        assert arm.name in out
    assert "Cmax" in out and "AUC" in out


@pytest.mark.parametrize("text, expected", [
    ('name = "x"\nend = "1 d"\n[model]\ncircuit = "trn"\n[[arms]]\nregimen = "10 mg iv"\n',
     "line 4, model.circuit: must be 'best' or one of"),
    ('name = "x"\n[[arms]]\nname = "a"\n', "line 2, arms[0].regimen: each arm needs exactly one of regimen"),
    ('name = "x"\n[population]\nn = 0\n[[arms]]\nregimen = "10 mg iv"\n', "line 3, population.n: must be >= 1; got 0."),
    ('name = "x"\n[[arms]]\nname = "a"\nregimen = "10 mg iv"\n[[arms]]\nname = "a"\nregimen = "20 mg iv"\n',
     "arms: arm names must be unique; got 'a' more than once"),
    ('name = "x"\n[[arms]]\nregimen = "10 mg iv"\ndoze = "84 mg"\n', "line 4, arms[0].doze: is not a scenario field"),
])
def test_scenario_errors_name_file_and_field(tmp_path, text, expected):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(InputError) as exc:
        load_scenario(p)
    assert expected in str(exc.value)
    assert str(p) in str(exc.value)


def test_bad_regimen_names_the_arm(tmp_path):
    p = tmp_path / "s.toml"
    doc = FLAGSHIP.to_dict()
    doc["arms"] = [{**doc["arms"][0], "regimen": "0.5 mg/kg intravenus"}]
    from ketasim.scenario import dumps

    p.write_text(dumps(doc))
    with pytest.raises(InputError, match=r"s\.toml, line \d+, arms\[0\]\.regimen: cannot read regimen '0\.5 mg/kg intravenus'"):
        run_flagship(tmp_path / "out", scenario_path=p, quiet=True, **SMALL)
