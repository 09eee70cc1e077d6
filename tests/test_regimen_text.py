"""parse_regimen: one test per grammar form, with the exact events expected."""

import pytest

from ketasim.dosing import Bolus, Infusion, Regimen
from ketasim.errors import RegimenParseError
from ketasim.regimen_text import parse_regimen


def events(text):
    return parse_regimen(text).events


def boluses(times, amount, **kw):
    return tuple(Bolus(float(t), amount, **kw) for t in times)


# --- single doses -------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("84 mg intranasal", Bolus(0.0, 84.0, route="intranasal")),
    ("25 mg oral", Bolus(0.0, 25.0, route="oral")),
    ("2 mg/kg iv", Bolus(0.0, 2.0, route="iv", per_kg=True)),
    ("2 mg/kg esketamine intranasal", Bolus(0.0, 2.0, route="intranasal", drug="esketamine", per_kg=True)),
    ("100 mg insufflated", Bolus(0.0, 100.0, route="insufflated")),
    ("0.5 mg/kg iv over 40 min", Infusion(0.0, 0.5, 40 / 60, route="iv", per_kg=True)),
])
def test_dose_forms(text, expected):
    assert events(text) == (expected,)


def test_mass_units_convert_to_mg():
    assert events("1 g oral") == (Bolus(0.0, 1000.0, route="oral"),)
    assert events("500 ug iv") == (Bolus(0.0, 0.5),)
    assert events("500 µg iv") == (Bolus(0.0, 0.5),)
    assert events("500 mcg iv") == (Bolus(0.0, 0.5),)
    assert events("250 ug/kg im") == (Bolus(0.0, 0.25, route="im", per_kg=True),)


@pytest.mark.parametrize("word, drug", [
    ("", "racemic"), ("racemic", "racemic"), ("ketamine", "racemic"),
    ("esketamine", "esketamine"), ("s-ketamine", "esketamine"),
    ("arketamine", "arketamine"), ("r-ketamine", "arketamine"),
])
def test_drug_words(word, drug):
    assert events(f"10 mg {word} iv")[0].drug == drug


def test_drug_may_follow_the_route():
    assert events("84 mg intranasal esketamine") == (Bolus(0.0, 84.0, route="intranasal", drug="esketamine"),)


@pytest.mark.parametrize("alias, route", [
    ("intravenous", "iv"), ("intramuscular", "im"), ("nasal", "intranasal"), ("snorted", "insufflated"),
    ("po", "oral"), ("sl", "sublingual"), ("pr", "rectal"), ("intraperitoneal", "ip"), ("subcutaneous", "sc"),
])
def test_route_aliases(alias, route):
    assert events(f"10 mg {alias}")[0].route == route


@pytest.mark.parametrize("route", ["iv", "im", "intranasal", "insufflated", "oral", "sublingual",
                                   "rectal", "inhaled", "ip", "sc"])
def test_every_route(route):
    assert events(f"10 mg {route}")[0].route == route


def test_case_and_whitespace_tolerant():
    assert events("  0.5MG / KG   IV  Over 40MIN ") == events("0.5 mg/kg iv over 40 min")
    assert events("0.5mg/kg iv over 40min") == events("0.5 mg/kg iv over 40 min")


@pytest.mark.parametrize("unit, hours", [
    ("30 s", 30 / 3600), ("90 sec", 90 / 3600), ("40 min", 40 / 60), ("2 minutes", 2 / 60),
    ("2 h", 2.0), ("2 hr", 2.0), ("3 hours", 3.0), ("1 d", 24.0), ("2 days", 48.0),
    ("1 wk", 168.0), ("2 weeks", 336.0),
])
def test_duration_units(unit, hours):
    assert events(f"10 mg iv over {unit}")[0].duration == hours


# --- rates ---------------------------------------------------------------------------

def test_rate_form_mg_per_kg_per_h():
    assert events("1.2 mg/kg/h iv for 72 h") == (Infusion(0.0, 86.4, 72.0, route="iv", per_kg=True),)


@pytest.mark.parametrize("text, amount, duration, per_kg", [
    ("10 mg/h iv for 2 h", 20.0, 2.0, False),
    ("0.5 mg/min iv for 1 h", 30.0, 1.0, False),
    ("0.01 mg/kg/min iv for 1 h", 0.6, 1.0, True),
    ("5 ug/kg/min iv for 2 h", 0.6, 2.0, True),
    ("24 mg/d oral for 2 d", 48.0, 48.0, False),
])
def test_rate_units(text, amount, duration, per_kg):
    (ev,) = events(text)
    assert isinstance(ev, Infusion)
    assert (ev.per_kg, ev.duration) == (per_kg, duration)
    assert ev.amount == pytest.approx(amount, rel=1e-12)


# --- repeats -------------------------------------------------------------------------

def test_every_x_count():
    assert events("100 mg insufflated every 30 min x 4") == boluses([0, 0.5, 1, 1.5], 100.0, route="insufflated")


def test_infusion_every_x_count():
    got = events("35 mg iv over 40 min every 84 h x 8")
    assert got == tuple(Infusion(84.0 * k, 35.0, 40 / 60) for k in range(8))


def test_every_for_duration():
    assert events("25 mg oral every 12 h for 2 d") == boluses([0, 12, 24, 36], 25.0, route="oral")


def test_every_unit_without_number():
    assert events("25 mg oral every day x 3") == boluses([0, 24, 48], 25.0, route="oral")


def test_twice_weekly_for_4_weeks():
    got = events("56 mg intranasal twice weekly for 4 weeks")
    assert got == boluses([84 * k for k in range(8)], 56.0, route="intranasal")
    assert got[-1].time == 588.0


@pytest.mark.parametrize("text, times", [
    ("25 mg oral daily for 7 days", [24 * k for k in range(7)]),
    ("25 mg oral once daily for 2 days", [0, 24]),
    ("25 mg oral twice daily for 2 days", [0, 12, 24, 36]),
    ("25 mg oral three times daily for 1 day", [0, 8, 16]),
    ("25 mg oral weekly for 3 weeks", [0, 168, 336]),
    ("25 mg oral three times weekly for 1 week", [0, 56, 112]),
    ("25 mg oral daily x 3", [0, 24, 48]),
    ("25 mg oral twice weekly x 3", [0, 84, 168]),
])
def test_frequency_words(text, times):
    assert events(text) == boluses(times, 25.0, route="oral")


def test_parenthesised_regimen_repeated():
    got = events("(100 mg insufflated every 30 min x 4) weekly for 12 weeks")
    assert len(got) == 48
    assert got == boluses([168 * w + s for w in range(12) for s in (0, 0.5, 1, 1.5)], 100.0, route="insufflated")


# --- sequences, merges, start times ----------------------------------------------------

def test_then_starts_when_the_first_schedule_ends():
    got = events("56 mg esketamine intranasal twice weekly for 1 week, "
                 "then 84 mg esketamine intranasal twice weekly for 3 weeks")
    kw = dict(route="intranasal", drug="esketamine")
    assert got == boluses([0, 84], 56.0, **kw) + boluses([168 + 84 * k for k in range(6)], 84.0, **kw)


def test_then_matches_regimen_then_for_simple_schedules():
    a = parse_regimen("56 mg esketamine intranasal twice weekly for 1 week")
    b = parse_regimen("84 mg esketamine intranasal twice weekly for 3 weeks")
    assert events(f"{a.label}, then {b.label}") == a.then(b).events


def test_then_after_gap_counts_from_the_last_dose():
    got = events("25 mg oral daily for 2 days, then after 1 week 50 mg oral")
    assert got == boluses([0, 24], 25.0, route="oral") + (Bolus(24.0 + 168.0, 50.0, route="oral"),)
    a, b = parse_regimen("25 mg oral daily for 2 days"), parse_regimen("50 mg oral")
    assert got == a.then(b, gap="1 week").events


def test_then_after_a_repeated_session_uses_the_outer_interval():
    got = events("(100 mg insufflated every 30 min x 4) weekly for 2 weeks, then 25 mg oral")
    assert got[-1] == Bolus(336.0, 25.0, route="oral")


def test_then_after_single_infusion_starts_at_its_end():
    got = events("0.5 mg/kg iv over 40 min, then 25 mg oral")
    assert got[-1] == Bolus(40 / 60, 25.0, route="oral")


def test_then_without_comma():
    assert events("25 mg oral then after 2 h 25 mg oral") == boluses([0, 2], 25.0, route="oral")


def test_merge_with_plus():
    assert events("0.5 mg/kg iv over 40 min + 25 mg oral") == (
        Infusion(0.0, 0.5, 40 / 60, per_kg=True), Bolus(0.0, 25.0, route="oral"))


def test_plus_binds_tighter_than_then():
    got = events("25 mg oral + 10 mg iv, then 50 mg oral")
    assert [e.time for e in got] == [0.0, 0.0, 0.0]
    got = events("25 mg oral + 10 mg iv at 1 h, then after 1 h 50 mg oral")
    assert [(e.time, e.amount) for e in got] == [(0.0, 25.0), (1.0, 10.0), (2.0, 50.0)]


def test_at_start_offset():
    assert events("25 mg oral at 2 h") == (Bolus(2.0, 25.0, route="oral"),)
    assert events("(25 mg oral) at 30 min") == (Bolus(0.5, 25.0, route="oral"),)
    assert events("25 mg oral every 12 h x 2 at 1 h") == boluses([1, 13], 25.0, route="oral")
    assert events("25 mg oral at 1 h every 12 h x 2") == boluses([1, 13], 25.0, route="oral")


def test_nested_parentheses():
    got = events("((10 mg iv every 1 h x 2) daily x 2) weekly x 2")
    assert [e.time for e in got] == [0, 1, 24, 25, 168, 169, 192, 193]


def test_label_is_the_stripped_text():
    r = parse_regimen("  84 mg intranasal \n")
    assert r.label == "84 mg intranasal"
    assert isinstance(r, Regimen)


# --- round trips through Regimen.to_text ---------------------------------------------

@pytest.mark.parametrize("text", [
    "0.5 mg/kg iv over 40 min every 84 h x 8",
    "(100 mg insufflated every 30 min x 4) weekly for 12 weeks",
    "56 mg esketamine intranasal twice weekly for 1 week, then 84 mg esketamine intranasal twice weekly for 3 weeks",
    "0.5 mg/kg iv over 40 min + 25 mg oral at 2 h",
])
def test_to_text_round_trip_of_parsed(text):
    r = parse_regimen(text)
    assert parse_regimen(r.to_text()).events == r.events


def test_to_text_round_trip_event_by_event():
    r = Regimen((
        Bolus(0.0, 25.0, route="oral"),
        Bolus(1 / 3, 2.0, route="intranasal", drug="esketamine", per_kg=True),
        Infusion(2.5, 35.0, 40 / 60),
        Infusion(7.0, 86.4, 72.0, per_kg=True, drug="arketamine"),
        Bolus(10.125, 0.123456789, route="sublingual"),
    ))
    assert parse_regimen(r.to_text()).events == r.events


@pytest.mark.parametrize("build", [
    lambda a, b: a.repeat(12, 3),
    lambda a, b: a.shift(2),
    lambda a, b: a + b,
    lambda a, b: b.then(a),
    lambda a, b: b.then(a, gap="5 h"),
    lambda a, b: a + Regimen((Bolus(1.0, 3.0),)),
    lambda a, b: (a + b).then(b).repeat(1000, until=3000),
])
def test_to_text_round_trip_after_algebra(build):
    a = parse_regimen("25 mg oral")
    b = parse_regimen("(100 mg insufflated every 30 min x 4) weekly for 2 weeks")
    r = build(a, b)
    assert parse_regimen(r.to_text()).events == r.events


def test_not_a_string():
    with pytest.raises(RegimenParseError, match="must be a str; got int 3"):
        parse_regimen(3)
