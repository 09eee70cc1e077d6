"""Calibration targets of the self-administration agent (:mod:`ketasim.behaviour`), registered in
:mod:`ketasim.outcome_targets`.

The rat rows of ``behaviour.csv`` are mostly qualitative; the targets are:

- *intake* (calibrated): 44.4 +/- 5.2 infusions per session at 0.5 mg/kg/infusion in non-resident
  rats (De Luca & Badiani 2011 [V]). The session length and schedule are not in the reference
  table; the model uses daily 2-h FR1 sessions (20-s time-out), the mean of sessions 1-5 of 8 rats.
  Fitted parameters: ``x50`` and ``dDA50`` (``data/behaviour/agent.yaml``). Band: +/- 2 x 5.2.
- *acquisition at a low dose* (validation): adult and adolescent rats acquired at 0.03, 0.1 and
  0.3 mg/kg/infusion ("Abuse-related behavioral effects of ketamine in adult and adolescent rats"
  [V]). Model: infusions over sessions 1-3 at 0.03 mg/kg are at least ``ACQUIRED_RATIO`` times those
  of the same rats (same seed) for which infusions carry no dopamine signal (``kappa = 0``, a
  saline-like control); 1 = acquired.
- *inverted U* (validation): responding vs unit dose is an inverted U (Moreton et al. 1977, rhesus
  monkeys [V]); model: the FR1 dose with most active presses (0.03-3 mg/kg, 2-h sessions, mean of
  sessions 1-3) lies strictly inside the range; 1 = yes.
- *peak shift with the ratio* (validation): the peak moves to higher doses as FR rises (Moreton 1977
  [V]); model: the FR8 peak dose >= the FR1 peak dose; 1 = yes.

Run ``python -m ketasim.calibrate_outcomes_behaviour`` to print the model values.
"""

from __future__ import annotations

import sys
from functools import lru_cache

import numpy as np

from .outcome_targets import Target, register

__all__ = ["DOSES", "ACQUIRED_RATIO", "mean_infusions", "dose_response"]

#: Unit doses (mg/kg per infusion) of the model dose-response curve: the range of behaviour.csv's rat rows.
DOSES = (0.03, 0.1, 0.3, 1.0, 3.0)
#: Acquisition criterion: infusions at least this multiple of the no-signal control.
ACQUIRED_RATIO = 1.25
_BEH = "behaviour.csv"
_DELUCA = "De Luca & Badiani 2011 Psychopharmacology 214(2):549-556"
_ADOL = "\"Abuse-related behavioral effects of ketamine in adult and adolescent rats\" (authors not read)"
_MORETON = "Moreton et al. 1977 JPET 203(2):303"


@lru_cache(maxsize=16)
def mean_infusions(dose: str = "0.5 mg/kg iv", days: int = 5, n: int = 8, schedule: str = "FR1",
                   kappa: float | None = None, what: str = "infusions") -> float:
    """Mean per session and rat of ``what`` (``infusions`` or ``active_presses``), 2-h daily sessions, seed 1."""
    from .behaviour import self_administration

    agent = None if kappa is None else {"kappa": kappa}
    sa = self_administration("2 h daily", dose, species="rat", days=days, schedule=schedule, n=n,
                             rng=np.random.default_rng(1), agent=agent)
    return float(sa[what].values.mean())


@lru_cache(maxsize=4)
def dose_response(schedule: str = "FR1", days: int = 3, n: int = 4) -> tuple[float, ...]:
    """Mean active presses per 2-h session at each of :data:`DOSES`."""
    return tuple(mean_infusions(f"{d:g} mg/kg iv", days, n, schedule, None, "active_presses") for d in DOSES)


def _peak(schedule: str) -> int:
    return int(np.argmax(dose_response(schedule)))


def _acquired() -> float:
    drug = mean_infusions("0.03 mg/kg iv", 3, 8)
    control = mean_infusions("0.03 mg/kg iv", 3, 8, "FR1", 0.0)
    return 1.0 if drug >= ACQUIRED_RATIO * control else 0.0


register(Target(
    id="behaviour.sa_infusions_0.5mgkg", layer="behaviour",
    description="rat IV self-administration, 0.5 mg/kg/infusion, FR1 with 20-s time-out, daily 2-h sessions: "
                "infusions per session (mean of sessions 1-5, 8 rats)",
    source=f"{_BEH}: {_DELUCA} (non-resident rats, 44.4 +/- 5.2; resident rats 11.0 +/- 6.0)",
    observed=44.4, low=44.4 - 2 * 5.2, high=44.4 + 2 * 5.2, unit="infusions/session",
    compute=lambda: mean_infusions(),
    note="calibrated (x50, dDA50); session length and schedule are assumptions, not in the reference row"))
register(Target(
    id="behaviour.sa_acquisition_0.03mgkg", layer="behaviour",
    description=f"acquisition at 0.03 mg/kg/infusion: infusions over sessions 1-3 >= {ACQUIRED_RATIO}x the "
                "no-dopamine-signal control (1 = acquired)",
    source=f"{_BEH}: {_ADOL} (acquisition at 0.03, 0.1 and 0.3 mg/kg/infusion)",
    observed=1.0, low=1.0, high=1.0, unit="1 = yes", compute=_acquired,
    note="validation; criterion ratio is a modelling choice"))
register(Target(
    id="behaviour.sa_inverted_u_fr1", layer="behaviour",
    description="FR1 dose-response (0.03-3 mg/kg/infusion, active presses per 2-h session): peak strictly "
                "inside the dose range (1 = inverted U)",
    source=f"{_BEH}: {_MORETON} (inverted-U response rate vs dose; rhesus monkeys)",
    observed=1.0, low=1.0, high=1.0, unit="1 = yes",
    compute=lambda: float(0 < _peak("FR1") < len(DOSES) - 1), note="validation; species differs (rat model)"))
register(Target(
    id="behaviour.sa_peak_shift_fr8", layer="behaviour",
    description="the dose with most responding under FR8 is >= that under FR1 (1 = yes)",
    source=f"{_BEH}: {_MORETON} (the peak shifts to higher doses as FR rises)",
    observed=1.0, low=1.0, high=1.0, unit="1 = yes",
    compute=lambda: float(_peak("FR8") >= _peak("FR1")), note="validation; species differs (rat model)"))


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(f"infusions/session at 0.5 mg/kg: {mean_infusions():.1f} (target 44.4)\n")
    for fr in ("FR1", "FR8"):
        sys.stdout.write(f"{fr} active presses by dose {DOSES}: {np.round(dose_response(fr), 1).tolist()}\n")
    sys.stdout.write(f"acquired at 0.03 mg/kg: {_acquired():g}\n")
