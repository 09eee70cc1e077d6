"""Doses and regimens: small frozen objects and a regimen algebra.

A :class:`Regimen` is an ordered tuple of dose events, each a :class:`Bolus`
(instantaneous, or absorbed by the route's own kinetics) or an
:class:`Infusion` (zero-order input over ``duration`` hours). Times are in
hours, amounts in mg or, with ``per_kg=True``, in mg per kg of body weight.

Regimens combine like prescriptions (after mrgsolve's ``ev``/``ev_rep``/``ev_seq``):

>>> from ketasim.dosing import Bolus, Regimen
>>> r = Regimen((Bolus(0.0, 56.0, route="intranasal", drug="esketamine"),))
>>> twice_weekly = r.repeat(every=84.0, count=8)
>>> len(twice_weekly.events), twice_weekly.events[-1].time
(8, 588.0)
>>> (r + r.shift(1.0)).events[1].time
1.0
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from .errors import InputError, unknown
from .units import to_hours

__all__ = [
    "ROUTES",
    "HUMAN_ROUTES",
    "ANIMAL_ROUTES",
    "DRUGS",
    "Bolus",
    "Infusion",
    "Regimen",
    "Event",
    "MAX_SINGLE_DOSE_MG",
    "MAX_SINGLE_DOSE_MG_PER_KG",
]

HUMAN_ROUTES = ("iv", "im", "intranasal", "insufflated", "oral", "sublingual", "rectal", "inhaled")
ANIMAL_ROUTES = ("ip", "sc")
ROUTES = HUMAN_ROUTES + ANIMAL_ROUTES
DRUGS = ("racemic", "esketamine", "arketamine")

#: Sanity ceilings for one dose event. Far above any reported use (the largest
#: recreational session doses in use_patterns.csv are a few grams per day); they
#: exist to catch unit slips such as "5 kg" or "2000 mg/kg", not to judge doses.
MAX_SINGLE_DOSE_MG = 20_000.0
MAX_SINGLE_DOSE_MG_PER_KG = 500.0


def _check_common(ev) -> None:
    for name in ("time", "amount"):
        v = getattr(ev, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InputError(f"{name} must be a number; got {v!r}.")
        if not math.isfinite(v):
            raise InputError(f"{name} must be finite; got {v!r}.")
    if ev.time < 0:
        raise InputError(f"time must be >= 0 h; got {ev.time!r}. Shift the regimen so the first dose is at 0 h or later.")
    unit = "mg/kg" if ev.per_kg else "mg"
    if ev.amount < 0:
        raise InputError(f"amount must be > 0 {unit}; got {ev.amount!r}. A dose cannot be negative.")
    if ev.amount == 0:
        raise InputError(f"amount must be > 0 {unit}; got {ev.amount!r}. Leave the dose out instead of giving 0.")
    ceiling = MAX_SINGLE_DOSE_MG_PER_KG if ev.per_kg else MAX_SINGLE_DOSE_MG
    if ev.amount > ceiling:
        raise InputError(
            f"amount must be <= {ceiling:g} {unit} for one dose; got {ev.amount:g} {unit}. "
            "Check the unit (g vs mg, mg vs mg/kg)."
        )
    if ev.route not in ROUTES:
        raise unknown("route", ev.route, ROUTES)
    if ev.drug not in DRUGS:
        raise unknown("drug", ev.drug, DRUGS)


@dataclass(frozen=True, slots=True)
class Bolus:
    """A single dose given at ``time`` (h) by ``route``.

    For ``iv`` the dose enters the central compartment at once; for other routes
    it enters the route's absorption pathway as defined by the parameter set.

    Parameters
    ----------
    time : float
        Dose time in hours (>= 0).
    amount : float
        Dose in mg, or mg/kg of body weight when ``per_kg`` is true.
    route : str
        One of :data:`ROUTES`.
    drug : str
        ``"racemic"`` (default), ``"esketamine"`` or ``"arketamine"``.
    per_kg : bool
        Whether ``amount`` is per kg of body weight.
    """

    time: float
    amount: float
    route: str = "iv"
    drug: str = "racemic"
    per_kg: bool = False

    def __post_init__(self) -> None:
        _check_common(self)

    @property
    def duration(self) -> float:
        """Zero: a bolus has no infusion duration."""
        return 0.0

    def amount_mg(self, weight_kg: float | None) -> float:
        """Dose in mg for a subject of ``weight_kg`` (needed only for mg/kg doses)."""
        return _amount_mg(self, weight_kg)

    def shift(self, dt: float) -> "Bolus":
        return dataclasses.replace(self, time=self.time + dt)

    def to_text(self) -> str:
        return f"{_fmt_amount(self)}{_fmt_drug(self.drug)} {self.route}"


@dataclass(frozen=True, slots=True)
class Infusion:
    """A zero-order input of ``amount`` over ``duration`` hours, starting at ``time``.

    Use :meth:`at_rate` to give a rate (mg/h or mg/kg/h) instead of an amount.

    Examples
    --------
    >>> Infusion(0.0, 35.0, duration=40/60).rate
    52.5
    >>> Infusion.at_rate(0.0, rate=1.2, duration=72.0, per_kg=True).amount
    86.4
    """

    time: float
    amount: float
    duration: float
    route: str = "iv"
    drug: str = "racemic"
    per_kg: bool = False

    def __post_init__(self) -> None:
        _check_common(self)
        d = self.duration
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not math.isfinite(d):
            raise InputError(f"duration must be a finite number of hours; got {d!r}.")
        if d <= 0:
            raise InputError(f"duration must be > 0 h; got {d!r}. Use Bolus(...) for an instantaneous dose.")
        if d > 24 * 365:
            raise InputError(f"duration must be <= 8760 h (one year); got {d!r} h. Check the unit.")

    @classmethod
    def at_rate(cls, time: float, rate: float, duration: float, *, route: str = "iv",
                drug: str = "racemic", per_kg: bool = False) -> "Infusion":
        """An infusion given by its rate (mg/h, or mg/kg/h with ``per_kg``) and duration (h)."""
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
            unit = "mg/kg/h" if per_kg else "mg/h"
            raise InputError(f"rate must be > 0 {unit}; got {rate!r}.")
        return cls(time, round(rate * duration, 12), duration, route=route, drug=drug, per_kg=per_kg)

    @property
    def rate(self) -> float:
        """Infusion rate in mg/h (or mg/kg/h when ``per_kg``)."""
        return self.amount / self.duration

    def amount_mg(self, weight_kg: float | None) -> float:
        """Dose in mg for a subject of ``weight_kg`` (needed only for mg/kg doses)."""
        return _amount_mg(self, weight_kg)

    def shift(self, dt: float) -> "Infusion":
        return dataclasses.replace(self, time=self.time + dt)

    def to_text(self) -> str:
        return f"{_fmt_amount(self)}{_fmt_drug(self.drug)} {self.route} over {_fmt_h(self.duration)}"


Event = Bolus | Infusion


def _amount_mg(ev: Event, weight_kg: float | None) -> float:
    if not ev.per_kg:
        return ev.amount
    if weight_kg is None:
        raise InputError(
            f"weight is needed for a dose in mg/kg ({ev.amount:g} mg/kg at {ev.time:g} h); got none. "
            "Give Subject(weight=...) or a population with weights."
        )
    return ev.amount * weight_kg


def _fmt_num(x: float) -> str:
    """Short form when it reads back exactly, else the shortest exact one (repr)."""
    s = f"{x:.6g}"
    return s if float(s) == x else repr(float(x))


def _fmt_amount(ev: Event) -> str:
    return f"{_fmt_num(ev.amount)} {'mg/kg' if ev.per_kg else 'mg'}"


def _fmt_drug(drug: str) -> str:
    return "" if drug == "racemic" else f" {drug}"


def _fmt_h(hours: float) -> str:
    if hours < 1 and round(hours * 60) / 60 == hours:
        return f"{round(hours * 60)} min"
    return f"{_fmt_num(hours)} h"


@dataclass(frozen=True, slots=True)
class Regimen:
    """An ordered, immutable collection of dose events.

    ``label`` keeps the text the regimen was parsed from, if any.
    """

    events: tuple[Event, ...] = ()
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        evs = tuple(self.events)
        for i, ev in enumerate(evs):
            if not isinstance(ev, (Bolus, Infusion)):
                raise InputError(f"events[{i}] must be a Bolus or an Infusion; got {type(ev).__name__}.")
        object.__setattr__(self, "events", tuple(sorted(evs, key=lambda e: e.time)))

    # --- algebra -------------------------------------------------------------
    def __add__(self, other: "Regimen") -> "Regimen":
        """Merge two regimens (events of both, on the same clock)."""
        if not isinstance(other, Regimen):
            return NotImplemented
        return Regimen(self.events + other.events, label=_join_labels(self, other, " + "))

    def shift(self, dt: float | str) -> "Regimen":
        """Move every event later by ``dt`` (h, or a duration string)."""
        dt = to_hours(dt, "shift")
        label = self.label if not (self.label and dt) else f"({self.label}) at {_fmt_num(dt)} h" if dt > 0 else ""
        return Regimen(tuple(e.shift(dt) for e in self.events), label=label)

    def repeat(self, every: float | str, count: int | None = None, *, until: float | str | None = None) -> "Regimen":
        """Repeat the whole regimen ``count`` times, one copy every ``every`` hours.

        Give exactly one of ``count`` and ``until`` (copies whose start is before
        ``until`` hours are kept).
        """
        every_h = to_hours(every, "every")
        if every_h <= 0:
            raise InputError(f"every must be > 0 h; got {every!r}.")
        if (count is None) == (until is None):
            raise InputError("repeat needs exactly one of count= and until=; got "
                             f"count={count!r}, until={until!r}.")
        if until is not None:
            until_h = to_hours(until, "until")
            if until_h <= 0:
                raise InputError(f"until must be > 0 h; got {until!r}.")
            count = max(1, int(math.ceil(until_h / every_h - 1e-9)))
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InputError(f"count must be a whole number >= 1; got {count!r}.")
        if count * max(1, len(self.events)) > 200_000:
            raise InputError(f"count gives {count * len(self.events)} dose events; at most 200000 are allowed.")
        evs = tuple(e.shift(k * every_h) for k in range(count) for e in self.events)
        label = f"({self.label}) every {_fmt_num(every_h)} h x {count}" if self.label else ""
        return Regimen(evs, label=label)

    def then(self, other: "Regimen", gap: float | str | None = None) -> "Regimen":
        """Follow this regimen by ``other``.

        ``other`` starts ``gap`` hours after this regimen's last dose; with no
        ``gap`` it starts at this regimen's :attr:`period` end (the time the next
        dose of a repeated schedule would have been due).
        """
        if not self.events:
            return other
        start = self.end_of_schedule if gap is None else self.events[-1].time + to_hours(gap, "gap")
        moved = other.shift(start)
        return Regimen(self.events + moved.events, label=_join_labels(self, moved, " + "))

    # --- queries ---------------------------------------------------------------
    @property
    def end_of_schedule(self) -> float:
        """Time (h) when a regimen that follows this one starts.

        For a regularly repeated schedule this is the last dose plus one interval;
        otherwise the end of the last dose (infusions included).
        """
        if not self.events:
            return 0.0
        starts = sorted({e.time for e in self.events})
        if len(starts) >= 2:
            gaps = {round(b - a, 9) for a, b in zip(starts, starts[1:])}
            if len(gaps) == 1:
                return starts[-1] + gaps.pop()
        return max(e.time + e.duration for e in self.events)

    @property
    def drugs(self) -> tuple[str, ...]:
        return tuple(sorted({e.drug for e in self.events}))

    @property
    def routes(self) -> tuple[str, ...]:
        return tuple(sorted({e.route for e in self.events}))

    @property
    def needs_weight(self) -> bool:
        return any(e.per_kg for e in self.events)

    def total_mg(self, weight_kg: float | None = None) -> float:
        """Total amount of drug in mg."""
        return float(sum(e.amount_mg(weight_kg) for e in self.events))

    def to_text(self) -> str:
        """A text form that :func:`ketasim.parse_regimen` reads back (event by event)."""
        if self.label:
            return self.label
        return " + ".join(f"({e.to_text()}) at {_fmt_num(e.time)} h" if e.time else e.to_text() for e in self.events)

    def __len__(self) -> int:
        return len(self.events)

    def __repr__(self) -> str:
        lab = f" {self.label!r}" if self.label else ""
        return f"<Regimen{lab}: {len(self.events)} events>"


def _join_labels(a: Regimen, b: Regimen, op: str) -> str:
    """Label of a combination, kept only while it still describes all the events
    (so that ``to_text`` stays exact); each side in parentheses when it has several parts."""
    if (a.events and not a.label) or (b.events and not b.label):
        return ""
    parts = [x.label for x in (a, b) if x.label]
    if len(parts) == 1:
        return parts[0]
    return op.join(p if _is_simple(p) else f"({p})" for p in parts)


def _is_simple(label: str) -> bool:
    return not any(c in label for c in ",+()") and " then " not in f" {label} "
