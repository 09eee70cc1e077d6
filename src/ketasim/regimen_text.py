"""Read a regimen written like a prescription: ``parse_regimen(text) -> Regimen``.

Grammar (case-insensitive; spaces are free, ``0.5mg/kg`` reads like ``0.5 mg/kg``)::

    regimen   := merged ( [","] "then" ["after" duration] merged )*
    merged    := piece ( "+" piece )*
    piece     := unit [schedule] ["at" duration]       (schedule and "at" in either order)
    unit      := dose | "(" regimen ")"
    dose      := amount [drug] route [drug] ["over" duration]
               | rate   [drug] route [drug] "for" duration
    schedule  := "every" duration ("x" count | "for" duration)
               | frequency ("for" duration | "x" count)
    frequency := ["once" | "twice" | "three" "times"] ("daily" | "weekly")

- *amount*: a number > 0 in ``mg``, ``g``, ``ug`` (``µg``, ``mcg``) or per kg of body
  weight (``mg/kg``, ``ug/kg`` ...). *rate*: an amount per time, e.g. ``mg/h``,
  ``mg/kg/h``, ``mg/min``, ``mg/kg/min``, ``ug/kg/min``; a rate is an infusion
  (:meth:`Infusion.at_rate`) and needs ``for <duration>``, never ``over``.
- *drug*: ``racemic`` (the default), ``esketamine``, ``arketamine``; also ``ketamine``
  (racemic), ``s-ketamine`` and ``r-ketamine``.
- *route*: one of :data:`ketasim.dosing.ROUTES`, or an alias from :data:`ROUTE_ALIASES`
  (``intravenous``, ``nasal``, ``snorted``, ``po`` ...).
- *duration*: a number and a unit: ``s``/``sec``, ``min``/``minute(s)``, ``h``/``hr``/
  ``hour(s)``, ``d``/``day(s)``, ``wk``/``week(s)``. After ``every`` the number may be left
  out (``every day``).
- *schedule*: ``x n`` gives n doses; ``for D`` gives the doses that start before D, i.e.
  ceil(D / interval) of them (``twice weekly for 4 weeks`` = every 84 h, 8 doses).
  ``daily``, ``twice daily``, ``three times daily`` are every 24, 12, 8 h; ``weekly``,
  ``twice weekly``, ``three times weekly`` every 168, 84, 56 h. One schedule per piece: to
  repeat a repeated regimen put it in parentheses.
- ``at T`` starts the piece T hours after its clock origin (:meth:`Regimen.shift`).
- ``+`` merges regimens on the same clock. ``, then`` starts the next part when the
  schedule before it ends: one interval after the last repeat (its next dose would have
  been due), or the end of a single dose; ``, then after G`` starts it G after the last
  dose before it, like ``Regimen.then(other, gap=G)``. ``+`` binds tighter than ``then``.

The regimen's ``label`` is the text itself (stripped). Anything else raises
:class:`~ketasim.errors.RegimenParseError`, which quotes the text, names the word (its
number counts every number, word and symbol ``( ) , +``, from 1) and its character
position, and says what was expected there.

Examples
--------
>>> r = parse_regimen("56 mg esketamine intranasal twice weekly for 4 weeks")
>>> len(r.events), r.events[1].time, r.events[-1].time
(8, 84.0, 588.0)
>>> parse_regimen("1.2 mg/kg/h iv for 72 h").events[0]
Infusion(time=0.0, amount=86.4, duration=72.0, route='iv', drug='racemic', per_kg=True)
>>> len(parse_regimen("(100 mg insufflated every 30 min x 4) weekly for 12 weeks"))
48
>>> [e.time for e in parse_regimen("0.5 mg/kg iv over 40 min + 25 mg oral at 2 h").events]
[0.0, 2.0]
>>> parse_regimen("84 mg intranasl")
Traceback (most recent call last):
...
ketasim.errors.RegimenParseError: cannot read regimen '84 mg intranasl' at word 3 'intranasl' (character 7): unknown route; expected one of 'iv', 'im', 'intranasal', 'insufflated', 'oral', 'sublingual', 'rectal', 'inhaled', 'ip', 'sc'. Did you mean 'intranasal'?
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .dosing import DRUGS, ROUTES, Bolus, Infusion, Regimen
from .errors import InputError, RegimenParseError, suggest

__all__ = ["parse_regimen", "ROUTE_ALIASES", "DRUG_ALIASES", "normalise_route", "normalise_drug"]

#: Other names accepted for routes (the canonical names in ROUTES are accepted too).
ROUTE_ALIASES = {
    "intravenous": "iv", "intramuscular": "im", "nasal": "intranasal",
    "snorted": "insufflated", "po": "oral", "sl": "sublingual", "pr": "rectal",
    "intraperitoneal": "ip", "subcutaneous": "sc",
}
#: Other names accepted for drugs.
DRUG_ALIASES = {"ketamine": "racemic", "s-ketamine": "esketamine", "r-ketamine": "arketamine"}

# time units: hours = value * num / den (kept as a ratio so "40 min" is exactly 40/60 h)
_TIME_UNITS = {}
for _names, _ratio in (
    (("s", "sec", "secs", "second", "seconds"), (1, 3600)),
    (("min", "mins", "minute", "minutes"), (1, 60)),
    (("h", "hr", "hrs", "hour", "hours"), (1, 1)),
    (("d", "day", "days"), (24, 1)),
    (("wk", "wks", "week", "weeks"), (168, 1)),
):
    _TIME_UNITS.update(dict.fromkeys(_names, _ratio))

# mass units: mg = value * mul / div
_MASS_UNITS = {}
for _names, _ratio in (
    (("mg", "milligram", "milligrams"), (1, 1)),
    (("g", "gram", "grams"), (1000, 1)),
    (("ug", "µg", "μg", "mcg", "microgram", "micrograms"), (1, 1000)),
):
    _MASS_UNITS.update(dict.fromkeys(_names, _ratio))

_UNIT_EXAMPLES = ("mg", "g", "ug", "mg/kg", "mg/h", "mg/kg/h", "mg/min", "mg/kg/min", "ug/kg/min")
_FREQ = {"daily": 24.0, "weekly": 168.0}
_TIMES = {"once": 1, "twice": 2, "thrice": 3}
_SCHEDULE_WORDS = ("every", "daily", "weekly", "once", "twice", "thrice", "three")
_KEYWORDS = _SCHEDULE_WORDS + ("over", "for", "x", "at", "then", "after", "times")
_NONFINITE = ("nan", "inf", "infinity", "-inf", "-nan")


def normalise_route(name: str) -> str | None:
    """The canonical route for ``name`` (a route or an alias), or None if unknown.

    >>> normalise_route("Snorted"), normalise_route("iv"), normalise_route("vein")
    ('insufflated', 'iv', None)
    """
    low = str(name).strip().lower()
    return low if low in ROUTES else ROUTE_ALIASES.get(low)


def normalise_drug(name: str) -> str | None:
    """The canonical drug for ``name`` (a drug or an alias), or None if unknown.

    >>> normalise_drug("S-ketamine"), normalise_drug("racemic")
    ('esketamine', 'racemic')
    """
    low = str(name).strip().lower()
    return low if low in DRUGS else DRUG_ALIASES.get(low)


# --- tokens -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str      # "num", "word", "(", ")", ",", "+", "end"
    text: str      # as written
    start: int     # 0-based character offset
    index: int     # 1-based word number
    value: float = math.nan

    @property
    def low(self) -> str:
        """Lower case, inner spaces removed ("mg / kg" -> "mg/kg")."""
        return "".join(self.text.lower().split())


def _is_word_char(c: str) -> bool:
    return c.isalpha() or c in "-/"


def _scan_word(text: str, i: int) -> int:
    while i < len(text) and _is_word_char(text[i]):
        i += 1
    return i


def _skip_spaces(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)

    def add(kind: str, start: int, end: int, value: float = math.nan) -> None:
        toks.append(_Tok(kind, text[start:end], start, len(toks) + 1, value))

    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "(),+":
            add(c, i, i + 1)
            i += 1
        elif c == "×":
            add("word", i, i + 1)
            i += 1
        elif c.isdigit() or (c in "-." and i + 1 < n and (text[i + 1].isdigit() or text[i + 1] == ".")):
            j = i + 1
            while j < n and (text[j].isdigit() or text[j] == "."):
                j += 1
            if j < n and text[j] in "eE":  # exponent only when digits follow
                k = j + 1 + (j + 1 < n and text[j + 1] in "+-")
                if k < n and text[k].isdigit():
                    j = k
                    while j < n and text[j].isdigit():
                        j += 1
            try:
                value = float(text[i:j])
            except ValueError:
                value = math.nan
                toks.append(_Tok("bad", text[i:j], i, len(toks) + 1))
                i = j
                continue
            add("num", i, j, value)
            i = j
        elif _is_word_char(c):
            j = _scan_word(text, i)
            while True:  # join "mg / kg / h" written with spaces into one word
                k = _skip_spaces(text, j)
                if k < n and (text[k] == "/" or (text[j - 1] == "/" and text[k].isalpha())):
                    j = _scan_word(text, k)
                else:
                    break
            add("word", i, j)
            i = j
        else:
            toks.append(_Tok("bad", c, i, len(toks) + 1))
            i += 1
    toks.append(_Tok("end", "", n, len(toks) + 1))
    return toks


# --- parser -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Sched:
    """A parsed part: its events and its schedule's start and end (h, on its own clock)."""

    regimen: Regimen
    start: float
    end: float

    def shift(self, dt: float) -> "_Sched":
        return _Sched(self.regimen.shift(dt), self.start + dt, self.end + dt)


def _quote_list(items) -> str:
    return ", ".join(repr(x) for x in items)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    # -- helpers
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def advance(self) -> _Tok:
        t = self.toks[self.i]
        if t.kind != "end":
            self.i += 1
        return t

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.low in words

    def fail(self, tok: _Tok, problem: str, expected: str | None = None, hint: str = "") -> RegimenParseError:
        if tok.kind == "end":
            prev = self.toks[tok.index - 2] if tok.index > 1 else None
            where = "at the end" + (f" (after word {prev.index} {prev.text!r})" if prev else "")
        else:
            where = f"at word {tok.index} {tok.text!r} (character {tok.start + 1})"
        msg = f"cannot read regimen {self.text!r} {where}: {problem}"
        msg += f"; expected {expected}." if expected else "."
        err = RegimenParseError(msg + hint)
        err.text, err.word, err.word_number, err.char = self.text, tok.text or None, tok.index, tok.start + 1
        return err

    def expect_word(self, word: str, what: str) -> _Tok:
        if not self.is_word(word):
            raise self.fail(self.tok, f"missing '{word}'", what)
        return self.advance()

    def number(self, what: str, example: str) -> tuple[float, _Tok]:
        t = self.tok
        if t.kind == "word" and t.low in _NONFINITE:
            raise self.fail(t, f"{what} must be a finite number", f"a number such as {example!r}")
        if t.kind != "num":
            problem = f"missing {what}" if t.kind in ("end", "word", ")", ",", "+") else f"unexpected {t.text!r}"
            raise self.fail(t, problem, f"a number such as {example!r}")
        if not math.isfinite(t.value):
            raise self.fail(t, f"{what} must be a finite number", f"a number such as {example!r}")
        return self.advance().value, t

    # -- grammar
    def parse(self) -> Regimen:
        if self.tok.kind == "end":
            raise RegimenParseError(
                f"cannot read regimen {self.text!r}: the text is empty; "
                "expected a dose such as '0.5 mg/kg iv over 40 min'.")
        sched = self.sequence()
        t = self.tok
        if t.kind == ")":
            raise self.fail(t, "unbalanced parentheses: this ')' has no '(' before it",
                            hint=" Remove it or add the '('.")
        if t.kind != "end":
            raise self.trailing(t, "the end of the text")
        return Regimen(sched.regimen.events, label=self.text.strip())

    def trailing(self, t: _Tok, closing: str) -> RegimenParseError:
        expected = "'+', ', then', 'at' or a schedule ('every ...', 'daily ...', 'x ...') or " + closing
        hint = suggest(t.low, _KEYWORDS) if t.kind == "word" else ""
        what = "unexpected word" if t.kind in ("word", "num") else f"unexpected {t.text!r}"
        return self.fail(t, what, expected, hint)

    def sequence(self) -> _Sched:
        first = self.merged()
        regimen, start, end = first.regimen, first.start, first.end
        while (self.tok.kind == "," or self.is_word("then")):
            if self.tok.kind == ",":
                self.advance()
                if not self.is_word("then"):
                    raise self.fail(self.tok, "',' must be followed by 'then'", "', then <regimen>'",
                                    " Use '+' to give doses on the same clock.")
            self.advance()  # then
            if self.is_word("after"):
                self.advance()
                gap, gap_tok = self.duration("gap after 'after'", "2 weeks")
                if gap < 0:
                    raise self.fail(gap_tok, f"the gap must be >= 0 h; got {gap:g} h", "a gap such as '2 weeks'")
                origin = regimen.events[-1].time + gap
            else:
                origin = end
            nxt = self.merged().shift(origin)
            regimen = Regimen(regimen.events + nxt.regimen.events)
            end = nxt.end
        return _Sched(regimen, start, end)

    def merged(self) -> _Sched:
        parts = [self.piece()]
        while self.tok.kind == "+":
            self.advance()
            parts.append(self.piece())
        if len(parts) == 1:
            return parts[0]
        evs = tuple(e for p in parts for e in p.regimen.events)
        return _Sched(Regimen(evs), min(p.start for p in parts), max(p.end for p in parts))

    def piece(self) -> _Sched:
        sched = self.unit()
        scheduled = at = False
        while True:
            if self.tok.kind == "word" and (self.tok.low in _SCHEDULE_WORDS or self.tok.low in ("x", "×")):
                if scheduled and self.tok.low in ("x", "×"):
                    raise self.fail(self.tok, "the schedule already has its count or duration",
                                    "'at', '+', ', then' or the end of the text")
                if scheduled:
                    raise self.fail(self.tok, "a second schedule needs parentheses", None,
                                    " Put the repeated part in ( ), as in "
                                    "'(100 mg insufflated every 30 min x 4) weekly for 12 weeks'.")
                sched = self.schedule(sched)
                scheduled = True
            elif self.is_word("at"):
                t = self.advance()
                if at:
                    raise self.fail(t, "'at' is given twice for the same dose", "one 'at <time>'")
                off, off_tok = self.duration("start time after 'at'", "2 h")
                if off < 0:
                    raise self.fail(off_tok, f"the start time must be >= 0 h; got {off:g} h", "a time such as '2 h'")
                sched = sched.shift(off)
                at = True
            else:
                return sched

    def unit(self) -> _Sched:
        if self.tok.kind != "(":
            return self.dose()
        opened = self.advance()
        inner = self.sequence()
        t = self.tok
        if t.kind == "end":
            raise self.fail(t, f"unbalanced parentheses: missing ')' to close the '(' at character {opened.start + 1}",
                            "')'")
        if t.kind != ")":
            raise self.trailing(t, "')'")
        self.advance()
        return inner

    def dose(self) -> _Sched:
        value, num_tok = self.dose_number()
        unit_tok = self.tok
        if unit_tok.kind != "word" or self.route_of(unit_tok) or self.drug_of(unit_tok):
            raise self.fail(unit_tok, "missing dose unit", "a unit such as 'mg', 'mg/kg' or 'mg/h'")
        parsed = _parse_amount_unit(unit_tok.low)
        if parsed is None:
            hint = suggest(unit_tok.low, _UNIT_EXAMPLES)
            raise self.fail(unit_tok, "unknown dose unit", "one of " + _quote_list(_UNIT_EXAMPLES), hint)
        self.advance()
        (mul, div), per_kg, per_time = parsed
        amount = value * mul / div
        drug = self.optional_drug()
        route = self.route()
        if drug is None:
            drug = self.optional_drug()
        drug = drug or "racemic"
        if per_time is not None:  # a rate: infusion given 'for' a duration
            if self.is_word("over"):
                raise self.fail(self.tok, "a rate takes 'for <duration>', not 'over'", "'for <duration>'",
                                f" Write '{num_tok.text} {unit_tok.text} {route} for ...', or give an amount "
                                "in mg with 'over'.")
            if not self.is_word("for"):
                raise self.fail(self.tok, "an infusion rate needs its duration", "'for <duration>', e.g. 'for 72 h'")
            self.advance()
            dur, dur_tok = self.duration("infusion duration after 'for'", "72 h")
            rate = amount * per_time[1] / per_time[0]
            return self.build(lambda: Infusion.at_rate(0.0, rate, dur, route=route, drug=drug, per_kg=per_kg),
                              num_tok, dur_tok)
        if self.is_word("for"):
            raise self.fail(self.tok, "'for' right after a dose needs a rate or a schedule",
                            "'over <duration>' for an infusion, or a schedule before 'for'",
                            " Write e.g. '... daily for 4 weeks' or '... every 12 h for 3 d'.")
        if self.is_word("over"):
            self.advance()
            dur, dur_tok = self.duration("infusion duration after 'over'", "40 min")
            return self.build(lambda: Infusion(0.0, amount, dur, route=route, drug=drug, per_kg=per_kg),
                              num_tok, dur_tok)
        return self.build(lambda: Bolus(0.0, amount, route=route, drug=drug, per_kg=per_kg), num_tok, None)

    def dose_number(self) -> tuple[float, _Tok]:
        t = self.tok
        if t.kind == "word" and t.low not in _NONFINITE and (
                _parse_amount_unit(t.low) or self.route_of(t) or self.drug_of(t)):
            raise self.fail(t, "missing dose", "a number before the unit, e.g. '25 mg oral'")
        value, t = self.number("dose", "25 mg")
        if value <= 0:
            raise self.fail(t, f"dose must be > 0; got {t.text}", "a positive amount",
                            " Leave the dose out instead of giving 0.")
        return value, t

    def build(self, make, num_tok: _Tok, dur_tok: _Tok | None) -> _Sched:
        try:
            ev = make()
        except InputError as exc:
            msg = str(exc)
            tok = dur_tok if dur_tok is not None and msg.startswith("duration") else num_tok
            raise self.fail(tok, msg.rstrip(".")) from None
        return _Sched(Regimen((ev,)), 0.0, ev.duration)

    def route_of(self, t: _Tok) -> str | None:
        return normalise_route(t.text) if t.kind == "word" else None

    def drug_of(self, t: _Tok) -> str | None:
        return normalise_drug(t.text) if t.kind == "word" else None

    def optional_drug(self) -> str | None:
        drug = self.drug_of(self.tok)
        if drug:
            self.advance()
        return drug

    def route(self) -> str:
        t = self.tok
        route = self.route_of(t)
        if route:
            self.advance()
            return route
        names = list(ROUTES) + list(ROUTE_ALIASES) + list(DRUGS) + list(DRUG_ALIASES)
        hint = suggest(t.low, names) if t.kind == "word" else ""
        is_drug = hint and hint.split("'")[1] in list(DRUGS) + list(DRUG_ALIASES)
        problem = ("unknown drug" if is_drug else "unknown route") if t.kind == "word" else "missing route"
        if t.kind == "word" and t.low in _KEYWORDS:
            problem = "missing route"
        expected = f"a drug ({_quote_list(DRUGS)}) or a route" if is_drug else "one of " + _quote_list(ROUTES)
        raise self.fail(t, problem, expected, hint)

    def duration(self, what: str, example: str) -> tuple[float, _Tok]:
        value, num_tok = self.number(what, example)
        return self.time_unit(value, num_tok, what, example), num_tok

    def time_unit(self, value: float, num_tok: _Tok, what: str, example: str) -> float:
        t = self.tok
        ratio = _TIME_UNITS.get(t.low) if t.kind == "word" else None
        if ratio is None:
            hint = suggest(t.low, list(_TIME_UNITS)) if t.kind == "word" else ""
            problem = "unknown time unit" if t.kind == "word" and t.low not in _KEYWORDS else "missing time unit"
            raise self.fail(t, f"{problem} in the {what}", "one of 's', 'min', 'h', 'd', 'week'", hint)
        self.advance()
        return value * ratio[0] / ratio[1]

    def schedule(self, unit: _Sched) -> _Sched:
        t = self.tok
        if t.low in ("x", "×"):
            raise self.fail(t, "'x <count>' needs an interval before it",
                            "'every <interval> x <count>' or 'daily x <count>'")
        if t.low == "every":
            self.advance()
            if self.tok.kind == "word" and self.tok.low in _TIME_UNITS:  # "every day"
                every, every_tok = self.time_unit(1.0, self.tok, "interval", "12 h"), t
            else:
                every, every_tok = self.duration("interval after 'every'", "12 h")
            if every <= 0:
                raise self.fail(every_tok, f"the interval must be > 0 h; got {every:g} h", "an interval such as '12 h'")
        else:
            times = 1
            if t.low in _TIMES:
                times = _TIMES[self.advance().low]
            elif t.low == "three":
                self.advance()
                self.expect_word("times", "'three times daily' or 'three times weekly'")
                times = 3
            if not self.is_word(*_FREQ):
                raise self.fail(self.tok, "incomplete frequency", "'daily' or 'weekly'",
                                suggest(self.tok.low, _FREQ) if self.tok.kind == "word" else "")
            every, every_tok = _FREQ[self.advance().low] / times, t
        if self.is_word("x", "×"):
            self.advance()
            count, count_tok = self.number("count after 'x'", "4")
            if count < 1 or count != int(count):
                raise self.fail(count_tok, f"the count must be a whole number >= 1; got {count_tok.text}",
                                "a count such as 'x 4'")
            kwargs, tok = {"count": int(count)}, count_tok
        elif self.is_word("for"):
            self.advance()
            until, tok = self.duration("duration after 'for'", "4 weeks")
            if until <= 0:
                raise self.fail(tok, f"the duration must be > 0 h; got {until:g} h", "a duration such as '4 weeks'")
            kwargs = {"until": until}
        else:
            raise self.fail(self.tok, "a schedule needs a count or a duration", "'x <count>' or 'for <duration>'")
        try:
            reg = unit.regimen.repeat(every, **kwargs)
        except InputError as exc:
            raise self.fail(tok, str(exc).rstrip(".")) from None
        n = len(reg.events) // max(1, len(unit.regimen.events))
        return _Sched(reg, unit.start, unit.start + n * every)


def _parse_amount_unit(word: str):
    """``mg/kg/h`` -> ((mul, div) to mg, per_kg, (num, den) of the time unit or None)."""
    parts = word.split("/")
    if not parts or parts[0] not in _MASS_UNITS or len(parts) > 3:
        return None
    rest = parts[1:]
    per_kg = bool(rest) and rest[0] == "kg"
    if per_kg:
        rest = rest[1:]
    if len(rest) > 1 or (rest and rest[0] not in _TIME_UNITS):
        return None
    return _MASS_UNITS[parts[0]], per_kg, (_TIME_UNITS[rest[0]] if rest else None)


def parse_regimen(text: str) -> Regimen:
    """Parse a one-line regimen such as ``"0.5 mg/kg iv over 40 min every 84 h x 8"``.

    See the module docstring for the grammar.

    Parameters
    ----------
    text : str
        The regimen, e.g. ``"56 mg esketamine intranasal twice weekly for 1 week, then
        84 mg esketamine intranasal twice weekly for 3 weeks"``.

    Returns
    -------
    Regimen
        Its events, with ``label`` set to the stripped text.

    Raises
    ------
    RegimenParseError
        Pointing at the offending word, with what was expected there.

    Examples
    --------
    >>> r = parse_regimen("35 mg iv over 40 min every 84 h x 8")
    >>> len(r), r.events[0].duration, r.events[-1].time
    (8, 0.6666666666666666, 588.0)
    >>> [e.time for e in parse_regimen("25 mg oral daily for 2 d, then after 1 d 50 mg oral").events]
    [0.0, 24.0, 48.0]
    """
    if not isinstance(text, str):
        raise RegimenParseError(f"regimen text must be a str; got {type(text).__name__} {text!r}.")
    return _Parser(text).parse()
