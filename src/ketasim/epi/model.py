"""The compartment model: states, rates, equations and the solver.

States (persons in the modelled age band)::

    N never used          O occasional use       R regular use
    D dependent           T in treatment         A abstinent / recovered (after dependence)
    F former user (stopped occasional or regular use without dependence)

Equations (rates per year; ``m_x(t)`` are intervention multipliers, 1 without a scenario)::

    U      = O + R + D                                   active users (T excluded)
    P      = N + O + R + D + T + A + F
    lambda = m_init(t) [tau + s (U / P) exp(-q D / U)]     initiation hazard (LH model)
    Lambda = (alpha + mu) P_ref                            ageing in (keeps P ~ P_ref)
    h_T    = theta m_treat(t) D / (1 + theta m_treat(t) D / C)   treatment entries (saturating)

    dN/dt = Lambda - lambda N                        - (alpha + mu) N
    dO/dt = lambda N + r_F F - (e1 + g_O)        O   - (alpha + mu) O
    dR/dt = e1 O + rho A     - (e2 + g_R)        R   - (alpha + mu) R
    dD/dt = e2 R + (1 - phi) w T - h_T - g_D D       - (alpha + mu SMR) D
    dT/dt = h_T - w T                                - (alpha + mu SMR) T
    dA/dt = g_D D + phi w T  - rho A                 - (alpha + mu) A
    dF/dt = g_O O + g_R R    - r_F F                 - (alpha + mu) F

``alpha = 1 / band width`` is ageing out of the band, ``mu`` background mortality and
``SMR`` the excess mortality of dependent and treated persons. Cumulative flows are integrated
alongside (entries, exits, deaths, excess deaths, initiations, new dependence, treatment
entries, relapses, new uropathy cases), so that
``P(t) - P(t0) = entries - exits - deaths`` holds to solver tolerance (a test).

Initial state: either seeded (past-year users = ``initial_prevalence`` x P_ref in the quasi-steady
composition of the start rates) or, with ``equilibrium_start=True``, the exact endemic equilibrium
of the start rates (:func:`equilibrium_state`).

Solver: :func:`scipy.integrate.solve_ivp` (RK45, rtol 1e-8). The contagion term makes the
system nonlinear, so there is no exact propagator as in the PK layer; the system is small
(16 equations) and not stiff (fastest rate ~ treatment exit, 2-12 /yr, over decades), so an
explicit adaptive Runge-Kutta method is accurate and takes a few milliseconds per run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
from scipy.integrate import solve_ivp

from ..errors import InputError, unknown
from .data import load_parameter_table

__all__ = [
    "STATES", "FLOWS", "TARGETS", "EpiParameters", "Intervention", "Trajectory", "run_model",
    "hazard_from_probability", "steady_user_composition", "equilibrium_state",
]

STATES = ("never", "occasional", "regular", "dependent", "treatment", "abstinent", "former")
FLOWS = ("entries", "exits", "deaths", "excess_deaths", "initiations", "new_dependence",
         "treatment_entries", "relapses", "new_uropathy")
_NS = len(STATES)

# Scenario targets -> the rates they multiply.
TARGETS: dict[str, tuple[str, ...]] = {
    "initiation": ("background_initiation", "contagion"),
    "contagion": ("contagion",),
    "escalation": ("occasional_to_regular", "regular_to_dependent"),
    "quit": ("quit_occasional", "quit_regular", "quit_dependent"),
    "treatment_entry": ("treatment_entry",),
    "treatment_capacity": ("treatment_capacity",),
    "treatment_success": ("treatment_success",),
    "relapse": ("relapse",),
    "uropathy": ("uropathy_regular", "uropathy_dependent"),
}


@dataclass(frozen=True, slots=True)
class EpiParameters:
    """Rates of the model (per year unless stated). Defaults and sources: ``data/epi/parameters.yaml``.

    Any rate can be supplied by another layer (the hook to individual-level outcomes): e.g. the
    harms layer's per-person uropathy incidence, or an escalation hazard computed with
    :func:`hazard_from_probability` from the dependence probability of a pattern of use.

    Examples
    --------
    >>> p = EpiParameters.defaults()
    >>> p.relapse
    0.1377
    >>> round(p.with_rates(regular_to_dependent=hazard_from_probability(0.2, 3.0)).regular_to_dependent, 4)
    0.0744
    """

    background_initiation: float
    contagion: float
    deterrence: float
    occasional_to_regular: float
    regular_to_dependent: float
    quit_occasional: float
    quit_regular: float
    quit_dependent: float
    treatment_entry: float
    treatment_exit: float
    treatment_success: float
    relapse: float
    restart_former: float
    mortality_background: float
    smr_dependent: float
    uropathy_dependent: float
    uropathy_regular: float
    cognitive_dependent: float
    treatment_capacity: float = math.inf

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or math.isnan(v):
                raise InputError(f"{f.name} must be a number; got {v!r}.")
            if v < 0:
                raise InputError(
                    f"{f.name} must be >= 0 (a negative rate would make compartments negative); got {v:g}."
                )
            if math.isinf(v) and f.name != "treatment_capacity":
                raise InputError(f"{f.name} must be finite; got {v}.")
        for name in ("treatment_success", "cognitive_dependent"):
            if getattr(self, name) > 1:
                raise InputError(f"{name} is a fraction and must be <= 1; got {getattr(self, name):g}.")
        if self.treatment_capacity <= 0:
            raise InputError(f"treatment_capacity must be > 0 persons/yr; got {self.treatment_capacity:g}.")
        if self.smr_dependent < 1:
            raise InputError(f"smr_dependent must be >= 1 (excess mortality); got {self.smr_dependent:g}.")

    @classmethod
    def defaults(cls) -> "EpiParameters":
        table = load_parameter_table()
        return cls(**{f.name: float(table[f.name]["value"]) for f in fields(cls)})

    def with_rates(self, **rates: float) -> "EpiParameters":
        """A copy with some rates replaced (validated)."""
        names = [f.name for f in fields(self)]
        for k in rates:
            if k not in names:
                raise unknown("rate", k, names)
        return replace(self, **{k: float(v) for k, v in rates.items()})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def hazard_from_probability(probability: float, years: float) -> float:
    """Constant hazard giving ``probability`` of the event within ``years`` (-ln(1-p)/t).

    This is how an individual-level outcome (e.g. the probability that a pattern of use leads
    to dependence within 3 years) becomes a population transition rate.

    Examples
    --------
    >>> round(hazard_from_probability(0.3385, 3), 4)
    0.1377
    """
    if not 0 <= probability < 1:
        raise InputError(f"probability must be in [0, 1); got {probability!r}.")
    if not years > 0:
        raise InputError(f"years must be > 0; got {years!r}.")
    return -math.log1p(-probability) / years


@dataclass(frozen=True, slots=True)
class Intervention:
    """Multiply the rates of ``target`` by ``factor`` from year ``start`` (to ``end``).

    ``ramp`` > 0 phases the change in linearly over that many years.
    """

    target: str
    factor: float
    start: float
    end: float | None = None
    ramp: float = 0.0
    label: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise unknown("target", self.target, TARGETS)
        if not isinstance(self.factor, (int, float)) or not math.isfinite(self.factor) or self.factor < 0:
            raise InputError(
                f"factor of '{self.target}' must be a finite number >= 0 (a negative factor would make "
                f"rates and compartments negative); got {self.factor!r}."
            )
        if self.end is not None and self.end <= self.start:
            raise InputError(f"end must be after start ({self.start:g}); got {self.end:g}.")
        if self.ramp < 0:
            raise InputError(f"ramp must be >= 0 years; got {self.ramp:g}.")

    def multiplier(self, t: float) -> float:
        if t < self.start or (self.end is not None and t >= self.end):
            return 1.0
        if self.ramp > 0 and t < self.start + self.ramp:
            return 1.0 + (self.factor - 1.0) * (t - self.start) / self.ramp
        return self.factor


def _rates_at(p: EpiParameters, interventions: tuple[Intervention, ...], t: float,
              base: dict[str, float] | None = None) -> dict[str, float]:
    r = dict(base) if base is not None else {f.name: getattr(p, f.name) for f in fields(p)}
    for iv in interventions:
        m = iv.multiplier(t)
        if m != 1.0:
            for name in TARGETS[iv.target]:
                r[name] *= m
    if r["treatment_success"] > 1:
        raise InputError(
            f"treatment_success x factor gives a success fraction of {r['treatment_success']:g} > 1 at year "
            f"{t:g}; lower the scenario factor (at most {1 / p.treatment_success:.3g} for this model)."
        )
    return r


def _linear_matrix(r: dict[str, float], alpha: float) -> np.ndarray:
    """Transition matrix of the user states (O, R, D, T, A, F) at fixed rates, no capacity limit."""
    mu, smr = r["mortality_background"], r["smr_dependent"]
    M = np.zeros((6, 6))
    O, R, D, T, A, F = range(6)
    M[O, O] = -(r["occasional_to_regular"] + r["quit_occasional"] + alpha + mu)
    M[O, F] = r["restart_former"]
    M[R, O] = r["occasional_to_regular"]
    M[R, R] = -(r["regular_to_dependent"] + r["quit_regular"] + alpha + mu)
    M[R, A] = r["relapse"]
    M[D, R] = r["regular_to_dependent"]
    M[D, D] = -(r["treatment_entry"] + r["quit_dependent"] + alpha + mu * smr)
    M[D, T] = (1 - r["treatment_success"]) * r["treatment_exit"]
    M[T, D] = r["treatment_entry"]
    M[T, T] = -(r["treatment_exit"] + alpha + mu * smr)
    M[A, D] = r["quit_dependent"]
    M[A, T] = r["treatment_success"] * r["treatment_exit"]
    M[A, A] = -(r["relapse"] + alpha + mu)
    M[F, O] = r["quit_occasional"]
    M[F, R] = r["quit_regular"]
    M[F, F] = -(r["restart_former"] + alpha + mu)
    return M


def steady_user_composition(params: EpiParameters, band_years: float) -> np.ndarray:
    """Composition (O, R, D, T, A, F) reached by a constant stream of initiates, summing to 1.

    Used to seed the model's users at its start year in its own quasi-steady proportions.
    """
    M = _linear_matrix(asdict(params), 1.0 / band_years)
    x = np.linalg.solve(M, -np.eye(6)[0])
    return x / x.sum()


@dataclass(frozen=True, slots=True)
class Trajectory:
    """Solved model at integer years: states at mid-year, flows over each calendar year."""

    years: np.ndarray  # (n,)
    states: np.ndarray  # (n, 7) persons at year + 0.5
    flows: np.ndarray  # (n, 9) persons (or cases) during [year, year + 1)
    cognitive_fraction: float
    balance_error: float = 0.0  # max |P(t) - P(t0) - (entries - exits - deaths)(t)| over solver outputs, persons

    def state(self, name: str) -> np.ndarray:
        return self.states[:, STATES.index(name)]

    def flow(self, name: str) -> np.ndarray:
        return self.flows[:, FLOWS.index(name)]

    @property
    def total(self) -> np.ndarray:
        return self.states.sum(axis=1)

    @property
    def past_year_users(self) -> np.ndarray:
        """Occasional + regular + dependent + in treatment (the survey's past-year users)."""
        return self.states[:, 1:5].sum(axis=1)

    @property
    def prevalence_percent(self) -> np.ndarray:
        return 100.0 * self.past_year_users / self.total

    @property
    def problem_users(self) -> np.ndarray:
        """Regular + dependent + in treatment (what a drug-abuse register can see)."""
        return self.states[:, 2:5].sum(axis=1)


def run_model(
    params: EpiParameters,
    *,
    population: float,
    band_years: float,
    start_year: int,
    end_year: int,
    initial_prevalence: float,
    interventions: tuple[Intervention, ...] = (),
    rtol: float = 1e-8,
    breaks: tuple[float, ...] = (),
    equilibrium_start: bool = False,
) -> Trajectory:
    """Solve the model from ``start_year`` to ``end_year`` (inclusive, annual output).

    ``breaks`` are extra times where the integration restarts; a baseline run given the breaks of
    a scenario follows exactly the same solver path until the scenario starts, so that paired
    differences are exactly zero before it.

    ``equilibrium_start=True`` starts from the endemic equilibrium of the rates in force at
    ``start_year`` (:func:`equilibrium_state`; ``initial_prevalence`` is then ignored). Use it for an epidemic that was already stable
    when the data begin; it removes the initial prevalence from the fitted parameters.

    Examples
    --------
    >>> tr = run_model(EpiParameters.defaults(), population=1e6, band_years=9, start_year=2000,
    ...                end_year=2010, initial_prevalence=0.01)
    >>> bool(abs(tr.total[-1] - 1e6) < 1e3)
    True
    """
    if not population > 0 or not math.isfinite(population):
        raise InputError(f"population must be > 0 persons; got {population!r}.")
    if not band_years > 0:
        raise InputError(f"band_years must be > 0; got {band_years!r}.")
    if end_year < start_year:
        raise InputError(f"end year must be >= start year ({start_year}); got {end_year}.")
    if not 0 <= initial_prevalence < 1:
        raise InputError(f"initial_prevalence must be in [0, 1); got {initial_prevalence!r}.")
    alpha = 1.0 / band_years
    interventions = tuple(interventions)
    r0 = _rates_at(params, interventions, float(start_year))
    comp = np.linalg.solve(_linear_matrix(r0, alpha), -np.eye(6)[0])
    comp = comp / comp[:4].sum()  # scale so past-year users (O, R, D, T) sum to 1
    users = comp * initial_prevalence * population
    never = population - users.sum()
    if never < 0:
        raise InputError(
            f"initial_prevalence {initial_prevalence:g} implies more users and former users than people "
            f"(with these rates ex-users are {comp.sum():.2f} x past-year users); lower it."
        )
    y0 = np.concatenate([[never], users, np.zeros(len(FLOWS))])
    entry = (alpha + params.mortality_background) * population
    static = not interventions
    base = {f.name: getattr(params, f.name) for f in fields(params)}

    def rhs(t, y):
        r = r0 if static else _rates_at(params, interventions, t, base)
        N, O, R, D, T, A, F = np.maximum(y[:_NS], 0.0)
        P = N + O + R + D + T + A + F
        U = O + R + D
        mu, smr = r["mortality_background"], r["smr_dependent"]
        deter = math.exp(-r["deterrence"] * D / U) if U > 0 else 1.0
        lam = r["background_initiation"] + r["contagion"] * (U / P) * deter
        hT = r["treatment_entry"] * D
        if math.isfinite(r["treatment_capacity"]):
            hT = hT / (1.0 + hT / r["treatment_capacity"])
        e1O = r["occasional_to_regular"] * O
        e2R = r["regular_to_dependent"] * R
        gO, gR, gD = r["quit_occasional"] * O, r["quit_regular"] * R, r["quit_dependent"] * D
        wT = r["treatment_exit"] * T
        relapse = r["relapse"] * A
        restart = r["restart_former"] * F
        new = lam * N
        out = alpha
        dN = entry - new - (out + mu) * N
        dO = new + restart - e1O - gO - (out + mu) * O
        dR = e1O + relapse - e2R - gR - (out + mu) * R
        dD = e2R + (1 - r["treatment_success"]) * wT - hT - gD - (out + mu * smr) * D
        dT = hT - wT - (out + mu * smr) * T
        dA = gD + r["treatment_success"] * wT - relapse - (out + mu) * A
        dF = gO + gR - restart - (out + mu) * F
        deaths = mu * P + mu * (smr - 1) * (D + T)
        return [dN, dO, dR, dD, dT, dA, dF,
                entry, out * P, deaths, mu * (smr - 1) * (D + T), new, e2R, hT, relapse,
                r["uropathy_regular"] * R + r["uropathy_dependent"] * (D + T)]

    if equilibrium_start:
        y0 = np.concatenate([equilibrium_state(r0, alpha, population), np.zeros(len(FLOWS))])
    years = np.arange(start_year, end_year + 1)
    t_eval = np.unique(np.concatenate([years, years + 0.5, [end_year + 1.0]]).astype(float))
    breaks = sorted({float(iv.start) for iv in interventions} | {float(iv.end) for iv in interventions
                                                                  if iv.end is not None}
                    | {float(b) for b in breaks})
    sol_t, sol_y = _solve(rhs, float(start_year), float(end_year + 1), y0, t_eval, breaks, rtol)
    idx = {round(t, 6): i for i, t in enumerate(sol_t)}
    mid = np.array([idx[round(y + 0.5, 6)] for y in years])
    a = np.array([idx[round(float(y), 6)] for y in years])
    b = np.array([idx[round(float(y + 1), 6)] for y in years])
    states = sol_y[:_NS, mid].T
    cum = sol_y[_NS:]
    flows = (cum[:, b] - cum[:, a]).T
    total = sol_y[:_NS].sum(axis=0)
    net = cum[FLOWS.index("entries")] - cum[FLOWS.index("exits")] - cum[FLOWS.index("deaths")]
    balance = float(np.max(np.abs(total - total[0] - net)))
    return Trajectory(years, states, flows, params.cognitive_dependent, balance)


def equilibrium_state(r: dict[str, float], alpha: float, population: float) -> np.ndarray:
    """Endemic equilibrium (N, O, R, D, T, A, F) of constant rates ``r``, found exactly.

    At equilibrium the user states are linear in the inflow of initiates: u = -M^-1 e_O lambda N*
    with N* = Lambda / (lambda + alpha + mu) and M the user-transition matrix; so the initiation
    hazard lambda solves the scalar equation
    g(lambda) = tau + s (U/P) exp(-q D/U) - lambda = 0 on [tau, tau + s] (U/P <= 1). With tau > 0,
    g(tau) >= 0 > g(tau + s) and the largest root is the endemic state (it is the stable one when
    several exist; with tau = 0 and s below threshold it is the drug-free state lambda = 0).
    """
    from scipy.optimize import brentq

    if math.isfinite(r["treatment_capacity"]):
        raise InputError("an equilibrium start needs unlimited treatment_capacity at the start year (the "
                         f"saturating treatment term has no closed-form equilibrium); got {r['treatment_capacity']:g}.")
    mu = r["mortality_background"]
    entry = (alpha + mu) * population
    x = np.linalg.solve(_linear_matrix(r, alpha), -np.eye(6)[0])  # users per unit inflow of initiates
    tau, s, q = r["background_initiation"], r["contagion"], r["deterrence"]

    def state(lam):
        n = entry / (lam + alpha + mu)
        return n, x * lam * n

    def g(lam):
        n, u = state(lam)
        users = u[0] + u[1] + u[2]
        if users <= 0:
            return tau - lam
        return tau + s * users / (n + u.sum()) * math.exp(-q * u[2] / users) - lam

    hi = tau + s
    if hi <= 0:
        lam = 0.0
    else:
        grid = np.linspace(tau, hi, 65)
        vals = np.array([g(v) for v in grid])
        pos = np.flatnonzero((vals[:-1] >= 0) & (vals[1:] < 0))
        k = int(pos[-1]) if pos.size else 0
        lam = grid[k] if vals[k] == 0 else brentq(g, grid[k], grid[k + 1], xtol=1e-14, rtol=1e-12)
    n, u = state(lam)
    return np.concatenate([[n], u])


def _solve(rhs, t0, t1, y0, t_eval, breaks, rtol):
    """solve_ivp over pieces split at intervention start/end dates (rates jump there)."""
    edges = [t0] + [b for b in breaks if t0 < b < t1] + [t1]
    ts, ys = [], []
    y = y0
    for lo, hi in zip(edges[:-1], edges[1:]):
        te = np.unique(np.concatenate([t_eval[(t_eval >= lo) & (t_eval <= hi)], [lo, hi]]))
        sol = solve_ivp(rhs, (lo, hi), y, method="RK45", t_eval=te, rtol=rtol, atol=1e-6)
        if not sol.success:  # pragma: no cover - defensive
            raise RuntimeError(f"the epidemiology ODE solver failed between {lo:g} and {hi:g}: {sol.message}")
        y = sol.y[:, -1]
        keep = sol.t > (ts[-1][-1] if ts else -np.inf)
        ts.append(sol.t[keep])
        ys.append(sol.y[:, keep])
    return np.concatenate(ts), np.concatenate(ys, axis=1)
