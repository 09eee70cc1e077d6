"""Property: a regimen's text form parses back to the same events."""

import io
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from ketasim.dosing import DRUGS, ROUTES, Bolus, Infusion, Regimen
from ketasim.io import read_nonmem, write_nonmem
from ketasim.regimen_text import parse_regimen

amounts = st.one_of(
    st.integers(1, 5000).map(float),
    st.floats(0.001, 500.0, allow_nan=False, allow_infinity=False),
)
times = st.one_of(st.integers(0, 2000).map(lambda k: k / 4), st.floats(0.0, 5000.0, allow_nan=False))
durations = st.one_of(
    st.integers(1, 59).map(lambda m: m / 60),        # written as "N min"
    st.integers(1, 400).map(lambda k: k / 4),        # written in h
    st.floats(0.01, 500.0, allow_nan=False),
)


@st.composite
def events(draw):
    per_kg = draw(st.booleans())
    amount = draw(amounts)
    if per_kg:
        amount = min(amount, 500.0)
    kw = dict(route=draw(st.sampled_from(ROUTES)), drug=draw(st.sampled_from(DRUGS)), per_kg=per_kg)
    if draw(st.booleans()):
        return Bolus(draw(times), amount, **kw)
    return Infusion(draw(times), amount, draw(durations), **kw)


@settings(max_examples=300, deadline=None)
@given(st.lists(events(), min_size=1, max_size=6))
def test_event_by_event_round_trip(evs):
    r = Regimen(tuple(evs))
    assert parse_regimen(r.to_text()).events == r.events


@st.composite
def simple_texts(draw):
    """A dose, maybe a schedule, maybe a start time; and the regimen built with the algebra."""
    ev = draw(events())
    ev = ev.shift(-ev.time)
    text = ev.to_text()
    reg = Regimen((ev,))
    kind = draw(st.sampled_from(["none", "every_x", "every_for", "freq"]))
    if kind == "every_x":
        every, n = draw(st.integers(1, 200)), draw(st.integers(1, 20))
        text += f" every {every} h x {n}"
        reg = reg.repeat(float(every), n)
    elif kind == "every_for":
        every, span = draw(st.integers(1, 48)), draw(st.integers(1, 30))
        text += f" every {every} h for {span} d"
        reg = reg.repeat(float(every), math.ceil(24 * span / every))
    elif kind == "freq":
        word, hours = draw(st.sampled_from([("daily", 24.0), ("twice daily", 12.0), ("weekly", 168.0),
                                            ("twice weekly", 84.0), ("three times weekly", 56.0)]))
        n = draw(st.integers(1, 12))
        text += f" {word} x {n}"
        reg = reg.repeat(hours, n)
    if draw(st.booleans()):
        at = draw(st.integers(1, 100))
        text += f" at {at} h"
        reg = reg.shift(float(at))
    return text, reg


@settings(max_examples=300, deadline=None)
@given(st.lists(simple_texts(), min_size=1, max_size=3))
def test_text_parse_to_text_parse(pieces):
    text = " + ".join(t for t, _ in pieces)
    expected = Regimen(tuple(e for _, r in pieces for e in r.events))
    r = parse_regimen(text)
    assert r.events == expected.events
    assert parse_regimen(r.to_text()).events == r.events


@st.composite
def mg_events(draw):
    """Events in mg with infusion durations in whole seconds (how NONMEM files give them)."""
    kw = dict(route=draw(st.sampled_from(ROUTES)), drug=draw(st.sampled_from(DRUGS)))
    amount, time = draw(amounts), draw(times)
    if draw(st.booleans()):
        return Bolus(time, amount, **kw)
    return Infusion(time, amount, draw(st.integers(1, 30 * 24 * 3600)) / 3600, **kw)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text("abcXYZ019-_", min_size=1, max_size=5),
                       st.lists(mg_events(), min_size=1, max_size=5).map(lambda e: Regimen(tuple(e))),
                       min_size=1, max_size=4))
def test_nonmem_round_trip(regimens):
    buf = io.StringIO()
    write_nonmem(regimens, buf)
    buf.seek(0)
    assert read_nonmem(buf) == regimens
