"""Pinned wording of parse_regimen's error messages."""

import pytest

from ketasim.errors import InputError, RegimenParseError
from ketasim.regimen_text import parse_regimen

ROUTE_LIST = "'iv', 'im', 'intranasal', 'insufflated', 'oral', 'sublingual', 'rectal', 'inhaled', 'ip', 'sc'"
AFTER_PIECE = "'+', ', then', 'at' or a schedule ('every ...', 'daily ...', 'x ...') or the end of the text"

CASES = [
    ("84 mg intranasl",
     "cannot read regimen '84 mg intranasl' at word 3 'intranasl' (character 7): unknown route; "
     f"expected one of {ROUTE_LIST}. Did you mean 'intranasal'?"),
    ("",
     "cannot read regimen '': the text is empty; expected a dose such as '0.5 mg/kg iv over 40 min'."),
    ("   ",
     "cannot read regimen '   ': the text is empty; expected a dose such as '0.5 mg/kg iv over 40 min'."),
    ("84 mg",
     f"cannot read regimen '84 mg' at the end (after word 2 'mg'): missing route; expected one of {ROUTE_LIST}."),
    ("84 mgs intranasal",
     "cannot read regimen '84 mgs intranasal' at word 2 'mgs' (character 4): unknown dose unit; expected one of "
     "'mg', 'g', 'ug', 'mg/kg', 'mg/h', 'mg/kg/h', 'mg/min', 'mg/kg/min', 'ug/kg/min'. Did you mean 'mg'?"),
    ("2 mg/kg esketamin intranasal",
     "cannot read regimen '2 mg/kg esketamin intranasal' at word 3 'esketamin' (character 9): unknown drug; "
     "expected a drug ('racemic', 'esketamine', 'arketamine') or a route. Did you mean 'esketamine'?"),
    ("mg iv",
     "cannot read regimen 'mg iv' at word 1 'mg' (character 1): missing dose; "
     "expected a number before the unit, e.g. '25 mg oral'."),
    ("84 intranasal",
     "cannot read regimen '84 intranasal' at word 2 'intranasal' (character 4): missing dose unit; "
     "expected a unit such as 'mg', 'mg/kg' or 'mg/h'."),
    ("0 mg iv",
     "cannot read regimen '0 mg iv' at word 1 '0' (character 1): dose must be > 0; got 0; "
     "expected a positive amount. Leave the dose out instead of giving 0."),
    ("-5 mg iv",
     "cannot read regimen '-5 mg iv' at word 1 '-5' (character 1): dose must be > 0; got -5; "
     "expected a positive amount. Leave the dose out instead of giving 0."),
    ("nan mg iv",
     "cannot read regimen 'nan mg iv' at word 1 'nan' (character 1): dose must be a finite number; "
     "expected a number such as '25 mg'."),
    ("25 mg oral every 0 h x 3",
     "cannot read regimen '25 mg oral every 0 h x 3' at word 5 '0' (character 18): "
     "the interval must be > 0 h; got 0 h; expected an interval such as '12 h'."),
    ("25 mg oral every -2 h x 3",
     "cannot read regimen '25 mg oral every -2 h x 3' at word 5 '-2' (character 18): "
     "the interval must be > 0 h; got -2 h; expected an interval such as '12 h'."),
    ("25 mg oral every 12 h x 0",
     "cannot read regimen '25 mg oral every 12 h x 0' at word 8 '0' (character 25): "
     "the count must be a whole number >= 1; got 0; expected a count such as 'x 4'."),
    ("25 mg oral every 12 h x 2.5",
     "cannot read regimen '25 mg oral every 12 h x 2.5' at word 8 '2.5' (character 25): "
     "the count must be a whole number >= 1; got 2.5; expected a count such as 'x 4'."),
    ("1 mg/h iv over 2 h",
     "cannot read regimen '1 mg/h iv over 2 h' at word 4 'over' (character 11): a rate takes 'for <duration>', "
     "not 'over'; expected 'for <duration>'. Write '1 mg/h iv for ...', or give an amount in mg with 'over'."),
    ("1 mg/h iv",
     "cannot read regimen '1 mg/h iv' at the end (after word 3 'iv'): an infusion rate needs its duration; "
     "expected 'for <duration>', e.g. 'for 72 h'."),
    ("25 mg oral daily for",
     "cannot read regimen '25 mg oral daily for' at the end (after word 5 'for'): missing duration after 'for'; "
     "expected a number such as '4 weeks'."),
    ("25 mg oral daily for weeks",
     "cannot read regimen '25 mg oral daily for weeks' at word 6 'weeks' (character 22): "
     "missing duration after 'for'; expected a number such as '4 weeks'."),
    ("(25 mg oral every 30 min x 4 weekly for 12 weeks",
     "cannot read regimen '(25 mg oral every 30 min x 4 weekly for 12 weeks' at word 10 'weekly' (character 30): "
     "a second schedule needs parentheses. Put the repeated part in ( ), as in "
     "'(100 mg insufflated every 30 min x 4) weekly for 12 weeks'."),
    ("(25 mg oral",
     "cannot read regimen '(25 mg oral' at the end (after word 4 'oral'): unbalanced parentheses: "
     "missing ')' to close the '(' at character 1; expected ')'."),
    ("25 mg oral) weekly x 2",
     "cannot read regimen '25 mg oral) weekly x 2' at word 4 ')' (character 11): unbalanced parentheses: "
     "this ')' has no '(' before it. Remove it or add the '('."),
    ("25 mg oral please",
     f"cannot read regimen '25 mg oral please' at word 4 'please' (character 12): unexpected word; "
     f"expected {AFTER_PIECE}."),
    ("25 mg oral dialy for 2 d",
     f"cannot read regimen '25 mg oral dialy for 2 d' at word 4 'dialy' (character 12): unexpected word; "
     f"expected {AFTER_PIECE}. Did you mean 'daily'?"),
    ("25 mg oral #",
     f"cannot read regimen '25 mg oral #' at word 4 '#' (character 12): unexpected '#'; expected {AFTER_PIECE}."),
    ("(25 mg oral 3",
     "cannot read regimen '(25 mg oral 3' at word 5 '3' (character 13): unexpected word; expected '+', ', then', "
     "'at' or a schedule ('every ...', 'daily ...', 'x ...') or ')'."),
    ("50 g iv",
     "cannot read regimen '50 g iv' at word 1 '50' (character 1): amount must be <= 20000 mg for one dose; "
     "got 50000 mg. Check the unit (g vs mg, mg vs mg/kg)."),
    ("600 mg/kg iv",
     "cannot read regimen '600 mg/kg iv' at word 1 '600' (character 1): amount must be <= 500 mg/kg for one dose; "
     "got 600 mg/kg. Check the unit (g vs mg, mg vs mg/kg)."),
    ("35 mg iv over 0 min",
     "cannot read regimen '35 mg iv over 0 min' at word 5 '0' (character 15): duration must be > 0 h; got 0.0. "
     "Use Bolus(...) for an instantaneous dose."),
    ("25 mg oral every 12 h",
     "cannot read regimen '25 mg oral every 12 h' at the end (after word 6 'h'): a schedule needs a count or a "
     "duration; expected 'x <count>' or 'for <duration>'."),
    ("25 mg oral x 3",
     "cannot read regimen '25 mg oral x 3' at word 4 'x' (character 12): 'x <count>' needs an interval before it; "
     "expected 'every <interval> x <count>' or 'daily x <count>'."),
    ("25 mg oral daily for 7 days x 3",
     "cannot read regimen '25 mg oral daily for 7 days x 3' at word 8 'x' (character 29): the schedule already has "
     "its count or duration; expected 'at', '+', ', then' or the end of the text."),
    ("84 mg intranasal for 4 weeks",
     "cannot read regimen '84 mg intranasal for 4 weeks' at word 4 'for' (character 18): 'for' right after a dose "
     "needs a rate or a schedule; expected 'over <duration>' for an infusion, or a schedule before 'for'. "
     "Write e.g. '... daily for 4 weeks' or '... every 12 h for 3 d'."),
    ("25 mg oral, 50 mg iv",
     "cannot read regimen '25 mg oral, 50 mg iv' at word 5 '50' (character 13): ',' must be followed by 'then'; "
     "expected ', then <regimen>'. Use '+' to give doses on the same clock."),
    ("25 mg oral at -2 h",
     "cannot read regimen '25 mg oral at -2 h' at word 5 '-2' (character 15): the start time must be >= 0 h; "
     "got -2 h; expected a time such as '2 h'."),
    ("25 mg oral at 2 h at 3 h",
     "cannot read regimen '25 mg oral at 2 h at 3 h' at word 7 'at' (character 19): 'at' is given twice for the "
     "same dose; expected one 'at <time>'."),
    ("25 mg oral every 12 hrz x 3",
     "cannot read regimen '25 mg oral every 12 hrz x 3' at word 6 'hrz' (character 21): unknown time unit in the "
     "interval after 'every'; expected one of 's', 'min', 'h', 'd', 'week'. Did you mean 'hr'?"),
    ("25 mg oral every 12 x 3",
     "cannot read regimen '25 mg oral every 12 x 3' at word 6 'x' (character 21): missing time unit in the "
     "interval after 'every'; expected one of 's', 'min', 'h', 'd', 'week'."),
    ("25 mg oral twice monthly for 2 d",
     "cannot read regimen '25 mg oral twice monthly for 2 d' at word 5 'monthly' (character 18): "
     "incomplete frequency; expected 'daily' or 'weekly'."),
    ("25 mg oral, then after -1 h 5 mg iv",
     "cannot read regimen '25 mg oral, then after -1 h 5 mg iv' at word 7 '-1' (character 24): "
     "the gap must be >= 0 h; got -1 h; expected a gap such as '2 weeks'."),
    ("25 mg oral +",
     "cannot read regimen '25 mg oral +' at the end (after word 4 '+'): missing dose; "
     "expected a number such as '25 mg'."),
    ("25 mg oral every 1 min x 300000",
     "cannot read regimen '25 mg oral every 1 min x 300000' at word 8 '300000' (character 26): "
     "count gives 300000 dose events; at most 200000 are allowed."),
]


@pytest.mark.parametrize("text, message", CASES, ids=[c[0] or "empty" for c in CASES])
def test_message(text, message):
    with pytest.raises(RegimenParseError) as info:
        parse_regimen(text)
    assert str(info.value) == message


def test_is_a_value_error_and_input_error():
    with pytest.raises(ValueError):
        parse_regimen("84 mg intranasl")
    with pytest.raises(InputError):
        parse_regimen("84 mg intranasl")


def test_error_carries_position():
    with pytest.raises(RegimenParseError) as info:
        parse_regimen("84 mg intranasl")
    err = info.value
    assert (err.text, err.word, err.word_number, err.char) == ("84 mg intranasl", "intranasl", 3, 7)
