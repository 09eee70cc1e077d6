"""The HTTP API with the real app in-process (TestClient): happy paths, every validation error, caps, permalinks."""

from __future__ import annotations

import copy
import hashlib
import io

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import ketasim as ks
from ketasim.scenario import Scenario
from ketasim.web.store import SCHEMA_VERSION

from .conftest import PERSON


def _body(**changes):
    b = copy.deepcopy(PERSON)
    for k, v in changes.items():
        b[k] = v
    return b


# ---------------------------------------------------------------------------- happy paths
def test_health_version_and_provenance_headers(client):
    r = client.get("/api/health")
    assert r.status_code == 200
    j = r.json()
    assert j["status"] == "ok" and j["ketasim_version"] == ks.__version__ and j["schema_version"] == SCHEMA_VERSION
    assert j["database"] == "sqlite"
    assert r.headers["x-ketasim-version"] == ks.__version__
    assert "/api/parameters" in r.headers["x-ketasim-provenance"]
    # every response carries them, the page and errors too
    for path in ("/", "/static/app.js", "/api/nowhere"):
        rr = client.get(path)
        assert rr.headers["x-ketasim-version"] == ks.__version__, path
    # the page may load and call only its own server
    assert "default-src 'self'" in client.get("/").headers["content-security-policy"]


def test_simulate_typical_person_matches_ks_simulate(client):
    """A typical person over the API gives the numbers of ks.simulate(Subject) on the same grid."""
    body = _body(population={"n": 1, "weight": 70, "age": 40, "female_fraction": 0, "variability": False})
    r = client.post("/api/simulate", json=body)
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["arms"] == ["0.5 mg/kg iv over 40 min", "84 mg esketamine intranasal"]
    assert j["ketasim_version"] == ks.__version__
    assert r.headers["x-ketasim-provenance"].startswith(f"scenario sha256 {j['scenario_sha256']}")
    sc = Scenario.from_dict(body)
    assert j["scenario_sha256"] == sc.sha256
    t = np.array(j["time"]["values"])
    np.testing.assert_allclose(t, sc.times())
    for i, regimen in enumerate(j["arms"]):
        ref = ks.simulate(regimen, ks.Subject(weight=70, age=40, sex="M"), t,
                          outputs=["C_plasma_ketamine", "occupancy_NMDA"])
        for v in ("C_plasma_ketamine", "occupancy_NMDA"):
            got = np.array(j["variables"][v]["curves"]["p50"][i], float)
            np.testing.assert_allclose(got, ref[v].values[0], rtol=2e-6, atol=1e-9)  # float32, 7 digits
            # a single subject: all three quantiles equal
            assert j["variables"][v]["curves"]["p05"][i] == j["variables"][v]["curves"]["p95"][i]
        cmax = next(x for x in j["summary"] if x["arm"] == regimen and x["metric"] == "Cmax_ketamine")
        assert cmax["median"] == pytest.approx(float(ref["C_plasma_ketamine"].max()), rel=1e-6)
    assert j["variables"]["C_plasma_ketamine"]["units"] == "ng/mL"
    assert j["variables"]["C_plasma_ketamine"]["group"] == "concentration"
    assert j["variables"]["occupancy_NMDA"]["group"] == "occupancy"
    assert j["variables"]["DA_NAc_pct"]["group"] == "dopamine"
    prov = j["provenance"]
    assert {s["id"] for s in prov["parameter_sets"]} >= {"kamp_2020_racemic_meta"}
    assert all(s["citation"] for s in prov["parameter_sets"])
    assert "peak_dSBP_median" in j["safety"] and len(j["safety"]["peak_dSBP_median"]["values"]) == 2
    assert j["tables"] and j["outcome_subjects"] == 1
    from ketasim.compare_patterns import METRICS

    for key, _head, unit, _var, _how, _meaning in METRICS:
        assert j["outcomes"][key]["units"] == unit and len(j["outcomes"][key]["values"]) == 2


def test_simulate_without_tables_gives_the_same_curves(client):
    full = client.post("/api/simulate", json=PERSON).json()
    fast = client.post("/api/simulate?tables=false", json=PERSON).json()
    assert fast["variables"] == full["variables"] and fast["summary"] == full["summary"]
    assert fast["tables"] is False and fast["safety"] == {} and fast["outcomes"] == {}


def test_simulate_population_quantiles_are_ordered(client):
    body = _body(population={"n": 30, "seed": 3})
    j = client.post("/api/simulate", json=body).json()
    assert j["n_subjects"] == 30
    c = j["variables"]["C_plasma_ketamine"]["curves"]
    lo, mid, hi = (np.array(c[q], float) for q in ("p05", "p50", "p95"))
    assert np.all(lo <= mid + 1e-9) and np.all(mid <= hi + 1e-9)
    assert np.any(hi - lo > 1.0)  # subjects differ
    # the same seed gives the same numbers
    j2 = client.post("/api/simulate", json=body).json()
    assert j2["variables"]["C_plasma_ketamine"] == j["variables"]["C_plasma_ketamine"]


def test_simulate_outcome_variable_on_request(client):
    body = _body(outputs={"variables": ["C_plasma_ketamine", "occupancy_NMDA", "DA_NAc_pct", "dissociation"]})
    j = client.post("/api/simulate", json=body).json()
    assert j["variables"]["dissociation"]["group"] == "outcome"
    assert any(r["metric"] == "final_dissociation" for r in j["summary"])


def test_catalogue_endpoints_read_the_package(client):
    from ketasim.layers.pk import PK_OUTPUTS
    from ketasim.pd_chain import PD_OUTPUTS

    v = {x["name"]: x for x in client.get("/api/variables").json()["variables"]}
    for name, (units, meaning) in {**PK_OUTPUTS, **PD_OUTPUTS}.items():
        assert v[name]["units"] == units and v[name]["meaning"] == meaning
    assert v["C_plasma_ketamine"]["group"] == "concentration" and v["C_plasma_ketamine"]["default"]
    assert v["dissociation"]["group"] == "outcome"

    sets = client.get("/api/parameters").json()["parameter_sets"]
    assert [s["id"] for s in sets] == list(ks.list_parameter_sets())
    one = client.get(f"/api/parameters/{sets[0]['id']}").json()
    ps = ks.get_parameter_set(sets[0]["id"])
    assert {p["name"] for p in one["parameters"]} == set(ps.params)
    assert all(p["source"] or p["note"] for p in one["parameters"])
    r = client.get("/api/parameters/kamp_2020_racemc_meta")
    assert r.status_code == 404 and "kamp_2020_racemic_meta" in r.json()["message"]

    hyps = [h["id"] for h in client.get("/api/hypotheses").json()["hypotheses"]]
    from ketasim.layers.circuit import VARIANTS

    assert hyps == ["best", *VARIANTS]

    exs = client.get("/api/examples").json()["examples"]
    from ketasim.scenario import list_examples

    assert [e["name"] for e in exs] == [n for n, _ in list_examples()]
    for e in exs:
        if e["runs_over_http"]:
            Scenario.from_dict(e["scenario"])  # ready to send as it is

    schema = client.get("/api/schema/scenario").json()
    assert "arms" in schema["properties"]


def test_openapi_and_docs(client):
    spec = client.get("/api/openapi.json").json()
    for p in ("/api/simulate", "/api/runs", "/api/runs/{rid}", "/api/parameters", "/api/variables", "/api/examples",
              "/api/health", "/api/scenarios", "/api/scenarios/{sid}"):
        assert p in spec["paths"], p
    body = spec["paths"]["/api/simulate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    name = body["$ref"].rsplit("/", 1)[-1]
    # the scenario-file schema, one model (ScenarioRequest only refuses server file paths)
    assert spec["components"]["schemas"][name]["properties"].keys() == Scenario.model_json_schema()["properties"].keys()
    assert "field" in spec["components"]["schemas"]["ErrorDetail"]["properties"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()  # served from the package: works offline
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


# ---------------------------------------------------------------------------- validation errors: 422, field, range
BAD = [
    ("missing name", {k: v for k, v in PERSON.items() if k != "name"}, "name", "Field required"),
    ("missing arms", {k: v for k, v in PERSON.items() if k != "arms"}, "arms", "Field required"),
    ("no arms", _body(arms=[]), "arms", "at least 1"),
    ("n zero", _body(population={"n": 0}), "population.n", "greater than or equal to 1"),
    ("n too big", _body(population={"n": 20_000_000}), "population.n", "less than or equal to 10000000"),
    ("n fraction", _body(population={"n": 1.5}), "population.n", "whole number"),
    ("weight range", _body(population={"n": 1, "weight": 1000}), "population.weight", "between 0.02 and 400 kg"),
    ("weight text", _body(population={"n": 1, "weight": "heavy"}), "population.weight", "quantity"),
    ("age range", _body(population={"n": 1, "age": 200}), "population.age", "between 0 and 120 years"),
    ("female fraction", _body(population={"n": 1, "female_fraction": 2}), "population.female_fraction",
     "less than or equal to 1"),
    ("seed negative", _body(population={"n": 1, "seed": -1}), "population.seed", "greater than or equal to 0"),
    ("species", _body(population={"n": 1, "species": "dog"}), "population.species", "'human' or 'rat'"),
    ("parameter set", _body(population={"n": 1, "parameters": "kamp"}), "population.parameters", "parameter-set id"),
    ("end text", _body(end="forever"), "end", "quantity such as '10 min'"),
    ("end negative", _body(end=-1), "end", "> 0 h"),
    ("step > end", _body(end="1 h", step="2 h"), "body", "step"),
    ("grid points", _body(end="1000 d", step="1 s"), "body", "at most 200000"),
    ("not whole steps", _body(end="1 h", step="7 min"), "body", "whole number of steps"),
    ("circuit", _body(model={"circuit": "trn"}), "model.circuit", "trn_disinhibition"),
    ("regimen route", _body(arms=[{"regimen": "84 mg intranasl"}]), "arms[0]", "Did you mean 'intranasal'"),
    ("regimen empty", _body(arms=[{"regimen": " "}]), "arms[0]", "non-empty"),
    ("duplicate arms", _body(arms=[{"regimen": "10 mg iv"}, {"regimen": "10 mg iv"}]), "body", "unique"),
    ("extra field", _body(colour="red"), "colour", "Extra inputs are not permitted"),
    ("arm extra field", _body(arms=[{"regimen": "10 mg iv", "dosage": 3}]), "arms[0].dosage", "Extra inputs"),
    ("nonmem path", _body(arms=[{"nonmem": "/etc/passwd"}]), "arms[0].nonmem", "cannot be used over HTTP"),
    ("quantiles", _body(outputs={"quantiles": [0.5]}), "outputs.quantiles", "must include"),
    ("dose", _body(arms=[{"regimen": "10 mg iv", "dose": "lots"}]), "arms[0]", "amount"),
]


@pytest.mark.parametrize("what,body,field,text", BAD, ids=[b[0] for b in BAD])
def test_every_validation_error_is_422_with_field_and_allowed_values(client, what, body, field, text):
    r = client.post("/api/simulate", json=body)
    assert r.status_code == 422, (what, r.text)
    j = r.json()
    assert j["error"] == "invalid input" and j["ketasim_version"] == ks.__version__
    fields = [d["field"] for d in j["detail"]]
    assert field in fields, (what, fields)
    assert text in j["message"], (what, j["message"])
    assert "Traceback" not in r.text


def test_errors_found_while_simulating_are_422(client):
    r = client.post("/api/simulate", json=_body(outputs={"variables": ["C_plasma_ketamine", "C_plasma_kettle"]}))
    assert r.status_code == 422 and "C_plasma_kettle" in r.json()["message"]
    # a set that cannot give the route: said so, not a 500
    r = client.post("/api/simulate", json=_body(population={"n": 1, "species": "rat"},
                                                 arms=[{"regimen": "84 mg esketamine intranasal"}]))
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("raw,ctype", [(b"{not json", "application/json"), (b"[1, 2]", "application/json"),
                                       (b"name=x", "application/x-www-form-urlencoded"), (b"", "application/json")])
def test_malformed_bodies_are_422(client, raw, ctype):
    r = client.post("/api/simulate", content=raw, headers={"content-type": ctype})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] and "Traceback" not in r.text


def test_bad_path_ids_are_422_or_404(client):
    assert client.get("/api/scenarios/not-a-hash").status_code == 422
    assert client.get("/api/scenarios/" + "0" * 64).status_code == 404
    assert client.get("/api/runs/xyz").status_code == 422
    assert client.get("/api/runs/" + "0" * 32).status_code == 404
    assert client.get("/api/scenarios/" + "0" * 64 + "/download/passwd").status_code == 422


# ---------------------------------------------------------------------------- caps and limits
def test_cost_cap_rejects_with_the_numbers(make_client):
    c = make_client(max_sim_cost=10_000, max_run_cost=20_000, rate_limit=0)
    ok = c.post("/api/simulate", json=_body(population={"n": 10}, arms=[{"regimen": "10 mg iv"}], end="1 d"))
    assert ok.status_code == 200  # 10 x 145 x 1 = 1450
    r = c.post("/api/simulate", json=_body(population={"n": 100}))  # 100 x 145 x 2 = 29000
    assert r.status_code == 422
    j = r.json()
    assert j["error"] == "simulation cost over the limit" and j["cost"] == 29_000 and j["limit"] == 10_000
    assert "subjects 100 x time points 145 x arms 2" in j["message"] and "POST /api/runs" in j["message"]
    r = c.post("/api/runs", json=_body(population={"n": 100}))
    assert r.status_code == 422 and r.json()["limit"] == 20_000
    # the default caps: 100,000 subjects over a day is a background run, not a request
    d = make_client(rate_limit=0, data_dir=str(c.app.state.settings.data_path) + "-2")
    r = d.post("/api/simulate", json=_body(population={"n": 100_000}))
    assert r.status_code == 422 and r.json()["limit"] == 2_000_000


def test_request_size_cap_is_413(make_client):
    c = make_client(max_body_bytes=2_000, rate_limit=0)
    big = _body(description="x" * 5_000)
    r = c.post("/api/simulate", json=big)
    assert r.status_code == 413 and "2,000 bytes" in r.json()["message"]
    # chunked (no Content-Length): counted while reading
    def gen():
        yield b'{"name": "x", "description": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}'
    r = c.post("/api/simulate", content=gen(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_rate_limit_triggers_per_client(make_client):
    c = make_client(rate_limit=3, rate_window_s=60)
    codes = [c.get("/api/health").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    r = c.get("/api/health")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "3 requests in 60 s" in r.json()["message"]
    assert c.get("/").status_code == 200  # the page itself is not limited


def test_cors_is_off_by_default_and_on_by_setting(make_client, tmp_path):
    c = make_client(rate_limit=0)
    r = c.get("/api/health", headers={"origin": "https://example.org"})
    assert "access-control-allow-origin" not in r.headers
    r = c.options("/api/simulate", headers={"origin": "https://example.org", "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    d = make_client(rate_limit=0, cors_origins=("https://example.org",), data_dir=str(tmp_path / "cors"))
    r = d.get("/api/health", headers={"origin": "https://example.org"})
    assert r.headers["access-control-allow-origin"] == "https://example.org"


def test_settings_are_checked():
    from ketasim.errors import InputError
    from ketasim.web import Settings

    with pytest.raises(InputError, match="max_sim_cost must be a whole number >= 1; got 0"):
        Settings(max_sim_cost=0)
    with pytest.raises(InputError, match="rate_limit must be a whole number >= 0"):
        Settings(rate_limit=-1)


# ---------------------------------------------------------------------------- permalinks and downloads
def test_permalink_round_trip(client):
    r = client.post("/api/scenarios", json=PERSON)
    assert r.status_code == 201
    j = r.json()
    sc = Scenario.from_dict(PERSON)
    assert j["id"] == sc.sha256 == hashlib.sha256(sc.to_toml().encode()).hexdigest() and j["new"] is True
    assert j["permalink"].endswith(f"/s/{sc.sha256}")
    again = client.post("/api/scenarios", json=PERSON).json()
    assert again["id"] == j["id"] and again["new"] is False  # content-addressed
    got = client.get(f"/api/scenarios/{j['id']}").json()
    assert Scenario.from_dict(got["scenario"]) == sc and got["toml"] == sc.to_toml()
    page = client.get(f"/s/{j['id']}")
    assert page.status_code == 200 and "ketasim dashboard" in page.text
    # reopening and simulating gives the same scenario
    assert client.post("/api/simulate", json=got["scenario"]).json()["scenario_sha256"] == j["id"]
    # another scenario, another id
    other = client.post("/api/scenarios", json=_body(name="other")).json()
    assert other["id"] != j["id"]


def test_downloads_of_a_saved_scenario(client):
    sid = client.post("/api/scenarios", json=PERSON).json()["id"]
    sim = client.post("/api/simulate", json=PERSON).json()
    r = client.get(f"/api/scenarios/{sid}/download/curves.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    df = pd.read_csv(io.StringIO(r.text))
    assert list(df["arm"].unique()) == sim["arms"]
    arm0 = df[df["arm"] == sim["arms"][0]]
    np.testing.assert_allclose(arm0["C_plasma_ketamine_median [ng/mL]"].to_numpy(),
                               np.array(sim["variables"]["C_plasma_ketamine"]["curves"]["p50"][0], float), rtol=1e-5)
    s = pd.read_csv(io.StringIO(client.get(f"/api/scenarios/{sid}/download/summary.csv").text))
    assert set(s.columns) == {"arm", "metric", "unit", "median", "p05", "p95"}
    row = s[(s.arm == sim["arms"][1]) & (s.metric == "Cmax_ketamine")].iloc[0]
    ref = next(x for x in sim["summary"] if x["arm"] == sim["arms"][1] and x["metric"] == "Cmax_ketamine")
    assert row["median"] == pytest.approx(ref["median"], rel=1e-6)
    nc = client.get(f"/api/scenarios/{sid}/download/results.nc")
    assert nc.status_code == 200 and nc.content[:4] == b"\x89HDF"
    ds = xr.open_dataset(io.BytesIO(nc.content), engine="h5netcdf")
    assert ds.attrs["scenario_sha256"] == sid and ds.attrs["ketasim_version"] == ks.__version__


@pytest.mark.slow
def test_report_download(client):
    sid = client.post("/api/scenarios", json=_body(arms=[{"regimen": "10 mg iv"}])).json()["id"]
    r = client.get(f"/api/scenarios/{sid}/download/report.html")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<html" in r.text[:500].lower() and "data:image/png;base64" in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'none'")  # no script in a report


def test_unknown_scenario_download_is_404(client):
    assert client.get("/api/scenarios/" + "a" * 64 + "/download/curves.csv").status_code == 404
