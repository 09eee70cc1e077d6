"""Fitting the population model to an observed series, with intervals and out-of-sample error.

Likelihood. Observations are log-normal around the model::

    log y_i = log m_i(theta) + b_seg(i) + eps_i,     eps_i ~ N(0, (w_i sigma)^2)

``m_i`` is past-year prevalence (%) at mid-year for a survey series, or the number of problem
users (regular + dependent + in treatment) for a register series; ``b_seg`` is 0 for the first
segment of a prevalence series and otherwise a free offset (register ascertainment, level shift
at a method break); ``w_i`` is 1 / 1.5 / 2 for rows tagged V / S / U. ``sigma`` and the offsets
are profiled out in closed form (weighted least squares in log space), so the objective is the
profile negative log-likelihood of the fitted rates ``theta`` (log-transformed, bounded).

Estimation: Nelder-Mead from several starts, then a polish. Intervals:

* ``"profile"`` (default): profile-likelihood intervals, {theta_j : 2 [l(theta^) - l_p(theta_j)]
  <= chi2_1(level)}. They assume the model is right and the log-normal error is right; with 5-10
  observations they are approximate. An interval that runs into the parameter's bound is
  reported as such (``at_bound``): the data do not identify that rate.
* ``"laplace"``: Gaussian approximation of the log-likelihood at the optimum (inverse Hessian
  in log space) - faster; it also seeds the posterior sampler.

Posterior draws (bands, projections): adaptive multiple importance sampling, :func:`posterior_draws`.
Dated policy events (``data/epi/events.yaml``) enter as fitted factors on a target's rates from
their documented date (:func:`event_parameter`). Model comparison: AIC, AICc, BIC and optional
leave-one-out cross-validation (:func:`leave_one_out`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from scipy import optimize, stats

from ..errors import InputError, unknown
from .data import SERIES, Series, check_years, load_events, load_parameter_table, load_series
from .model import FLOWS, STATES, EpiParameters, Intervention, run_model

__all__ = ["fit", "Problem", "problem_from_fit", "FIT_ATTR"]

FIT_ATTR = "epi_fit_json"
_FITTABLE = ("background_initiation", "contagion", "deterrence", "occasional_to_regular",
             "regular_to_dependent", "quit_occasional", "quit_regular", "quit_dependent",
             "treatment_entry", "relapse", "initial_prevalence", "initiation_change")
_EXTRA = {
    "initial_prevalence": {"value": 0.005, "low": 1e-7, "high": 0.1, "unit": "fraction", "tag": "A",
                           "source": "Fitted: past-year users as a fraction of the band at the start year."},
    "initiation_change": {"value": 1.0, "low": 0.02, "high": 20.0, "unit": "factor", "tag": "A",
                          "source": "Fitted: initiation x this factor from the year given as initiation_break "
                                    "(a change point, e.g. a policy or a market change; the year is the user's "
                                    "choice)."},
}


EVENT_PREFIX = "event:"


def event_parameter(event: str) -> str:
    """Name of the fitted factor of a policy event: ``event:<name>:<target>``.

    ``event`` is a key of ``data/epi/events.yaml``, optionally with ``:target`` to let the event act
    on another target than the file's (e.g. ``hk_youth_drug_measures_2009:quit``).
    """
    name, _, target = event.partition(":")
    events = load_events()
    if name not in events:
        raise unknown("event", name, events)
    target = target or events[name]["target"]
    from .model import TARGETS

    if target not in TARGETS:
        raise unknown(f"target of event '{name}'", target, TARGETS)
    return f"{EVENT_PREFIX}{name}:{target}"


def _event_of(param: str) -> tuple[dict, str]:
    name, target = param[len(EVENT_PREFIX):].split(":")
    return load_events()[name], target


def _row(name: str) -> dict:
    if name.startswith(EVENT_PREFIX):
        ev, target = _event_of(name)
        return {"value": 1.0, "low": ev["factor_low"], "high": ev["factor_high"], "unit": "factor", "tag": "A",
                "source": f"Fitted: {target} rates x this factor from {ev['start']:g} (ramp {ev['ramp']:g} y); "
                          f"{ev['description']} Date: {ev['source']}"}
    return _EXTRA[name] if name in _EXTRA else load_parameter_table()[name]


def _bounds(name: str) -> tuple[float, float]:
    row = _row(name)
    lo = float(row["low"])
    lo = lo if lo > 0 else (1e-4 if name != "background_initiation" else 1e-7)
    return math.log(lo), math.log(float(row["high"]))


@dataclass
class Problem:
    """A series, the fixed rates, the fitted names and the training cut-off."""

    series: Series
    fitted: tuple[str, ...]
    base: EpiParameters
    until: int | None
    initial_prevalence: float = 0.005
    end_year: int = 0
    rtol: float = 1e-6
    initiation_break: float | None = None
    equilibrium_start: bool = False
    lo: np.ndarray = field(init=False)
    hi: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        spec = self.series.spec
        self.end_year = max(self.end_year, int(self.series.years.max()))
        self.lo = np.array([_bounds(n)[0] for n in self.fitted])
        self.hi = np.array([_bounds(n)[1] for n in self.fitted])
        years = self.series.years
        self.train = years <= (self.until if self.until is not None else years.max())
        self.start = spec.start_year

    # -- model evaluation -------------------------------------------------------------------
    def params_from(self, z: np.ndarray) -> tuple[EpiParameters, float, tuple]:
        """(rates, initial prevalence, fitted change-point interventions) for log-parameters z."""
        vals = dict(zip(self.fitted, np.exp(np.clip(z, self.lo, self.hi))))
        p0 = vals.pop("initial_prevalence", self.initial_prevalence)
        change = vals.pop("initiation_change", None)
        ivs = ((Intervention("initiation", float(change), float(self.initiation_break),
                             label="fitted change point"),) if change is not None else ())
        for name in [k for k in vals if k.startswith(EVENT_PREFIX)]:
            ev, target = _event_of(name)
            ivs += (Intervention(target, float(vals.pop(name)), float(ev["start"]), ramp=float(ev["ramp"]),
                                 label=name[len(EVENT_PREFIX):], source=ev["source"]),)
        return (self.base.with_rates(**vals) if vals else self.base), float(p0), ivs

    def trajectory(self, z: np.ndarray, end_year: int | None = None, interventions=(), breaks=()):
        p, p0, fitted_ivs = self.params_from(z)
        interventions = fitted_ivs + tuple(interventions)
        spec = self.series.spec
        return run_model(p, population=spec.model_population, band_years=spec.band_years,
                         start_year=self.start, end_year=end_year or self.end_year,
                         initial_prevalence=p0, interventions=tuple(interventions), rtol=self.rtol,
                         breaks=tuple(breaks), equilibrium_start=self.equilibrium_start)

    def model_scale(self, tr) -> np.ndarray:
        """The model quantity the series measures, before offsets (per trajectory year)."""
        if self.series.spec.kind == "prevalence_percent":
            return tr.prevalence_percent
        return tr.problem_users

    def offsets(self, logm: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Closed-form segment offsets (weighted mean log residual), per observation."""
        s = self.series
        r = np.log(s.values) - logm
        w = 1.0 / s.weights ** 2
        b = np.zeros(int(s.segment.max()) + 1)
        for k in range(b.size):
            if k == 0 and s.spec.kind == "prevalence_percent":
                continue
            m = mask & (s.segment == k)
            if m.any():
                b[k] = np.sum(w[m] * r[m]) / np.sum(w[m])
        return b[s.segment]

    def obs_model(self, z: np.ndarray, mask: np.ndarray | None = None):
        """(log model at observation years incl. offsets, sigma) with offsets fitted on ``mask``."""
        mask = self.train if mask is None else mask
        tr = self.trajectory(z)
        m = self.model_scale(tr)
        logm = np.log(np.maximum(m[self.series.years - self.start], 1e-300))
        logm = logm + self.offsets(logm, mask)
        return logm, tr

    def residuals(self, z: np.ndarray) -> np.ndarray:
        """Weighted log residuals of the training observations."""
        logm, _ = self.obs_model(z)
        s, mask = self.series, self.train
        return (np.log(s.values[mask]) - logm[mask]) / s.weights[mask]

    def nll_from_ssr(self, ssr: float) -> float:
        mask = self.train
        n = int(mask.sum())
        sig2 = max(ssr / n, 1e-12)
        return 0.5 * n * math.log(2 * math.pi * sig2) + float(np.sum(np.log(self.series.weights[mask]))) + 0.5 * n

    def nll(self, z: np.ndarray) -> float:
        """Profile negative log-likelihood on the training observations (sigma profiled out)."""
        if np.any(z < self.lo - 1e-9) or np.any(z > self.hi + 1e-9):
            return 1e12
        try:
            r = self.residuals(z)
        except InputError:
            return 1e12
        return self.nll_from_ssr(float(r @ r))

    def sigma(self, z: np.ndarray) -> float:
        logm, _ = self.obs_model(z)
        s, mask = self.series, self.train
        return float(np.sqrt(np.mean(((np.log(s.values[mask]) - logm[mask]) / s.weights[mask]) ** 2)))


def _starts(prob: Problem, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    table = load_parameter_table()
    first = np.array([math.log(_row(k)["value"]) if _row(k)["value"] > 0 else np.nan for k in prob.fitted])
    first = np.clip(np.where(np.isfinite(first), first, prob.lo + 1.0), prob.lo, prob.hi)
    pts = [first]
    for _ in range(n - 1):
        pts.append(prob.lo + (prob.hi - prob.lo) * rng.uniform(0.15, 0.85, size=first.size))
    return pts


def _least_squares(prob: Problem, z0, fixed: dict[int, float] | None = None):
    """Minimise the weighted sum of squared log residuals (= the profile likelihood) over free rates."""
    fixed = fixed or {}
    free = [i for i in range(z0.size) if i not in fixed]

    def full(x):
        z = np.array(z0, dtype=float)
        z[free] = x
        for i, v in fixed.items():
            z[i] = v
        return z

    def res(x):
        try:
            return prob.residuals(full(x))
        except InputError:
            return np.full(int(prob.train.sum()), 1e3)

    x0 = np.clip(np.asarray(z0)[free], prob.lo[free] + 1e-9, prob.hi[free] - 1e-9)
    sol = optimize.least_squares(res, x0, bounds=(prob.lo[free], prob.hi[free]), diff_step=1e-4,
                                 xtol=1e-8, ftol=1e-10, max_nfev=400)
    return full(sol.x), prob.nll_from_ssr(float(2 * sol.cost))


def estimate(prob: Problem, *, n_starts: int = 6, seed: int = 0) -> tuple[np.ndarray, float]:
    """Maximum-likelihood rates (log scale) and the minimal profile negative log-likelihood."""
    rng = np.random.default_rng(seed)
    best = None
    for z0 in _starts(prob, rng, n_starts):
        z, f = _least_squares(prob, z0)
        if best is None or f < best[1]:
            best = (z, f)
    return best


def hessian(f, z: np.ndarray, lo: np.ndarray, hi: np.ndarray, h: float = 0.05) -> np.ndarray:
    """Central finite-difference Hessian, stepping inwards at bounds."""
    k = z.size
    H = np.zeros((k, k))
    zc = np.clip(z, lo + 2 * h, hi - 2 * h)
    f0 = f(zc)
    e = np.eye(k) * h
    for i in range(k):
        H[i, i] = (f(zc + e[i]) - 2 * f0 + f(zc - e[i])) / h ** 2
        for j in range(i + 1, k):
            H[i, j] = H[j, i] = (f(zc + e[i] + e[j]) - f(zc + e[i] - e[j]) - f(zc - e[i] + e[j])
                                 + f(zc - e[i] - e[j])) / (4 * h ** 2)
    return H


def laplace_cov(H: np.ndarray) -> tuple[np.ndarray, bool]:
    """Covariance = H^-1 on the positive eigen-directions; flat directions get a wide variance."""
    w, V = np.linalg.eigh((H + H.T) / 2)
    ok = bool(np.all(w > 1e-6))
    w = np.where(w > 1e-6, w, 1.0)  # flat direction: sd 1 in log space for the proposal
    return (V / w) @ V.T, ok


def profile_interval(prob: Problem, z_hat: np.ndarray, f_hat: float, j: int, level: float,
                     step: float = 0.3, max_steps: int = 12) -> tuple[float, float, bool, bool]:
    """Profile-likelihood interval of parameter j (log scale); flags if a side hits its bound."""
    crit = 0.5 * stats.chi2.ppf(level, 1)
    others = [i for i in range(z_hat.size) if i != j]
    ends, hit = [], []
    for sign in (-1, 1):
        zj, prev_zj, prev_d = z_hat[j], z_hat[j], 0.0
        zo = z_hat[others].copy()
        bound = prob.lo[j] if sign < 0 else prob.hi[j]
        stepj = max(step, abs(bound - z_hat[j]) / max_steps)
        found = False
        for _ in range(max_steps):
            zj = zj + sign * stepj
            if (zj - bound) * sign >= 0:
                zj = bound
            if others:
                z = z_hat.copy()
                z[others] = zo
                zfull, fz = _least_squares(prob, z, fixed={j: zj})
                zo = zfull[others]
            else:
                z = z_hat.copy()
                z[j] = zj
                fz = prob.nll(z)
            d = fz - f_hat
            if d >= crit:
                frac = (crit - prev_d) / (d - prev_d) if d > prev_d else 1.0
                ends.append(prev_zj + frac * (zj - prev_zj))
                found = True
                break
            prev_zj, prev_d = zj, d
            if zj == bound:
                break
        if not found:
            ends.append(bound)
        hit.append(not found)
    return ends[0], ends[1], hit[0], hit[1]


def _year_offsets(prob: Problem, logm_obs: np.ndarray, m_years: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Offsets (log) for every model year: each segment's offset applies from its first year on."""
    s, spec = prob.series, prob.series.spec
    off_obs = logm_obs - np.log(np.maximum(m_years[s.years - prob.start], 1e-300))
    seg_of_year = np.array([sum(y >= f for f, _ in spec.segments) for y in years])
    off = np.zeros(years.size)
    for k in np.unique(s.segment):
        off[seg_of_year == k] = off_obs[s.segment == k][0]
    return off


def _evaluate(prob: Problem, z: np.ndarray, f_hat: float, years: np.ndarray):
    """(log likelihood relative to the optimum, predicted log series per model year) at z."""
    logm_obs, tr = prob.obs_model(z)
    mask = prob.train
    r = (np.log(prob.series.values[mask]) - logm_obs[mask]) / prob.series.weights[mask]
    m = prob.model_scale(tr)
    return -(prob.nll_from_ssr(float(r @ r)) - f_hat), np.log(np.maximum(m, 1e-300)) + _year_offsets(
        prob, logm_obs, m, years)


def posterior_draws(prob: Problem, z_hat: np.ndarray, f_hat: float, cov: np.ndarray, box: tuple,
                    n_draws: int, n_proposals: int, rng: np.random.Generator, n_rounds: int = 3
                    ) -> tuple[np.ndarray, np.ndarray, float]:
    """Adaptive multiple importance sampling (AMIS) from the likelihood, flat prior on log rates in bounds.

    Round 0 proposes from an equal mixture of a multivariate t (4 d.o.f.) around the estimate with
    1.5^2 x the Laplace covariance and a uniform box around the likelihood intervals (so flat,
    unidentified directions are explored). Each later round proposes from a t centred on the
    current weighted mean with the weighted covariance (x 1.2^2), mixed 80/10/10 with the first
    t and the box (defensive components keep the tails covered). All proposals of all rounds are
    kept and weighted by likelihood / (sample-size-weighted mixture of every round's density) -
    the deterministic-mixture weights of Cornuet et al. 2012 (Scand J Stat 39:798-812), which are
    unbiased and much less variable than per-round weights. ``n_proposals`` model runs in total
    (a quarter in round 0, the rest shared by later rounds). Returns (draws of z, predicted log
    series per draw and year, effective sample size 1 / sum w^2 of the normalised weights).
    """
    k = z_hat.size
    years = np.arange(prob.start, prob.end_year + 1)
    blo, bhi = box
    log_box = -float(np.sum(np.log(bhi - blo)))
    t0 = stats.multivariate_t(loc=z_hat, shape=1.5 ** 2 * cov + 1e-10 * np.eye(k), df=4)
    sizes = [max(n_proposals // 4, 8)]
    rest = max(n_proposals - sizes[0], 8 * (n_rounds - 1))
    sizes += [rest // (n_rounds - 1)] * (n_rounds - 1) if n_rounds > 1 else []
    comps: list[tuple] = []  # (t or None, mixture weights (t, t0, box), size)
    Z = np.empty((0, k))
    loglik = np.empty(0)
    preds: list[np.ndarray | None] = []

    def in_box(x):
        return np.where(np.all((x >= blo) & (x <= bhi), axis=1), 0.0, -np.inf)

    def log_mix(x):
        """log of the sample-size-weighted mixture of all rounds' proposal densities."""
        n_all = sum(c[2] for c in comps)
        lb = log_box + in_box(x)
        l0 = t0.logpdf(x).reshape(-1)
        terms = []
        for t, (a, b, c), n in comps:
            parts = [np.log(b) + l0 if b > 0 else None, np.log(c) + lb if c > 0 else None,
                     np.log(a) + t.logpdf(x).reshape(-1) if a > 0 else None]
            terms.append(np.log(n / n_all) + np.logaddexp.reduce([q for q in parts if q is not None], axis=0))
        return np.logaddexp.reduce(terms, axis=0)

    for rnd, n in enumerate(sizes):
        if rnd == 0:
            t, mix = None, (0.0, 0.5, 0.5)
            n_t = n // 2
            X = np.vstack([np.atleast_2d(t0.rvs(size=n_t, random_state=rng)).reshape(n_t, k),
                           blo + (bhi - blo) * rng.uniform(size=(n - n_t, k))])
            X[0] = z_hat
        else:
            w = _normalised(loglik - log_mix(Z))
            mean = w @ Z
            d = Z - mean
            c = (d * w[:, None]).T @ d
            c = 1.2 ** 2 * (c + 1e-8 * np.eye(k))
            t, mix = stats.multivariate_t(loc=mean, shape=c, df=4), (0.8, 0.1, 0.1)
            which = rng.choice(3, size=n, p=mix)
            X = np.empty((n, k))
            X[which == 0] = np.atleast_2d(t.rvs(size=int((which == 0).sum()), random_state=rng)).reshape(-1, k)
            X[which == 1] = np.atleast_2d(t0.rvs(size=int((which == 1).sum()), random_state=rng)).reshape(-1, k)
            X[which == 2] = blo + (bhi - blo) * rng.uniform(size=(int((which == 2).sum()), k))
        comps.append((t, mix, n))
        ll = np.full(n, -np.inf)
        for i in range(n):
            pred = None
            if np.all((X[i] >= prob.lo) & (X[i] <= prob.hi)):
                try:
                    ll[i], pred = _evaluate(prob, X[i], f_hat, years)
                except InputError:
                    pass
            preds.append(pred)
        Z = np.vstack([Z, X])
        loglik = np.concatenate([loglik, ll])
    w = _normalised(loglik - log_mix(Z))
    ess = float(1.0 / np.sum(w ** 2))
    idx = rng.choice(Z.shape[0], size=n_draws, p=w)
    return Z[idx], np.array([preds[i] for i in idx]), ess


def _normalised(logw: np.ndarray) -> np.ndarray:
    w = np.exp(logw - np.max(logw))
    return w / w.sum()


def leave_one_out(prob: Problem, z_hat: np.ndarray, n_starts: int = 2, seed: int = 0) -> dict:
    """Leave-one-out cross-validation over the training observations.

    Each observation in turn is dropped, the rates are re-estimated from the others (starting
    from the full estimate plus ``n_starts - 1`` random starts) and the dropped value predicted
    (segment offsets re-estimated without it). A point whose segment keeps no other observation
    (its offset would be unknown) is skipped. Returns per-year predictions and the RMSE of log
    errors and mean absolute percentage error - a comparison of model structures that, unlike a
    single held-out tail, uses every observation once as a test point.
    """
    s = prob.series
    idx = np.flatnonzero(prob.train)
    out = {"year": [], "observed": [], "predicted": []}
    full_train = prob.train
    for i in idx:
        seg_ok = s.spec.kind == "prevalence_percent" and s.segment[i] == 0
        if not seg_ok and np.sum(full_train & (s.segment == s.segment[i])) < 2:
            continue
        prob.train = full_train.copy()
        prob.train[i] = False
        try:
            rng = np.random.default_rng(seed + int(i))
            best = None
            for z0 in [z_hat] + _starts(prob, rng, n_starts)[1:]:
                z, f = _least_squares(prob, z0)
                if best is None or f < best[1]:
                    best = (z, f)
            logm, _ = prob.obs_model(best[0])
        finally:
            prob.train = full_train
        out["year"].append(int(s.years[i]))
        out["observed"].append(float(s.values[i]))
        out["predicted"].append(float(np.exp(logm[i])))
    o, p = np.array(out["observed"]), np.array(out["predicted"])
    out["rmse_log"] = float(np.sqrt(np.mean(np.log(p / o) ** 2))) if o.size else float("nan")
    out["mape_percent"] = float(100 * np.mean(np.abs(p - o) / o)) if o.size else float("nan")
    return out


def fit(series: str = "england_wales_16_24_past_year", until: int | None = None, *,
        fitted: tuple[str, ...] | None = None, params: EpiParameters | None = None,
        include_unverified: bool = False, conflict: str = "exclude", intervals: str = "profile",
        level: float = 0.95, n_starts: int = 4, n_draws: int = 200, n_proposals: int = 600, seed: int = 0,
        initiation_break: int | None = None, data: Series | None = None, events: tuple[str, ...] | None = None,
        start_state: str | None = None, cross_validate: bool = False,
        dependence_from_harms: str | None = None, uropathy_from_harms: str | None = None,
        harms_years: float = 3.0) -> xr.Dataset:
    """Fit the model to a named series up to ``until``; score the held-out years after it.

    Returns a Dataset over ``year`` and ``state`` (best-fit trajectory, observations, fitted
    values with a 95% predictive band) and ``parameter`` (estimate and interval), with fit
    quality and out-of-sample error in ``attrs`` (and everything needed by ``project``).

    ``events`` names dated policy events of ``data/epi/events.yaml`` (e.g.
    ``"uk_ketamine_class_b_2014"``; ``"name:target"`` to act on another target); each adds one
    fitted factor ``event:<name>:<target>`` on the target's rates from the documented date.
    ``None`` takes the series' default events that start inside the fitted years (``()`` for none).
    ``start_state`` is ``"seeded"`` (fitted initial prevalence) or ``"equilibrium"`` (endemic
    equilibrium of the start rates); the default is the series' own (``SeriesSpec.start_state``).
    ``cross_validate=True`` adds leave-one-out cross-validation (one refit per observation).
    ``dependence_from_harms`` / ``uropathy_from_harms`` name a use pattern of the individual-level
    harms layer (``"recreational_weekend"``, ``"dependent_daily"``): ``regular_to_dependent`` /
    ``uropathy_regular`` are then the constant hazards with the layer's ``p_dependence`` /
    ``p_urinary_symptoms`` after ``harms_years`` of that pattern (:mod:`ketasim.epi.linking`),
    recorded in the ``linked_rates`` attribute.

    Examples
    --------
    >>> ds = fit("england_wales_16_24_past_year", until=2016, intervals="laplace", n_starts=2)
    >>> ds.attrs["n_train"], ds.attrs["n_test"]
    (5, 4)
    """
    if intervals not in ("profile", "laplace"):
        raise unknown("intervals", intervals, ("profile", "laplace"))
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1); got {level!r}.")
    s = data if data is not None else load_series(series, include_unverified=include_unverified,
                                                  conflict=conflict)
    check_years(s, until)
    spec = s.spec
    start_state = spec.start_state if start_state is None else start_state
    if start_state not in ("seeded", "equilibrium"):
        raise unknown("start_state", start_state, ("seeded", "equilibrium"))
    if fitted is None:  # the series' identified set; initial prevalence fitted iff seeded and not fixed by the table
        fitted = tuple(n for n in spec.fitted if n != "initial_prevalence")
        fitted += ("initial_prevalence",) if start_state == "seeded" and not spec.initial_prevalence_key else ()
    fitted = tuple(fitted)
    last_fit_year = int(s.years[s.years <= (until or s.years.max())].max())
    if events is None:
        events = tuple(e for e in spec.events
                       if spec.start_year < float(load_events()[e.partition(":")[0]]["start"]) <= last_fit_year)
    elif isinstance(events, str):
        events = (events,)
    for name in fitted:
        if name not in _FITTABLE:
            raise unknown("fitted", name, _FITTABLE)
    if start_state == "equilibrium" and "initial_prevalence" in fitted:
        raise InputError("fitted includes 'initial_prevalence' but start_state='equilibrium' sets the initial "
                         "state from the rates; drop it from fitted or use start_state='seeded'.")
    last_fit_year = int(s.years[s.years <= (until or s.years.max())].max())
    for ev in events:
        pname = event_parameter(ev)
        e = load_events()[ev.partition(":")[0]]
        if not spec.start_year < float(e["start"]) <= last_fit_year:
            raise InputError(
                f"event '{ev}' starts at {e['start']:g}, outside the fitted data of '{s.name}' "
                f"({spec.start_year}..{last_fit_year}), so its size cannot be estimated; fit later data or "
                f"leave the event out.")
        if pname in fitted:
            raise InputError(f"event '{ev}' is given twice.")
        fitted = fitted + (pname,)
    if initiation_break is not None:
        lo_y, hi_y = spec.start_year + 1, int(s.years[s.years <= (until or s.years.max())].max())
        if not lo_y <= initiation_break <= hi_y:
            raise InputError(
                f"initiation_break must be a year within the fitted data ({lo_y}..{hi_y}) so that the change "
                f"can be estimated; got {initiation_break}."
            )
        if "initiation_change" not in fitted:
            fitted = fitted + ("initiation_change",)
    elif "initiation_change" in fitted:
        raise InputError("fitted includes 'initiation_change' but no initiation_break year was given; "
                         "give initiation_break=YEAR.")
    if len(fitted) >= int((s.years <= (until or s.years.max())).sum()):
        raise InputError(
            f"fitted has {len(fitted)} rates but only {int((s.years <= (until or s.years.max())).sum())} "
            f"observations of '{s.name}' are in the fit; fit fewer rates or use a later until."
        )
    p0 = float(load_parameter_table()[spec.initial_prevalence_key]["value"]) if spec.initial_prevalence_key else 0.005
    base = params or EpiParameters.defaults()
    linked = {}
    for rate, pattern in (("regular_to_dependent", dependence_from_harms), ("uropathy_regular", uropathy_from_harms)):
        if pattern is not None:
            if rate in fitted:
                raise InputError(f"{rate} is both fitted and taken from the harms layer; drop one.")
            from .linking import rate_from_harms

            linked[rate] = rate_from_harms(rate, pattern, harms_years)
    if linked:
        base = base.with_rates(**{k: v["value"] for k, v in linked.items()})
    prob = Problem(s, fitted, base, until, initiation_break=initiation_break,
                   equilibrium_start=start_state == "equilibrium", initial_prevalence=p0)
    z_hat, f_hat = estimate(prob, n_starts=n_starts, seed=seed)
    H = hessian(prob.nll, z_hat, prob.lo, prob.hi)
    cov, identifiable = laplace_cov(H)
    sd = np.sqrt(np.diag(cov))
    zq = stats.norm.ppf(0.5 + level / 2)
    lo_z, hi_z = np.maximum(z_hat - zq * sd, prob.lo), np.minimum(z_hat + zq * sd, prob.hi)
    at_lo, at_hi = lo_z <= prob.lo + 1e-9, hi_z >= prob.hi - 1e-9
    if intervals == "profile":
        for j in range(len(fitted)):
            lo_z[j], hi_z[j], at_lo[j], at_hi[j] = profile_interval(prob, z_hat, f_hat, j, level)
    rng = np.random.default_rng(seed)
    width = np.maximum(hi_z - lo_z, 0.2)
    box = (np.maximum(lo_z - 0.25 * width, prob.lo), np.minimum(hi_z + 0.25 * width, prob.hi))
    Z, pred, ess = posterior_draws(prob, z_hat, f_hat, cov, box, n_draws, n_proposals, rng)
    loo = leave_one_out(prob, z_hat, seed=seed) if cross_validate else None
    ds = _fit_dataset(prob, z_hat, f_hat, cov, identifiable, lo_z, hi_z, at_lo, at_hi, intervals,
                      level, Z, pred, ess, rng, include_unverified, conflict, loo, n_proposals)
    ds.attrs["linked_rates"] = json.dumps(linked)
    return ds


def _fit_dataset(prob, z_hat, f_hat, cov, identifiable, lo_z, hi_z, at_lo, at_hi, intervals, level,
                 Z, pred, ess, rng, include_unverified, conflict, loo=None, n_proposals=0) -> xr.Dataset:
    from .. import __version__

    s, spec = prob.series, prob.series.spec
    logm, tr = prob.obs_model(z_hat)
    sig = prob.sigma(z_hat)
    years = tr.years
    noise = rng.standard_normal(pred.shape) * sig
    lo_q, hi_q = 0.5 - level / 2, 0.5 + level / 2
    band_lo = np.exp(np.quantile(pred + noise, lo_q, axis=0))
    band_hi = np.exp(np.quantile(pred + noise, hi_q, axis=0))
    # best fit on the series' scale, for every year
    m_best = prob.model_scale(tr)
    off_best = _year_offsets(prob, logm, m_best, years)
    off_obs = logm - np.log(np.maximum(m_best[s.years - prob.start], 1e-300))
    fitted_vals = m_best * np.exp(off_best)

    obs = np.full(years.size, np.nan)
    obs[s.years - prob.start] = s.values
    tag = np.array([""] * years.size, dtype=object)
    tag[s.years - prob.start] = list(s.tags)
    train_year = np.zeros(years.size, dtype=bool)
    train_year[s.years[prob.train] - prob.start] = True
    test_year = np.zeros(years.size, dtype=bool)
    test_year[s.years[~prob.train] - prob.start] = True

    def metrics(mask):
        o = obs[mask]
        p = fitted_vals[mask]
        if o.size == 0:
            return {}
        out = {
            "rmse": float(np.sqrt(np.mean((p - o) ** 2))),
            "mae": float(np.mean(np.abs(p - o))),
            "mape_percent": float(100 * np.mean(np.abs(p - o) / o)),
            "rmse_log": float(np.sqrt(np.mean((np.log(p) - np.log(o)) ** 2))),
            "coverage": float(np.mean((o >= band_lo[mask]) & (o <= band_hi[mask]))),
        }
        return out

    m_train, m_test = metrics(train_year), metrics(test_year)
    if m_test:
        last = s.values[prob.train][-1]
        naive = obs[test_year]
        m_test["naive_last_value_mae"] = float(np.mean(np.abs(naive - last)))
        m_test["skill_vs_naive"] = float(1 - m_test["mae"] / m_test["naive_last_value_mae"]) \
            if m_test["naive_last_value_mae"] > 0 else float("nan")
    n = int(prob.train.sum())
    k = len(prob.fitted) + 1 + int(len(np.unique(s.segment)) - (spec.kind == "prevalence_percent"))
    users = tr.past_year_users
    dep_share = (tr.state("dependent") + tr.state("treatment")) / users

    est = np.exp(z_hat)
    table = load_parameter_table()
    units = [_row(p)["unit"] for p in prob.fitted]
    state_unit = {"units": "persons", "long_name": "persons in each state at mid-year (best fit)"}
    ds = xr.Dataset(
        {
            "count": (("year", "state"), tr.states, state_unit),
            "observed": ("year", obs, {"units": _unit(spec), "long_name": spec.description}),
            "observed_tag": ("year", tag.astype(str), {"long_name": "provenance tag of the observation"}),
            "in_training": ("year", train_year, {"long_name": "observation used in the fit"}),
            "held_out": ("year", test_year, {"long_name": "observation held out (after until)"}),
            "fitted": ("year", fitted_vals, {"units": _unit(spec), "long_name": "best-fit model value"}),
            "fitted_lo": ("year", band_lo, {"units": _unit(spec),
                                            "long_name": f"{level:.0%} predictive band, lower"}),
            "fitted_hi": ("year", band_hi, {"units": _unit(spec),
                                            "long_name": f"{level:.0%} predictive band, upper"}),
            "prevalence_percent": ("year", tr.prevalence_percent,
                                   {"units": "percent", "long_name": "model past-year use prevalence"}),
            "dependence_share": ("year", dep_share, {"units": "fraction",
                                                     "long_name": "(dependent + in treatment) / past-year users"}),
            **{f: ("year", tr.flow(f), {"units": "persons/yr", "long_name": f.replace("_", " ") + " per year"})
               for f in FLOWS},
            "estimate": ("parameter", est, {"long_name": "maximum-likelihood estimate"}),
            "lower": ("parameter", np.exp(lo_z), {"long_name": f"{level:.0%} interval, lower ({intervals})"}),
            "upper": ("parameter", np.exp(hi_z), {"long_name": f"{level:.0%} interval, upper ({intervals})"}),
            "at_bound": ("parameter", np.asarray(at_lo) | np.asarray(at_hi),
                         {"long_name": "interval runs into the parameter bound (not identified by the data)"}),
            "parameter_unit": ("parameter", np.array(units, dtype=str)),
            "draws": (("draw", "parameter"), np.exp(Z),
                      {"long_name": "posterior draws (AMIS, flat prior on log rates within bounds)"}),
            "covariance": (("parameter", "parameter_b"), cov,
                           {"long_name": "Laplace covariance of log parameters"}),
        },
        coords={"year": years, "state": list(STATES), "parameter": list(prob.fitted),
                "parameter_b": list(prob.fitted)},
    )
    settings = {
        "series": s.name, "until": prob.until, "fitted": list(prob.fitted),
        "z_hat": z_hat.tolist(), "cov": cov.tolist(), "base": prob.base.as_dict(),
        "include_unverified": include_unverified, "conflict": conflict, "sigma": sig,
        "initiation_break": prob.initiation_break, "equilibrium_start": prob.equilibrium_start,
        "initial_prevalence": prob.initial_prevalence,
        "offsets": {int(k): float(off_obs[s.segment == k][0]) for k in np.unique(s.segment)},
        "level": level, "n_draws": int(Z.shape[0]),
    }
    settings["base"]["treatment_capacity"] = str(settings["base"]["treatment_capacity"])
    ds.attrs.update({
        "title": f"ketasim epidemiology fit: {s.name}",
        "ketasim_version": __version__,
        "series": s.name,
        "series_description": spec.description,
        "population_source": spec.population_source,
        "until": prob.until if prob.until is not None else int(s.years.max()),
        "kind": spec.kind,
        "n_train": n,
        "n_test": int((~prob.train).sum()),
        "log_likelihood": float(-f_hat),
        "aic": float(2 * f_hat + 2 * k),
        "aicc": float(2 * f_hat + 2 * k + (2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else math.inf)),
        "bic": float(2 * f_hat + k * math.log(n)),
        "n_estimated": k,
        "start_state": "equilibrium" if prob.equilibrium_start else "seeded",
        "start_state_source": spec.start_state_source if prob.equilibrium_start else "",
        "events": json.dumps({p: _row(p)["source"] for p in prob.fitted if p.startswith(EVENT_PREFIX)}),
        "loo_metrics": json.dumps(loo) if loo is not None else "{}",
        "sigma_log": sig,
        "posterior_ess": ess,
        "posterior_proposals": int(n_proposals),
        "band_meaning": (
            f"{level:.0%} predictive band: quantiles over posterior draws of the fitted rates (adaptive multiple "
            "importance sampling, flat prior on log rates within their bounds) plus log-normal observation "
            "noise with the fitted sigma; fixed rates held at their table values."),
        "interval_method": intervals,
        "interval_meaning": (
            f"{level:.0%} {'profile-likelihood' if intervals == 'profile' else 'Laplace (Gaussian)'} "
            "interval of each fitted rate with the other fitted rates re-optimised; conditional on the "
            "fixed rates of data/epi/parameters.yaml, on the model structure and on log-normal errors. "
            "It does not include the uncertainty of the fixed rates."),
        "identifiable": int(identifiable and not bool(np.any(np.asarray(at_lo) | np.asarray(at_hi)))),
        "train_metrics": json.dumps(m_train),
        "test_metrics": json.dumps(m_test),
        "excluded_observations": json.dumps(list(s.excluded)),
        "citations": json.dumps(sorted(set(s.citations))),
        "dependence_share_check": (
            f"model (dependent + treated) / past-year users at {s.years[prob.train][-1]}: "
            f"{dep_share[s.years[prob.train][-1] - prob.start]:.3f}; reference 0.0855 (GDS 2018) - 0.17 "
            "(Winstock 2012), online samples [V]"),
        FIT_ATTR: json.dumps(settings),
    })
    return ds


def _unit(spec) -> str:
    return "percent" if spec.kind == "prevalence_percent" else "persons"


def problem_from_fit(ds: xr.Dataset) -> tuple[Problem, np.ndarray, np.ndarray, dict]:
    """Rebuild the fitting problem, the estimate and its covariance from a fit Dataset."""
    if FIT_ATTR not in ds.attrs:
        raise InputError(
            f"the Dataset is not a ketasim epidemiology fit (attribute '{FIT_ATTR}' missing); "
            "make one with ketasim.epidemiology.fit(...) or `ketasim epi fit`."
        )
    st = json.loads(ds.attrs[FIT_ATTR])
    base = dict(st["base"])
    base["treatment_capacity"] = float(base["treatment_capacity"])
    if st["series"] not in SERIES:
        raise unknown("series", st["series"], SERIES)
    s = load_series(st["series"], include_unverified=st["include_unverified"], conflict=st["conflict"])
    prob = Problem(s, tuple(st["fitted"]), EpiParameters(**base), st["until"],
                   initiation_break=st.get("initiation_break"), equilibrium_start=st.get("equilibrium_start", False),
                   initial_prevalence=st.get("initial_prevalence", 0.005))
    return prob, np.array(st["z_hat"]), np.array(st["cov"]), st
