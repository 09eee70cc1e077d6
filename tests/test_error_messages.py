"""Every user-facing error message, pinned: it names the field, the value and what is allowed."""

import re

import numpy as np
import pytest
from typer.testing import CliRunner

import ketasim as ks
from ketasim.cli import app
from ketasim.dosing import Bolus, Infusion, Regimen

CASES = [
    (lambda: Bolus(0, -5), ks.InputError, "amount must be > 0 mg; got -5. A dose cannot be negative."),
    (lambda: Bolus(0, 0), ks.InputError, "amount must be > 0 mg; got 0. Leave the dose out instead of giving 0."),
    (lambda: Bolus(0, float("nan")), ks.InputError, "amount must be finite; got nan."),
    (lambda: Bolus(0, 5_000_000), ks.InputError,
     "amount must be <= 20000 mg for one dose; got 5e+06 mg. Check the unit (g vs mg, mg vs mg/kg)."),
    (lambda: Bolus(0, 600, per_kg=True), ks.InputError,
     "amount must be <= 500 mg/kg for one dose; got 600 mg/kg. Check the unit (g vs mg, mg vs mg/kg)."),
    (lambda: Bolus(0, 5, route="intranasl"), ks.UnknownNameError,
     "route must be one of 'iv', 'im', 'intranasal', 'insufflated', 'oral', 'sublingual', 'rectal', 'inhaled', "
     "'ip', 'sc'; got 'intranasl'. Did you mean 'intranasal'?"),
    (lambda: Bolus(0, 5, drug="ketamin"), ks.UnknownNameError,
     "drug must be one of 'racemic', 'esketamine', 'arketamine'; got 'ketamin'. Did you mean 'esketamine'?"),
    (lambda: Infusion(0, 5, 0), ks.InputError, "duration must be > 0 h; got 0. Use Bolus(...) for an instantaneous dose."),
    (lambda: Bolus(-1, 5), ks.InputError,
     "time must be >= 0 h; got -1. Shift the regimen so the first dose is at 0 h or later."),
    (lambda: Regimen((Bolus(0, 5),)).repeat(every=0, count=2), ks.InputError, "every must be > 0 h; got 0."),
    (lambda: ks.Subject(weight=7000), ks.InputError, "weight must be between 0.5 and 400 kg for a human; got 7000 kg."),
    (lambda: ks.Subject(sex="X"), ks.UnknownNameError, "sex must be one of 'F', 'M'; got 'X'."),
    (lambda: ks.Subject(species="mouse"), ks.UnknownNameError, "species must be one of 'human', 'rat'; got 'mouse'."),
    (lambda: Bolus(0, 1, per_kg=True).amount_mg(None), ks.InputError,
     "weight is needed for a dose in mg/kg (1 mg/kg at 0 h); got none. Give Subject(weight=...) or a population "
     "with weights."),
    (lambda: ks.simulate("5 mg iv", ks.Subject(), [0, 1], parameters="perez_ruixo_2021_esketamin"),
     ks.UnknownNameError, re.compile(r"parameters must be one of .*; got 'perez_ruixo_2021_esketamin'\. "
                                     r"Did you mean 'perez_ruixo_2021_esketamine'\?")),
    (lambda: ks.simulate("5 mg ip", ks.Subject(), [0, 1]), ks.RouteNotSupportedError,
     "route 'ip' is not available in parameter set 'kamp_2020_racemic_meta' (species human); it supports im, "
     "inhaled, insufflated, intranasal, iv, oral, rectal, sublingual. Choose another set with parameters=..., or "
     "leave parameters unset for the default set of the route."),
    (lambda: ks.simulate("5 mg iv", ks.Subject(), [0, 1], outputs=["C_plasma_ketamin"]), ks.UnknownNameError,
     re.compile(r"outputs must be one of .*; got 'C_plasma_ketamin'\. Did you mean 'C_plasma_ketamine'\?")),
    (lambda: ks.simulate("5 mg iv", ks.Subject(), [1, 0]), ks.InputError,
     "times must be strictly increasing; got 1 h then 0 h at positions 0 and 1. Sort the times and drop "
     "duplicates (numpy.unique)."),
    (lambda: ks.simulate("5 mg iv", ks.Subject(), [-1, 0]), ks.InputError, "times must be >= 0 h; got a minimum of -1 h."),
    (lambda: ks.simulate("5 mg iv", ks.Subject(), [0, np.nan]), ks.InputError,
     "times must be finite numbers of hours; got NaN or infinity."),
    (lambda: ks.sample_population(5, 1), ks.InputError,
     "rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(1)); got int."),
    (lambda: ks.sample_population(0, np.random.default_rng(1)), ks.InputError, "n must be a whole number >= 1; got 0."),
    (lambda: ks.simulate("5 mg iv", ks.Subject(weight=0.3, age=0.25, species="rat"), [0, 1],
                         parameters="kamp_2020_racemic_meta"), ks.InputError,
     "parameter set 'kamp_2020_racemic_meta' is for humans; the population is rat. Choose a set of the same species."),
    (lambda: ks.simulate("5 mg iv", ks.Subject(), [0, 1], outputs=[]), ks.InputError,
     "outputs must name at least one variable; got an empty list."),
    (lambda: ks.get_parameter_set("nope"), ks.UnknownNameError, re.compile(r"parameters must be one of .*; got 'nope'\.")),
]


@pytest.mark.parametrize("call, exc, message", CASES, ids=[str(i) for i in range(len(CASES))])
def test_error_message(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    text = str(info.value)
    if isinstance(message, re.Pattern):
        assert message.fullmatch(text), text
    else:
        assert text == message


def test_errors_are_builtin_exceptions():
    assert issubclass(ks.InputError, ValueError)
    assert issubclass(ks.UnknownNameError, KeyError)
    assert issubclass(ks.RegimenParseError, ValueError)


@pytest.mark.parametrize("args, message", [
    (["simulate", "84 mg intranasl"], "ketasim: error: cannot read regimen '84 mg intranasl' at word 3 'intranasl'"),
    (["simulate", "5 mg iv", "--parameters", "nope"], "ketasim: error: parameters must be one of"),
    (["simulate", "5 mg iv", "--step", "0min"], "ketasim: error: --step must be > 0; got '0min'."),
    (["simulate", "5 mg iv", "--format", "xml"], "ketasim: error: --format must be one of 'csv', 'json', 'netcdf', "
                                                  "'table'; got 'xml'."),
    (["simulate", "5 mg iv", "--weight", "7000"], "ketasim: error: weight must be between 0.5 and 400 kg"),
    (["simulate", "5 mg iv", "--end", "1e9h"], "ketasim: error: --end/--step gives"),
])
def test_cli_errors_are_one_line_without_traceback(args, message):
    res = CliRunner().invoke(app, args)
    assert res.exit_code != 0
    err = res.stderr if hasattr(res, "stderr") else res.output
    assert err.startswith(message), err
    assert "Traceback" not in res.output
    assert err.count("\n") == 1
