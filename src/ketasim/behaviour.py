"""Reinforcement learning and self-administration: an agent that chooses to take the drug.

The agent is a temporal-difference learner with a drug-induced dopamine term
that prediction cannot cancel (Redish 2004 Science 306:1944; reference
``behaviour.csv``, computational_model rows)::

    delta = max(r + D - Q, D)          Q <- Q + alpha * delta

For a natural reward (``D = 0``) ``delta = r - Q`` vanishes once ``Q = r``:
the value saturates. For a drug, every delivery gives ``delta >= D > 0``, so
the value of drug-predicting actions keeps rising. The drug term comes from
the dopamine layer of the chosen circuit variant (``DA_NAc_pct``, via
:func:`ketasim.pd_chain.run_pd`) and is reduced by the slow tolerance state of
:mod:`ketasim.layers.tolerance`::

    D = kappa * RF(S) * max(0, DA(t_inf + tau) - DA(t_inf)) / 100

Homeostatic terms bound the behaviour: unreinforced (time-out) presses
extinguish the value, the value decays between sessions, the capacity to
respond falls with NMDA occupancy (ataxia, sedation), and the value of the
alternative activities falls with the same tolerance state (Dezfouli et al.
2009: long-term drug use raises the basal reward level). Choice each step::

    pi = sigmoid(beta * (gamma^(FR-1) Q - q_other RF(S)))
    presses ~ Poisson(lambda_max * pi * capacity * dt),   capacity = 1 / (1 + (x / x50)^h)

:func:`self_administration` steps time, lets every subject press, places the
infusions its presses earn (fixed ratio, time-out) in its own regimen and
resumes the exact PK from the saved state (:func:`ketasim.layers.pk.pk_state`)
- nothing is re-simulated from time zero, and the result equals simulating the
final regimens directly (tested). Parameters: ``data/behaviour/agent.yaml``.
"""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache
from importlib import resources
from typing import Callable, Sequence

import numpy as np
import xarray as xr
import yaml

from . import __version__
from .dosing import Bolus, Infusion, Regimen
from .errors import InputError, unknown
from .layers.exposure import BLOCKADE_INPUTS, BLOCKADE_RATE_INPUTS, blockade_integral, blockade_odds
from .layers.pk import input_span, pk_state, run_pk
from .layers.tolerance import response_factor, tolerance_parameters, tolerance_step
from .parameters import get_parameter_set
from .pd_chain import circuit_label, run_pd
from .population import Population, Subject, as_population

__all__ = ["agent_parameters", "td_update", "choice_probability", "response_capacity", "satiety", "parse_access",
           "parse_schedule", "parse_unit_dose", "self_administration", "earned_regimens", "SA_SPECIES"]

SA_SPECIES = ("rat", "human")
_UNIT_TO = {"s": 1 / 3600, "min": 1 / 60, "h": 1.0}


@lru_cache(maxsize=4)
def _raw(species: str) -> tuple:
    raw = yaml.safe_load((resources.files("ketasim") / "data" / "behaviour" / "agent.yaml").read_text())
    if species not in raw:
        raise unknown("species", species, list(raw))
    out = {}
    for k, v in raw[species].items():
        val = float(v["value"])
        out[k] = val * _UNIT_TO[v["unit"]] if v["unit"] in _UNIT_TO else val   # times in h
    return tuple(out.items())


def agent_parameters(species: str = "rat", **overrides: float) -> dict:
    """Agent parameters for ``"rat"`` or ``"human"`` (times in h), with optional overrides.

    Examples
    --------
    >>> p = agent_parameters("rat")
    >>> round(p["timeout"] * 3600), p["alpha"]
    (20, 0.1)
    """
    p = dict(_raw(species))
    for k, v in overrides.items():
        if k not in p:
            raise unknown("agent parameter", k, sorted(p))
        p[k] = float(v)
    return p


def td_update(q: np.ndarray, drug_signal: np.ndarray, reward: np.ndarray | float = 0.0,
              alpha: float = 0.1) -> np.ndarray:
    """One TD update with a non-compensable drug term (Redish 2004).

    ``delta = max(r + D - Q, D)``; ``Q + alpha * delta``. With ``D = 0`` this is
    ordinary TD learning of a terminal reward ``r`` (Q -> r); with ``D > 0`` the
    value rises by at least ``alpha * D`` at every delivery.

    Examples
    --------
    >>> float(td_update(np.array(1.0), 0.0, reward=1.0))     # a learned natural reward: no change
    1.0
    >>> float(td_update(np.array(5.0), 0.5, alpha=0.1))      # the drug term cannot be predicted away
    5.05
    """
    q = np.asarray(q, float)
    d = np.asarray(drug_signal, float)
    delta = np.maximum(reward + d - q, d)
    return q + alpha * delta


def choice_probability(q: np.ndarray, params: dict, ratio: int = 1, rf: np.ndarray | float = 1.0) -> np.ndarray:
    """Probability of working for the drug rather than the alternative (softmax of two values).

    The first press of an FRn chain is worth ``gamma_press**(n-1)`` of the
    reinforcer; the alternative's value is scaled by the tolerance response
    factor ``rf``.
    """
    v = np.asarray(q, float) * params["gamma_press"] ** (ratio - 1) - params["q_other"] * np.asarray(rf, float) \
        ** params["other_tolerance"]
    return 1.0 / (1.0 + np.exp(-params["beta"] * v))


def response_capacity(odds: np.ndarray, params: dict) -> np.ndarray:
    """Fraction (0, 1] of the unimpaired press rate left at NMDA occupancy odds ``x``: ``1 / (1 + (x / x50)^h)``.

    Examples
    --------
    >>> float(response_capacity(np.array(2.0), {"x50": 2.0, "h_capacity": 4.0}))
    0.5
    """
    x = np.clip(np.asarray(odds, float), 0.0, None) / params["x50"]
    return 1.0 / (1.0 + x ** params["h_capacity"])


def satiety(da_pct: np.ndarray, rf: np.ndarray | float, params: dict) -> np.ndarray:
    """Homeostatic press drive (0, 1]: falls as the experienced dopamine rise nears the set point.

    ``1 / (1 + (RF (DA - 100) / dDA50)^h_sat)`` with DA in % of baseline; the
    tolerance response factor ``RF`` shrinks the experienced rise, so a tolerant
    animal needs more drug to reach the same set point (homeostatic RL, e.g.
    Keramati & Gutkin 2014 eLife 3:e04811; see docs/model.md).

    Examples
    --------
    >>> float(satiety(np.array(150.0), 1.0, {"dDA50": 50.0, "h_sat": 4.0}))
    0.5
    >>> float(satiety(np.array(150.0), 0.5, {"dDA50": 50.0, "h_sat": 4.0}))      # tolerant: still hungry
    0.9411764705882353
    """
    rise = np.clip(np.asarray(rf, float) * (np.asarray(da_pct, float) - 100.0), 0.0, None) / params["dDA50"]
    return 1.0 / (1.0 + rise ** params["h_sat"])


_ACCESS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|hr|hrs|hour|hours|min|mins|minutes)\s*"
                     r"(?:(?:sessions?\s+)?(?:daily|per\s+day|/\s*day|a\s+day|each\s+day))?\s*$", re.I)


def parse_access(text: str) -> float:
    """Session length in hours from access text such as ``"2 h daily"``, ``"6h daily"``, ``"90 min daily"``.

    Examples
    --------
    >>> parse_access("1 h daily"), parse_access("6h daily"), parse_access("90 min per day")
    (1.0, 6.0, 1.5)
    """
    m = _ACCESS.match(str(text))
    if not m:
        raise InputError(f"access must be a daily session length such as '1 h daily', '2 h daily' or '6 h daily'; "
                         f"got {text!r}.")
    hours = float(m.group(1)) * (1.0 if m.group(2).lower().startswith("h") else 1 / 60)
    if not 0 < hours <= 24:
        raise InputError(f"access must be more than 0 and at most 24 h per day; got {text!r} ({hours:g} h).")
    return hours


def parse_schedule(text: str) -> int:
    """Fixed-ratio size from ``"FR1"``, ``"FR 5"``, ``"fr8"``.

    Examples
    --------
    >>> parse_schedule("FR1"), parse_schedule("FR 8")
    (1, 8)
    """
    m = re.fullmatch(r"\s*FR\s*(\d+)\s*", str(text), re.I)
    if not m or int(m.group(1)) < 1:
        raise InputError(f"schedule must be a fixed ratio 'FR1', 'FR2', ... 'FRn' (n >= 1 presses per infusion); "
                         f"got {text!r}. Progressive-ratio schedules are not modelled.")
    return int(m.group(1))


def parse_unit_dose(dose) -> Bolus | Infusion:
    """The dose one earned infusion delivers, from text such as ``"0.5 mg/kg iv"`` or a Bolus/Infusion."""
    if isinstance(dose, (Bolus, Infusion)):
        ev = dose
    else:
        from .regimen_text import parse_regimen

        try:
            reg = parse_regimen(str(dose))
        except InputError as exc:
            raise InputError(f"dose must be one unit dose such as '0.5 mg/kg iv' or '50 mg insufflated'; "
                             f"got {dose!r}: {exc}") from None
        if len(reg.events) != 1:
            raise InputError(f"dose must be a single unit dose such as '0.5 mg/kg iv'; got {dose!r}, which has "
                             f"{len(reg.events)} events. The driver decides when doses are taken.")
        ev = reg.events[0]
    if ev.time != 0:
        ev = dataclasses.replace(ev, time=0.0)
    return ev


def _press_times(rng: np.random.Generator, rate_per_h: np.ndarray, a: float, b: float) -> list[np.ndarray]:
    """Poisson press times in [a, b) for each subject (one Generator stream, subject order)."""
    counts = rng.poisson(rate_per_h * (b - a))
    return [np.sort(rng.uniform(a, b, c)) for c in counts]


def _earn(press: np.ndarray, counter: int, timeout_until: float, ratio: int, timeout: float, stop: float):
    """Walk one subject's presses: returns infusion times, time-out presses, new counter and time-out end."""
    inf, wasted = [], 0
    for tp in press:
        if tp < timeout_until or tp >= stop:
            wasted += 1
            continue
        counter += 1
        if counter >= ratio:
            inf.append(tp)
            counter = 0
            timeout_until = tp + timeout
    return inf, wasted, counter, timeout_until


def self_administration(access: str = "2 h daily", dose="0.5 mg/kg iv", species: str = "rat", days: int = 14,
                        schedule: str = "FR1", rng: np.random.Generator | None = None, circuit=None, *,
                        n: int = 8, subjects: Subject | Population | Sequence[Subject] | None = None,
                        parameters: str | None = None, timeout: str | float | None = None,
                        tolerance: bool = True, agent: dict | None = None,
                        progress: Callable[[int, int], None] | None = None) -> xr.Dataset:
    """Simulate drug self-administration: the agent presses, earns infusions, and learns from them.

    Parameters
    ----------
    access : str
        Daily session length, e.g. ``"1 h daily"`` (limited / short access),
        ``"6 h daily"`` (extended / long access, Ahmed & Koob style).
    dose : str or Bolus or Infusion
        Unit dose per earned infusion, e.g. ``"0.5 mg/kg iv"``.
    species : {"rat", "human"}
    days : int
        Number of daily sessions (one every 24 h, starting at time 0).
    schedule : str
        Fixed ratio, ``"FR1"`` ... ``"FRn"``.
    rng : numpy.random.Generator
        Source of every random number (presses); same seed, same result. Default ``default_rng(0)``.
    circuit : str or list of str, optional
        Circuit variant(s) whose dopamine layer gives the drug signal (see :func:`ketasim.simulate`).
    n : int
        Number of subjects when ``subjects`` is not given (identical animals, typical PK values).
    subjects : Subject, list of Subject or Population, optional
        The subjects (their species must be ``species``).
    parameters : str, optional
        PK parameter-set id; default ``rat_ketamine_pk`` for rats, the adult default for humans.
    timeout : str or float, optional
        Post-infusion time-out (``"20 s"``; a number is hours); default from the agent parameters.
    tolerance : bool
        Whether the slow tolerance state reduces the drug signal (``False`` shows its effect).
    agent : dict, optional
        Overrides of :func:`agent_parameters` (e.g. ``{"kappa": 0.0}``).
    progress : callable, optional
        ``progress(done, total)`` after every session (the CLI's progress bar).

    Returns
    -------
    xarray.Dataset
        Per subject x session: ``infusions``, ``active_presses``, ``timeout_presses``,
        ``daily_intake`` (mg/kg, or mg for flat doses), ``first_hour_infusions``,
        ``value`` (learned Q at session end), ``tolerance`` (at session start),
        ``drug_signal`` (mean D per infusion), ``DA_peak_pct``; per subject:
        ``cumulative_dose``; per subject x infusion: ``infusion_time`` (h, the earned
        regimen, see :func:`earned_regimens`); per subject x session x step (the
        end of each decision step): ``DA_NAc_pct``, ``C_effect_ketamine``,
        ``value_step``, ``infusions_step``.

    Examples
    --------
    >>> import numpy as np, ketasim as ks
    >>> sa = ks.self_administration("1 h daily", "0.5 mg/kg iv", days=1, n=2, rng=np.random.default_rng(1))
    >>> sa["infusions"].dims
    ('subject', 'session')
    """
    if species not in SA_SPECIES:
        raise unknown("species", species, SA_SPECIES)
    hours = parse_access(access)
    ratio = parse_schedule(schedule)
    unit = parse_unit_dose(dose)
    if isinstance(days, bool) or not isinstance(days, (int, np.integer)) or days < 1:
        raise InputError(f"days must be a whole number of sessions >= 1; got {days!r}.")
    p = agent_parameters(species, **(agent or {}))
    if timeout is not None:
        from .units import to_hours

        p["timeout"] = float(timeout) if isinstance(timeout, (int, float)) else to_hours(timeout, "timeout")
    if p["timeout"] < p["tau_reward"]:
        raise InputError(f"timeout must be >= the reward window tau_reward ({p['tau_reward'] * 3600:g} s), so that no "
                         f"later dose enters the window; got {p['timeout'] * 3600:g} s.")
    rng = np.random.default_rng(0) if rng is None else rng
    if not isinstance(rng, np.random.Generator):
        raise InputError(f"rng must be a numpy.random.Generator (numpy.random.default_rng(seed)); got {rng!r}.")
    if subjects is None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise InputError(f"n must be a whole number of subjects >= 1; got {n!r}.")
        age = 0.25 if species == "rat" else 30.0
        subjects = [Subject(weight=p["weight"], species=species, age=age) for _ in range(int(n))]
    pop = as_population(subjects)
    if pop.species != species:
        raise InputError(f"subjects are {pop.species}s; species is {species!r}. Give subjects of that species.")
    if parameters is None:
        from .simulate import default_parameter_set

        parameters = default_parameter_set(Regimen((unit,)), species, float(np.median(pop.covariates["age"])))
    ps = get_parameter_set(parameters)
    if ps.species != species:
        raise InputError(f"parameter set {ps.id!r} is for {ps.species}s, not {species}s.")
    if unit.route not in ps.routes:
        raise InputError(f"dose route {unit.route!r} is not available for {species}s in parameter set {ps.id!r}; "
                         f"it supports {', '.join(sorted(ps.routes))}.")
    N = pop.n
    cov, eta = pop.covariates, pop.eta
    tp = tolerance_parameters(species)
    pk_out = list(dict.fromkeys([*BLOCKADE_INPUTS, *BLOCKADE_RATE_INPUTS]))
    pk_out = [o for o in pk_out if o != "C_plasma_norketamine" or "norketamine" in ps.analytes]
    pk_out.append("C_effect_ketamine")
    dt = p["dt"]
    steps = int(np.ceil(hours / dt - 1e-9))
    edges_rel = np.minimum(np.arange(steps + 1) * dt, hours)

    q = np.full(N, p["q0"])
    S = np.zeros(N)
    X_prev = np.zeros(N)
    odds = np.zeros(N)
    da_now = np.full(N, 100.0)
    counter = np.zeros(N, int)
    t_out = np.full(N, -np.inf)
    state = None
    t_now = 0.0
    events: list[list] = [[] for _ in range(N)]
    shape = (N, days)
    rec = {k: np.zeros(shape) for k in ("infusions", "active_presses", "timeout_presses", "first_hour_infusions",
                                        "value", "tolerance", "DA_peak_pct", "drug_signal")}
    step_da = np.zeros((N, days, steps))
    step_q = np.zeros((N, days, steps))
    step_inf = np.zeros((N, days, steps))
    step_ce = np.zeros((N, days, steps))
    # a dose whose input is still entering (lag, later devices, zero-order part) when a step starts must be
    # passed again: the state holds the part that entered, run_pk adds the rest (Inputs.after)
    span = input_span(unit, cov, eta, ps)

    def pending(t: float) -> list[list]:
        out = []
        for ev in events:       # each subject's doses are in time order: walk back from the latest
            k = len(ev)
            while k > 0 and ev[k - 1].time + span > t:
                k -= 1
            out.append(ev[k:])
        return out

    def advance(regs, t_end, times_extra=()):
        """PK outputs at the step's times and the state at t_end, both resumed from ``state``."""
        times = np.unique(np.concatenate([[t_end], np.asarray(times_extra, float)]))
        res = run_pk(regs, cov, eta, times, ps, pk_out, start=state)
        return times, res, pk_state(regs, cov, eta, t_end, ps, start=state)

    for day in range(days):
        t_s = 24.0 * day
        if t_now < t_s:   # between sessions: hourly exact steps of tolerance, value decay
            grid = np.arange(t_now, t_s, 1.0)[1:]
            times, res, state = advance([Regimen(tuple(e)) for e in pending(t_now)], t_s, grid)
            X = blockade_integral(res)
            tprev = t_now
            for j, tj in enumerate(times):
                if tolerance:
                    S = tolerance_step(S, X[:, j] - X_prev, tj - tprev, tp)
                X_prev, tprev = X[:, j], tj
            odds = blockade_odds({k: res[k][:, -1] for k in BLOCKADE_RATE_INPUTS if k in res})
            da_now = run_pd({k: v[:, -1:] for k, v in res.items()}, ["DA_NAc_pct"], circuit)["DA_NAc_pct"][:, 0]
            q = q * np.exp(-p["k_forget"] * (t_s - t_now))
            t_now = t_s
        rec["tolerance"][:, day] = 1.0 - response_factor(S)
        counter[:] = 0
        for k in range(steps):
            a, b = t_s + edges_rel[k], t_s + edges_rel[k + 1]
            rf = response_factor(S)
            pi = choice_probability(q, p, ratio, rf)
            rate = p["lambda_max"] * 60.0 * pi * response_capacity(odds, p) * satiety(da_now, rf, p)  # per h
            presses = _press_times(rng, rate, a, b)
            inf_t: list[list[float]] = []
            for i in range(N):
                inf, wasted, counter[i], t_out[i] = _earn(presses[i], int(counter[i]), float(t_out[i]), ratio,
                                                          p["timeout"], t_s + hours)
                inf_t.append(inf)
                rec["timeout_presses"][i, day] += wasted
                rec["active_presses"][i, day] += presses[i].size - wasted
                # extinction: every unreinforced time-out press
                q[i] *= (1.0 - p["alpha_ext"]) ** wasted
            earlier = pending(a)
            regs = [Regimen(tuple(earlier[i]) + tuple(unit.shift(t) for t in ts)) for i, ts in enumerate(inf_t)]
            for i, ts in enumerate(inf_t):
                events[i].extend(unit.shift(t) for t in ts)
            extra = [t for ts in inf_t for t in ts] + [t + p["tau_reward"] for ts in inf_t for t in ts]
            times, res, new_state = advance(regs, b, extra)
            da = run_pd(res, ["DA_NAc_pct"], circuit)["DA_NAc_pct"]
            for i, ts in enumerate(inf_t):
                for t in ts:     # the reinforcer: dopamine rise over the reward window
                    j0, j1 = np.searchsorted(times, [t, t + p["tau_reward"]])
                    d = p["kappa"] * rf[i] * max(0.0, da[i, j1] - da[i, j0]) / 100.0
                    q[i] = float(td_update(q[i], d, 0.0, p["alpha"]))
                    rec["drug_signal"][i, day] += d
                    rec["DA_peak_pct"][i, day] = max(rec["DA_peak_pct"][i, day], da[i, j1])
                rec["infusions"][i, day] += len(ts)
                if a - t_s < 1.0 - 1e-9:
                    rec["first_hour_infusions"][i, day] += sum(1 for t in ts if t - t_s < 1.0)
                step_inf[i, day, k] = len(ts)
            jb = int(np.searchsorted(times, b))
            X = blockade_integral({kk: v[:, jb] for kk, v in res.items()})
            if tolerance:
                S = tolerance_step(S, X - X_prev, b - a, tp)
            X_prev = X
            odds = blockade_odds({kk: res[kk][:, jb] for kk in BLOCKADE_RATE_INPUTS if kk in res})
            da_now = da[:, jb]
            step_da[:, day, k] = da[:, jb]
            step_ce[:, day, k] = res["C_effect_ketamine"][:, jb]
            step_q[:, day, k] = q
            state, t_now = new_state, b
        rec["value"][:, day] = q
        if progress is not None:
            progress(day + 1, days)

    amount_unit = "mg/kg" if unit.per_kg else "mg"
    with np.errstate(invalid="ignore", divide="ignore"):
        signal = np.where(rec["infusions"] > 0, rec["drug_signal"] / np.maximum(rec["infusions"], 1), np.nan)
    intake = rec["infusions"] * unit.amount
    session = np.arange(1, days + 1)
    most = max(1, max(len(ev) for ev in events))
    inf_time = np.full((N, most), np.nan)
    for i, ev in enumerate(events):
        inf_time[i, :len(ev)] = [e.time for e in ev]
    step_t = edges_rel[:-1] * 60.0
    variables = {
        "infusions": (("subject", "session"), rec["infusions"], "1", "infusions earned in the session"),
        "active_presses": (("subject", "session"), rec["active_presses"], "1",
                           "presses outside the time-out (they count toward the ratio)"),
        "timeout_presses": (("subject", "session"), rec["timeout_presses"], "1",
                            "presses during the post-infusion time-out (unreinforced)"),
        "first_hour_infusions": (("subject", "session"), rec["first_hour_infusions"], "1",
                                 "infusions in the first hour of the session (escalation measure, Ahmed & Koob)"),
        "daily_intake": (("subject", "session"), intake, amount_unit, "drug taken in the session"),
        "value": (("subject", "session"), rec["value"], "1", "learned value Q of pressing at session end"),
        "tolerance": (("subject", "session"), rec["tolerance"], "1",
                      "slow tolerance 1 - RF(S) at session start (ketasim.layers.tolerance)"),
        "DA_peak_pct": (("subject", "session"), rec["DA_peak_pct"], "% of baseline",
                        "highest NAc dopamine at the end of a reward window in the session"),
        "drug_signal": (("subject", "session"), signal, "1",
                        "mean drug term D per infusion (tolerance-reduced dopamine rise x kappa); NaN: no infusion"),
        "cumulative_dose": (("subject",), intake.sum(axis=1), amount_unit, "drug taken over all sessions"),
        "infusion_time": (("subject", "infusion"), inf_time, "h",
                          "time of each earned infusion from the start of the first session (NaN: none)"),
        "DA_NAc_pct": (("subject", "session", "step_time"), step_da, "% of baseline",
                       "NAc dopamine at the end of each decision step"),
        "C_effect_ketamine": (("subject", "session", "step_time"), step_ce, "ng/mL",
                              "effect-site ketamine (S + R) at the end of each decision step"),
        "value_step": (("subject", "session", "step_time"), step_q, "1", "learned value Q after each step"),
        "infusions_step": (("subject", "session", "step_time"), step_inf, "1", "infusions earned in each step"),
    }
    ds = xr.Dataset(
        {k: xr.Variable(dims, v, attrs={"units": u, "long_name": ln}) for k, (dims, v, u, ln) in variables.items()},
        coords={"subject": ("subject", pop.ids), "session": ("session", session, {"units": "day"}),
                "step_time": ("step_time", step_t, {"units": "min", "long_name": "start of the step in the session"})})
    ds.attrs.update({
        "title": "ketasim self-administration",
        "ketasim_version": __version__,
        "species": species,
        "access": f"{hours:g} h daily",
        "unit_dose": unit.to_text(),
        "schedule": f"FR{ratio}",
        "timeout_s": p["timeout"] * 3600.0,
        "days": days,
        "tolerance": str(bool(tolerance)),
        "parameter_sets": ps.id,
        "citations": f"{ps.id}: {ps.citation}",
        "circuit": circuit_label(circuit),
        "agent": "TD with a non-compensable drug term (Redish 2004 Science 306:1944); parameters "
                 "ketasim/data/behaviour/agent.yaml",
        "agent_parameters": ", ".join(f"{k}={v:g}" for k, v in sorted(p.items())),
    })
    return ds


def earned_regimens(ds: xr.Dataset) -> list[Regimen]:
    """Each subject's earned regimen (the doses the agent chose), from ``infusion_time`` and the unit dose.

    Simulating these regimens directly with :func:`ketasim.simulate` gives the PK the driver saw.
    """
    unit = parse_unit_dose(ds.attrs["unit_dose"])
    times = np.asarray(ds["infusion_time"].values, float)
    return [Regimen(tuple(unit.shift(float(t)) for t in row[np.isfinite(row)])) for row in times]
