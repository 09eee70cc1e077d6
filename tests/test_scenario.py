"""Scenario files: round trip, every validation error pinned, --set overrides, examples, CLI."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import yaml

from ketasim import scenario as S
from ketasim.errors import InputError
from ketasim.scenario import ScenarioError, apply_overrides, dumps, load, load_example, loads, replace_doses

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = ("benefit-risk", "children-sedation", "esketamine-label", "iv-depression-trial", "rat-microdialysis",
            "self-administration")
OK = 'name = "x"\nend = "1 d"\n[[arms]]\nregimen = "10 mg iv"\n'


# --- examples and round trip ---------------------------------------------------------
def test_examples_listed_and_shipped_identical_to_repo_copies():
    assert [n for n, _ in S.list_examples()] == sorted(EXAMPLES)
    for n in EXAMPLES:
        assert S.example_text(n) == (REPO / "examples" / f"{n}.toml").read_text(encoding="utf-8"), n


@pytest.mark.parametrize("name", EXAMPLES)
def test_round_trip_load_dump_load(name, tmp_path):
    sc = load_example(name)
    text = dumps(sc)
    again = loads(text)
    assert again == sc
    assert dumps(again) == text
    assert tomllib.loads(text) == sc.to_dict()
    # the same document as YAML and JSON (the web API takes JSON) gives the same scenario
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(sc.to_dict(), sort_keys=False))
    (tmp_path / "s.json").write_text(json.dumps(sc.to_dict()))
    assert load(tmp_path / "s.yaml") == sc
    assert load(tmp_path / "s.json") == sc


def test_defaults_and_derived_values():
    sc = loads(OK)
    assert sc.arms[0].name == "10 mg iv"  # default arm name: the regimen text
    assert (sc.population.n, sc.population.seed, sc.model.circuit, sc.report.formats) == (1000, 1, "best", ("html",))
    assert sc.end_h == 24.0 and sc.step_h == pytest.approx(1 / 6) and sc.times().size == 145
    assert sc.to_dict() == {"name": "x", "end": "1 d", "arms": [{"regimen": "10 mg iv"}]}
    with pytest.raises(Exception):
        sc.name = "y"  # frozen


def test_quantities_numbers_and_distributions():
    sc = loads('name = "x"\nend = 48\nstep = 0.5\n[population]\nweight = { mean = "75 kg", sd = "12 kg" }\n'
               'age = { low = 18, high = 40 }\n[[arms]]\nregimen = "10 mg iv"\n')
    assert sc.end_h == 48 and sc.step_h == 0.5
    assert sc.population.weight.kind == "normal" and sc.population.weight.canonical("mass", "w") == {"mean": 75, "sd": 12}
    lb = loads('name = "x"\n[population]\nweight = "154 lb"\n[[arms]]\nregimen = "10 mg iv"\n')
    assert lb.population.weight == "154 lb"


def test_population_distributions_sampled_deterministically():
    from ketasim.runner import sample_scenario_population

    sc = loads('name = "x"\n[population]\nn = 400\nweight = { mean = "80 kg", sd = "10 kg" }\n[[arms]]\nregimen = "1 mg iv"\n')
    a, b = sample_scenario_population(sc), sample_scenario_population(sc)
    assert np.array_equal(a.covariates["weight"], b.covariates["weight"])
    assert abs(np.mean(a.covariates["weight"]) - 80) < 2 and abs(np.std(a.covariates["weight"]) - 10) < 2
    fixed = sample_scenario_population(loads('name = "x"\n[population]\nn = 3\nweight = 60\nage = 30\n'
                                             '[[arms]]\nregimen = "1 mg iv"\n'))
    assert list(fixed.covariates["weight"]) == [60, 60, 60] and list(fixed.covariates["age"]) == [30, 30, 30]
    # unset covariates draw exactly as sample_population (the flagship's numbers do not move)
    from ketasim.population import sample_population

    d = sample_scenario_population(loads(OK))
    assert np.array_equal(d.covariates["weight"], sample_population(1000, np.random.default_rng(1)).covariates["weight"])


# --- every validation error, pinned ----------------------------------------------------
ERRORS = [
    ('end = "1 d"\n[[arms]]\nregimen = "10 mg iv"\n',
     'f.toml, name: is missing; give the scenario a name, e.g. name = "benefit-risk".'),
    (OK + 'nmae = "y"\n',
     "f.toml, line 5, arms[0].nmae: is not a scenario field; allowed here: description, dose, name, nonmem, parameters, "
     "regimen, source, subject. Did you mean 'name'? (scenario files hold data only, never code)."),
    ('name = "x"\nsetp = "1 h"\n[[arms]]\nregimen = "10 mg iv"\n',
     "f.toml, line 2, setp: is not a scenario field; allowed here: arms, description, end, model, name, outputs, "
     "population, report, step. Did you mean 'step'? (scenario files hold data only, never code)."),
    ('name = "x"\nend = "1 kg"\n[[arms]]\nregimen = "10 mg iv"\n',
     "f.toml, line 2, end: must be a quantity such as '10 min', '28 d' or a number of hours; got '1 kg'."),
    ('name = "x"\nend = "-1 d"\n[[arms]]\nregimen = "10 mg iv"\n', "f.toml, line 2, end: must be > 0 h; got '-1 d'."),
    ('name = "x"\nend = "1 h"\nstep = "2 h"\n[[arms]]\nregimen = "10 mg iv"\n',
     "f.toml, line 3, step: step ('2 h') must be <= end ('1 h')."),
    ('name = "x"\nend = "1 d"\nstep = "7 h"\n[[arms]]\nregimen = "10 mg iv"\n',
     "f.toml, line 3, step: end ('1 d') must be a whole number of steps ('7 h')."),
    ('name = "x"\nend = "1000 d"\nstep = "1 min"\n[[arms]]\nregimen = "10 mg iv"\n',
     "f.toml, line 3, step: end / step gives 1440001 time points; at most 200000 are allowed. Use a larger step."),
    ('name = "x"\n[population]\nn = 0\n[[arms]]\nregimen = "10 mg iv"\n', "f.toml, line 3, population.n: must be >= 1; got 0."),
    ('name = "x"\n[population]\nn = 1.5\n[[arms]]\nregimen = "10 mg iv"\n',
     "f.toml, line 3, population.n: must be a whole number; got 1.5."),
    ('name = "x"\n[population]\nseed = -1\n[[arms]]\nregimen = "10 mg iv"\n',
     "f.toml, line 3, population.seed: must be >= 0; got -1."),
    ('name = "x"\n[population]\nspecies = "mouse"\n[[arms]]\nregimen = "10 mg iv"\n',
     "f.toml, line 3, population.species: must be 'human' or 'rat'; got 'mouse'."),
    ('name = "x"\n[population]\nweight = { mean = "70 kg" }\n[[arms]]\nregimen = "10 mg iv"\n',
     "f.toml, line 3, population.weight: a distribution must be {mean, sd} (normal), {median, gsd} (log-normal) or "
     "{low, high} (uniform); got {mean}."),
    ('name = "x"\n[population]\nweight = "700 kg"\n[[arms]]\nregimen = "10 mg iv"\n',
     "f.toml, line 3, population.weight: must be between 0.02 and 400 kg; got '700 kg'."),
    ('name = "x"\n[population]\nweight = "70 mg/kg"\n[[arms]]\nregimen = "10 mg iv"\n',
     "f.toml, line 3, population.weight: must be a quantity such as '70 kg', '154 lb' or a number of kg; got '70 mg/kg'."),
    ('name = "x"\n[population]\nage = 200\n[[arms]]\nregimen = "10 mg iv"\n',
     "f.toml, line 3, population.age: must be between 0 and 120 years; got 200."),
    ('name = "x"\n[population]\nfemale_fraction = 1.5\n[[arms]]\nregimen = "10 mg iv"\n',
     "f.toml, line 3, population.female_fraction: must be <= 1.0; got 1.5."),
    ('name = "x"\n[population]\nparameters = "kamp_2020"\n[[arms]]\nregimen = "10 mg iv"\n',
     "f.toml, line 3, population.parameters: must be a parameter-set id ("),
    ('name = "x"\n[model]\ncircuit = "trn"\n[[arms]]\nregimen = "10 mg iv"\n',
     "f.toml, line 3, model.circuit: must be 'best' or one of 'trn_disinhibition', 'cortical_disinhibition', "
     "'vta_local', 'opioid' (combine with '+'); got 'trn'."),
    ('name = "x"\n', 'f.toml, arms: is missing; add at least one [[arms]] table with regimen = "...".'),
    ('name = "x"\narms = []\n', 'f.toml, line 2, arms: must list at least one arm; got none. Add an [[arms]] table '
     'with regimen = "...".'),
    ('name = "x"\n[[arms]]\nname = "a"\n',
     "f.toml, line 2, arms[0].regimen: each arm needs exactly one of regimen (text such as '0.5 mg/kg iv over 40 min') "
     "or nonmem (a dose file); got neither."),
    ('name = "x"\n[[arms]]\nregimen = "1 mg iv"\nnonmem = "d.csv"\n',
     "f.toml, line 3, arms[0].regimen: each arm needs exactly one of regimen (text such as '0.5 mg/kg iv over 40 min') "
     "or nonmem (a dose file); got both."),
    ('name = "x"\n[[arms]]\nregimen = "10 mg intravenus"\n',
     "f.toml, line 3, arms[0].regimen: cannot read regimen '10 mg intravenus' at word 3 'intravenus' (character 7): "
     "unknown route; expected one of"),
    ('name = "x"\n[[arms]]\nregimen = "10 mg iv"\ndose = "3 mg/h"\n',
     "f.toml, line 4, arms[0].dose: dose must be an amount such as '84 mg' or '0.5 mg/kg'; got '3 mg/h'."),
    ('name = "x"\n[[arms]]\nregimen = "10 mg iv + 5 mg oral at 1 h"\ndose = ["1 mg"]\n',
     "f.toml, line 4, arms[0].dose: the regimen '10 mg iv + 5 mg oral at 1 h' has 2 dose amounts; got 1 doses. "
     "Give one dose for all, or one per amount in order."),
    ('name = "x"\n[[arms]]\nnonmem = "missing.csv"\n',
     "f.toml, line 3, arms[0].nonmem: NONMEM file 'missing.csv' does not exist (paths are relative to the scenario file; "
     "looked for '"),
    ('name = "x"\n[[arms]]\nname = "a"\nregimen = "1 mg iv"\n[[arms]]\nname = "a"\nregimen = "2 mg iv"\n',
     "f.toml, line 2, arms: arm names must be unique; got 'a' more than once. Give each arm a name."),
    (OK + '[outputs]\nquantiles = [0.1, 0.9]\n',
     "f.toml, line 6, outputs.quantiles: quantiles must include [0.05, 0.25, 0.5, 0.75, 0.95] (the report's bands); "
     "missing [0.05, 0.25, 0.5, 0.75, 0.95]."),
    (OK + '[outputs]\nseries_subjects = -1\n', "f.toml, line 6, outputs.series_subjects: must be >= 0; got -1."),
    (OK + '[report]\nformats = ["docx"]\n', "f.toml, line 6, report.formats[0]: must be 'html' or 'pdf'; got 'docx'."),
    (OK + '[report]\nfigures = "maybe"\n', "f.toml, line 6, report.figures: must be true or false; got 'maybe'."),
    ('name = "x"\nend = \n', "f.toml: not valid TOML: Invalid value (at line 2, column 7)."),
    ('name = "x"\n[[arms]]\nregimen = "1 mg iv"\n__import__ = "os"\n',
     "f.toml, line 4, arms[0].__import__: is not a scenario field; allowed here: description, dose, name, nonmem, "
     "parameters, regimen, source, subject. (scenario files hold data only, never code)."),
]


@pytest.mark.parametrize("text, expected", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_validation_error_pinned(text, expected, tmp_path):
    with pytest.raises(ScenarioError) as exc:
        loads(text, where="f.toml", base_dir=tmp_path)
    msg = str(exc.value)
    assert msg.startswith(expected), msg
    assert isinstance(exc.value, InputError) and isinstance(exc.value, ValueError)


def test_errors_in_a_file_name_the_file_and_line(tmp_path):
    p = tmp_path / "my.toml"
    p.write_text('name = "x"\n\n[population]\n# comment\nn = "many"\n[[arms]]\nregimen = "1 mg iv"\n')
    with pytest.raises(ScenarioError, match=r"^.*my\.toml, line 5, population\.n: must be a whole number; got 'many'\.$"):
        load(p)


def test_yaml_errors_point_at_the_line(tmp_path):
    p = tmp_path / "my.yaml"
    p.write_text("name: x\npopulation:\n  n: 0\narms:\n  - regimen: 1 mg iv\n  - regimen: 2 mg intranasl\n")
    with pytest.raises(ScenarioError) as exc:
        load(p)
    lines = str(exc.value).splitlines()
    assert lines[0] == f"{p}, line 3, population.n: must be >= 1; got 0."
    assert lines[1].startswith(f"{p}, line 6, arms[1].regimen: cannot read regimen '2 mg intranasl'")


def test_yaml_never_builds_objects(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text('name: !!python/object/apply:os.system ["echo hi"]\narms:\n  - regimen: 1 mg iv\n')
    with pytest.raises(ScenarioError, match=r"not valid YAML"):
        load(p)


@pytest.mark.parametrize("name, expected", [
    ("s.txt", "must end in .toml, .yaml, .yml or .json; got '.txt'."),
    ("missing.toml", "does not exist."),
])
def test_file_errors(tmp_path, name, expected):
    p = tmp_path / name
    if name.endswith(".txt"):
        p.write_text(OK)
    with pytest.raises(ScenarioError, match=expected):
        load(p)


def test_top_level_must_be_a_table(tmp_path):
    p = tmp_path / "l.json"
    p.write_text("[1, 2]")
    with pytest.raises(ScenarioError, match=r"the top level must be a table of fields .*; got list\."):
        load(p)


# --- --set overrides ---------------------------------------------------------------------
def test_set_overrides_population_and_dose():
    sc = load_example("benefit-risk", ["population.n=5000", "arms.esketamine.dose=84 mg", "model.circuit=vta_local"])
    assert sc.population.n == 5000 and sc.model.circuit == "vta_local"
    esk = sc.arms[1]
    assert esk.dose == "84 mg"
    assert esk.regimen_text == ("84 mg esketamine intranasal twice weekly for 1 week, "
                                "then 84 mg esketamine intranasal twice weekly for 3 weeks")
    assert len(esk.to_regimen().events) == 8 and {e.amount for e in esk.to_regimen().events} == {84.0}
    # the override is part of the scenario as run (and of its hash)
    assert 'dose = "84 mg"' in sc.to_toml() and loads(sc.to_toml()) == sc
    assert sc.sha256 != load_example("benefit-risk").sha256


def test_set_by_index_quoted_values_and_new_tables():
    doc = {"name": "x", "arms": [{"regimen": "10 mg iv"}]}
    out = apply_overrides(doc, ['arms.0.dose="20 mg"', "report.formats=['html', 'pdf']", "end=48", "description=a b"])
    assert out["arms"][0]["dose"] == "20 mg" and out["report"] == {"formats": ["html", "pdf"]}
    assert out["end"] == 48 and out["description"] == "a b"
    assert doc == {"name": "x", "arms": [{"regimen": "10 mg iv"}]}  # not modified in place


@pytest.mark.parametrize("sets, expected", [
    (["population.n"], "--set must be PATH=VALUE such as population.n=5000; got 'population.n'."),
    (["arms.nope.dose=1 mg"], "--set: arms.nope: no arm named 'nope'; arms are 'iv-depression', 'esketamine', "
                              "'recreational-weekend', 'dependent-daily' (or use an index 0-3)."),
    (["arms.9.dose=1 mg"], "--set: arms.9: there are 4 arms (indices 0-3); got 9."),
    (["name.x=1"], "--set name.x=1: name is a value ('benefit-risk'), not a table."),
    (["arms.esketamine=1"], "--set arms.esketamine=1: arms.esketamine names an arm; set one of its fields"),
    (["population..n=1"], "--set path must be dotted field names such as population.n; got 'population..n'."),
    (["population.n=0"], "population.n: must be >= 1; got 0."),
])
def test_set_errors(sets, expected):
    with pytest.raises(ScenarioError) as exc:
        load_example("benefit-risk", sets)
    assert expected in str(exc.value)


def test_replace_doses_leaves_rates_alone():
    assert replace_doses("1 mg/kg iv + 0.5 mg/kg/h iv for 2 h", "2 mg/kg") == "2 mg/kg iv + 0.5 mg/kg/h iv for 2 h"
    with pytest.raises(InputError, match="has no dose amount"):
        replace_doses("0.5 mg/kg/h iv for 2 h", "1 mg")


# --- NONMEM arms ---------------------------------------------------------------------------
def test_nonmem_arm_relative_to_the_scenario_file(tmp_path):
    from ketasim import parse_regimen, write_nonmem
    from ketasim.runner import run_scenario

    write_nonmem({"7": parse_regimen("20 mg iv over 10 min every 12 h x 2")}, tmp_path / "doses.csv")
    (tmp_path / "s.toml").write_text('name = "nm"\nend = "1 d"\nstep = "30 min"\n[population]\nn = 4\n'
                                     '[[arms]]\nnonmem = "doses.csv"\n[[arms]]\nname = "text"\n'
                                     'regimen = "20 mg iv over 10 min every 12 h x 2"\n')
    sc = load(tmp_path / "s.toml")
    assert sc.arms[0].name == "doses" and len(sc.arms[0].to_regimen().events) == 2
    r = run_scenario(sc, tmp_path / "out", progress=False, report=False)
    a, b = r.dataset["Cmax_ketamine"].values
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_nonmem_with_several_ids_needs_subject(tmp_path):
    from ketasim import parse_regimen, write_nonmem

    write_nonmem({"1": parse_regimen("10 mg iv"), "2": parse_regimen("20 mg iv")}, tmp_path / "d.csv")
    with pytest.raises(ScenarioError, match=r"arms\[0\]\.nonmem: the NONMEM file has 2 IDs \(1, 2\); choose one with "
                                            r"subject = \"<ID>\"\."):
        loads('name = "x"\n[[arms]]\nnonmem = "d.csv"\n', base_dir=tmp_path)
    sc = loads('name = "x"\n[[arms]]\nnonmem = "d.csv"\nsubject = "2"\n', base_dir=tmp_path)
    assert sc.arms[0].to_regimen().events[0].amount == 20


# --- schema -------------------------------------------------------------------------------
def test_json_schema_describes_the_format():
    s = S.json_schema()
    assert s["title"] == "ketasim scenario" and s["additionalProperties"] is False
    assert set(s["required"]) == {"name", "arms"}
    assert {"name", "end", "step", "population", "model", "arms", "outputs", "report"} <= set(s["properties"])
    assert "regimen" in s["$defs"]["Arm"]["properties"]
    json.dumps(s)
