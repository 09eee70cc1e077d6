"""Regenerate the measured numbers of docs/epidemiology.md (fits, model comparison, projection).

Run ``python -m ketasim.epi.docs_numbers`` from the repository root (about 10 minutes on one core).
It fits every model variant compared in the docs to both regions, held out and on all years,
writes the raw results to ``docs/epi_fits.json`` and rewrites the blocks of
``docs/epidemiology.md`` between ``<!-- epi:NAME:begin -->`` and ``<!-- epi:NAME:end -->``
(``parameters``: the rate table from ``data/epi/parameters.yaml``; ``fits``: the measured
comparison). Nothing in those blocks is typed by hand; ``tests/epi/test_docs_epi.py`` checks
that the blocks are the ones this module renders from the JSON and that a fresh fit reproduces
the stored estimates.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import time
from pathlib import Path

import numpy as np

from ..output import atomic_write_bytes
from .data import load_events, load_parameter_table, load_series
from .model import EpiParameters

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "epidemiology.md"
JSON_PATH = ROOT / "docs" / "epi_fits.json"

EW = "england_wales_16_24_past_year"
HK = "hong_kong_registered"
_OLD = EpiParameters.defaults().with_rates(background_initiation=0.002)  # the previous default tau (start value)

#: (key, series, label, fit keyword arguments, held-out cut-off). ``old_data`` rebuilds the Hong Kong
#: series as the previous version handled it (1999 in the same ascertainment segment as 2001+).
VARIANTS: tuple[tuple[str, str, str, dict, int], ...] = (
    ("ew_before", EW, "before: seeded start, fitted τ, s, initial prevalence",
     dict(fitted=("background_initiation", "contagion", "initial_prevalence"), start_state="seeded", events=(),
          params=_OLD), 2016),
    ("ew_seeded", EW, "seeded start, fitted s, initial prevalence (τ fixed)",
     dict(fitted=("contagion", "initial_prevalence"), start_state="seeded", events=()), 2016),
    ("ew_equilibrium", EW, "equilibrium start, fitted s", dict(start_state="equilibrium", events=()), 2016),
    ("ew_default", EW, "**default**: equilibrium start, s + Class B 2014 on initiation", {}, 2016),
    ("ew_seeded_classb", EW, "seeded start, s, initial prevalence + Class B 2014",
     dict(fitted=("contagion", "initial_prevalence"), start_state="seeded",
          events=("uk_ketamine_class_b_2014",)), 2016),
    ("hk_before", HK, "before: 1999 on the same ascertainment, fitted τ, s, initial prevalence",
     dict(fitted=("background_initiation", "contagion", "initial_prevalence"), events=(), params=_OLD,
          old_data=True), 2009),
    ("hk_seeded", HK, "1999 own segment, fitted s, initial prevalence, no event",
     dict(fitted=("contagion", "initial_prevalence"), events=()), 2009),
    ("hk_noevent", HK, "1999 own segment, s (initial prevalence fixed), no event", dict(events=()), 2009),
    ("hk_initiation", HK, "… + 2008/09 measures on initiation",
     dict(events=("hk_youth_drug_measures_2009:initiation",)), 2009),
    ("hk_treatment", HK, "… + 2008/09 measures on treatment entry",
     dict(events=("hk_youth_drug_measures_2009:treatment_entry",)), 2009),
    ("hk_default", HK, "**default**: … + 2008/09 measures on quitting", {}, 2009),
)


def _series_for(key_kwargs: dict, series: str):
    if not key_kwargs.pop("old_data", False):
        return None
    s = load_series(series)
    spec = dataclasses.replace(s.spec, segments=())
    return dataclasses.replace(s, spec=spec, segment=np.zeros_like(s.segment))


def _summarise(ds) -> dict:
    params = {}
    for p in ds.parameter.values.tolist():
        params[p] = {k: float(ds[k].sel(parameter=p)) for k in ("estimate", "lower", "upper")}
        params[p]["at_bound"] = bool(ds.at_bound.sel(parameter=p))
    obs = ~np.isnan(ds.observed.values)
    return {
        "parameters": params,
        "n_train": int(ds.attrs["n_train"]), "n_test": int(ds.attrs["n_test"]),
        "n_estimated": int(ds.attrs["n_estimated"]),
        "log_likelihood": float(ds.attrs["log_likelihood"]), "aic": float(ds.attrs["aic"]),
        "aicc": float(ds.attrs["aicc"]), "bic": float(ds.attrs["bic"]),
        "sigma_log": float(ds.attrs["sigma_log"]), "posterior_ess": float(ds.attrs["posterior_ess"]),
        "posterior_proposals": int(ds.attrs["posterior_proposals"]),
        "train": json.loads(ds.attrs["train_metrics"]), "test": json.loads(ds.attrs["test_metrics"]),
        "loo": json.loads(ds.attrs["loo_metrics"]),
        "fitted": {str(int(y)): float(v) for y, v in zip(ds.year.values[obs], ds.fitted.values[obs])},
        "observed": {str(int(y)): float(v) for y, v in zip(ds.year.values[obs], ds.observed.values[obs])},
        "dependence_share_last": float(ds.dependence_share.values[-1]),
    }


def compute(variants=VARIANTS, progress=True) -> dict:
    """Fit every variant (profile intervals, default posterior) held out and on all years."""
    from .fitting import fit
    from .scenario import project

    out: dict = {"variants": {}, "generated_by": "python -m ketasim.epi.docs_numbers"}
    for key, series, label, kwargs, until in variants:
        row = {"series": series, "label": label, "until": until, "kwargs": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items() if k != "params"}}
        for cut in (until, None):
            kw = dict(kwargs)
            data = _series_for(kw, series)
            t = time.time()
            ds = fit(series, cut, data=data, cross_validate=cut is None, **kw)
            row["held_out" if cut is not None else "all_years"] = _summarise(ds)
            row["held_out" if cut is not None else "all_years"]["seconds"] = round(time.time() - t, 1)
            if progress:
                print(f"{key} until={cut}: {time.time() - t:.1f}s", file=sys.stderr)
            if key == "ew_default" and cut is None:
                sc = ROOT / "examples" / "epi-treatment-expansion.toml"
                p = project(ds, "2024..2030", scenario=sc, n_draws=200)
                out["projection"] = {
                    "fit": key, "scenario": "examples/epi-treatment-expansion.toml", "years": "2024..2030",
                    "n_draws": int(p.attrs.get("n_draws", 200)),
                    "prevalence_2030": {a: [float(x) for x in p.prevalence_percent.sel(arm=a, year=2030).values]
                                        for a in p.arm.values.tolist()},
                    "cumulative_difference": {
                        k[len("cumulative_difference_"):]: [float(x) for x in p[k].values]
                        for k in p.data_vars if k.startswith("cumulative_difference_")},
                }
        out["variants"][key] = row
    return out


# -- rendering -------------------------------------------------------------------------------------
def _g(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    return f"{x:.{digits}g}"


def _n(x: float) -> str:
    """An observation-scale number: persons as integers, percentages to 3 significant digits."""
    return f"{x:,.0f}" if abs(x) >= 100 else _g(x)


def _param_cell(p: dict) -> str:
    return f"{_g(p['estimate'])} [{_g(p['lower'])}, {_g(p['upper'])}]{' †' if p['at_bound'] else ''}"


def _pname(name: str) -> str:
    if name.startswith("event:"):
        ev, target = name[len("event:"):].split(":")
        return f"{ev} ({target}) factor"
    return {"background_initiation": "τ", "contagion": "s", "initial_prevalence": "p₀"}.get(name, name)


def render_fits(res: dict) -> str:
    v = res["variants"]
    lines = []
    for series, title, cut in ((EW, "England & Wales 16–24 (CSEW past-year use, %)", 2016),
                               (HK, "Hong Kong CRDA ketamine register (persons)", 2009)):
        rows = [(k, r) for k, r in v.items() if r["series"] == series]
        lines += [f"### {title}", "",
                  f"Out of sample: fitted to {cut}, the later observations predicted. † = 95% profile interval "
                  "reaches the parameter's bound (not identified). k = number of estimated quantities "
                  "(fitted rates + σ + free offsets). Skill = 1 − MAE / MAE of the naive last-value forecast. "
                  "LOO = leave-one-out cross-validation on all years (RMSE of log errors).", "",
                  "| model | fitted to | rates (95% profile interval) | k | log L | AIC | BIC | in-sample RMSE(log) "
                  "| held-out MAPE | skill | band coverage | LOO RMSE(log) | ESS |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for k, r in rows:
            for part, lab in (("held_out", str(cut)), ("all_years", "all")):
                f = r[part]
                rates = "; ".join(f"{_pname(n)} {_param_cell(p)}" for n, p in f["parameters"].items())
                te = f["test"]
                cells = [r["label"] if part == "held_out" else "", lab, rates, str(f["n_estimated"]),
                         f"{f['log_likelihood']:.2f}", f"{f['aic']:.2f}", f"{f['bic']:.2f}",
                         f"{f['train']['rmse_log']:.3f}",
                         f"{te['mape_percent']:.0f}%" if te else "–",
                         f"{te['skill_vs_naive']:.2f}" if te else "–",
                         f"{te['coverage']:.2f}" if te else "–",
                         f"{f['loo']['rmse_log']:.3f}" if f["loo"] else "–",
                         f"{f['posterior_ess']:.0f}"]
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        d = v.get("ew_default" if series == EW else "hk_default")
        for part in ("held_out", "all_years") if d else ():
            f = d[part]
            pairs = ", ".join(f"{y}: {_n(f['fitted'][y])} vs {_n(f['observed'][y])}" for y in f["fitted"])
            lines.append(f"* Default model, fitted to {'all years' if part == 'all_years' else cut} — "
                         f"model vs observed: {pairs}; (dependent + treated) / past-year users in the last "
                         f"model year: {f['dependence_share_last']:.3f} (reference 0.0855–0.17, use_patterns.csv).")
        lines.append("")
    lines += _findings(v)
    pr = res.get("projection")
    if pr:
        b, s = pr["prevalence_2030"]["baseline"], [x for a, x in pr["prevalence_2030"].items() if a != "baseline"][0]
        cd = pr["cumulative_difference"]

        def q(name):
            x = cd[name]
            return f"{x[1]:.4g} [{x[0]:.4g}, {x[2]:.4g}]"

        lines += [f"**Projection** from the default all-years England & Wales fit, {pr['years']}, "
                  f"`{pr['scenario']}` (treatment entry ×2 from 2025), {pr['n_draws']} draws, median [95%]: "
                  f"past-year prevalence in 2030 {b[1]:.2f}% [{b[0]:.2f}, {b[2]:.2f}] at baseline vs "
                  f"{s[1]:.2f}% [{s[0]:.2f}, {s[2]:.2f}]; summed over the years: dependent person-years "
                  f"{q('dependent')}, new uropathy cases {q('new_uropathy')}, excess deaths {q('excess_deaths')}, "
                  f"new dependence {q('new_dependence')}. The fitted Class B factor stays in force in both arms.", ""]
    return "\n".join(lines)


def _findings(v: dict) -> list[str]:
    """What the tables say, with every number read from the results."""
    need = ("ew_before", "ew_seeded", "ew_equilibrium", "ew_default", "hk_before", "hk_seeded", "hk_noevent",
            "hk_initiation", "hk_treatment", "hk_default")
    if not all(k in v for k in need):
        return []
    ew, hk = v["ew_default"], v["hk_default"]
    cb = "event:uk_ketamine_class_b_2014:initiation"
    hq = "event:hk_youth_drug_measures_2009:quit"
    f_all, f_cut = ew["all_years"]["parameters"][cb], ew["held_out"]["parameters"][cb]
    q_all = hk["all_years"]["parameters"][hq]

    def te(key, part="held_out"):
        return v[key][part]["test"]

    def ic(key):
        a = v[key]["all_years"]
        return f"AIC {a['aic']:.2f}, BIC {a['bic']:.2f}, LOO {a['loo']['rmse_log']:.3f}"

    return [
        "**What the comparison shows.**", "",
        f"* *Identifiability.* Every interval of the 'before' rows reaches a bound. τ sits on its lower bound in "
        f"every fit. Fixing τ leaves the likelihood unchanged (E&W all years: log L "
        f"{v['ew_before']['all_years']['log_likelihood']:.2f} before vs {v['ew_seeded']['all_years']['log_likelihood']:.2f}), "
        "so removing it costs nothing. The default sets (two rates per region) are identified on all years: no †.",
        f"* *E&W, out of sample from 2016.* The equilibrium start with s alone forecasts best: skill "
        f"{te('ew_equilibrium')['skill_vs_naive']:.2f} vs {te('ew_before')['skill_vs_naive']:.2f} before, MAPE "
        f"{te('ew_equilibrium')['mape_percent']:.0f}% vs {te('ew_before')['mape_percent']:.0f}%. No variant predicts "
        "the rise to about 3%. Up to 2016 the Class B factor is estimated at "
        f"{_g(f_cut['estimate'])} [{_g(f_cut['lower'])}, {_g(f_cut['upper'])}], the direction of deterrence "
        "(2014 1.6% → 2016 1.2%), but the interval includes 1, and carrying that factor forward makes the held-out "
        f"error worse (skill {te('ew_default')['skill_vs_naive']:.2f}).",
        f"* *E&W, all years.* The equilibrium start plus the Class B date is the best model by every criterion "
        f"({ic('ew_default')}) against the seeded s + p₀ model ({ic('ew_seeded')}), the equilibrium without the "
        f"event ({ic('ew_equilibrium')}) and before ({ic('ew_before')}). Its factor is "
        f"{_g(f_all['estimate'])} [{_g(f_all['lower'])}, {_g(f_all['upper'])}]: initiation was *higher* after "
        "June 2014. So the data show no deterrent effect of the reclassification. The documented date is where "
        "the level changes, and the rise itself (2017 onward) has no documented cause in the reference tables. "
        "Read the factor as 'what changed after June 2014', not as an effect of Class B.",
        f"* *Hong Kong.* With the 1999 count in its own ascertainment segment, the 2008/09 measures acting on "
        f"quitting are strongly supported ({ic('hk_default')}) against no event ({ic('hk_noevent')}), the same "
        f"measures on initiation ({ic('hk_initiation')}) and on treatment entry ({ic('hk_treatment')}). Quitting "
        f"rose {_g(q_all['estimate'])}-fold [{_g(q_all['lower'])}, {_g(q_all['upper'])}], which reproduces the "
        f"2009 → 2012 fall ({hk['all_years']['fitted']['2012']:.0f} vs {hk['all_years']['observed']['2012']:.0f}). "
        "'Before' AICs for Hong Kong used a different segmentation (1999 on the same ascertainment), so they are "
        "not comparable with the other rows.",
        f"* *Hong Kong, out of sample from 2009.* The event starts in November 2008 and is only partly phased in "
        f"by mid-2009, so the single 2009 point barely informs it (interval "
        f"{_g(hk['held_out']['parameters'][hq]['lower'])}–{_g(hk['held_out']['parameters'][hq]['upper'])}). The "
        f"2012 forecast is still better than before: MAPE {te('hk_default')['mape_percent']:.0f}% (skill "
        f"{te('hk_default')['skill_vs_naive']:.2f}) vs {te('hk_before')['mape_percent']:.0f}% "
        f"({te('hk_before')['skill_vs_naive']:.2f}); without the event it is "
        f"{te('hk_noevent')['mape_percent']:.0f}% ({te('hk_noevent')['skill_vs_naive']:.2f}).",
        "",
    ]


def render_parameters() -> str:
    lines = ["| rate | value | plausible range | unit | tag | source |", "|---|---|---|---|---|---|"]
    for name, row in load_parameter_table().items():
        lines.append(f"| `{name}` | {row['value']:g} | {row['low']:g} – {row['high']:g} | {row['unit']} | "
                     f"{row['tag']} | {row['source']} |")
    lines += ["", "Dated policy events (`src/ketasim/data/epi/events.yaml`; a fit estimates only their size):", "",
              "| event | date (decimal year) | ramp | default target | series | what | source |",
              "|---|---|---|---|---|---|---|"]
    for name, ev in load_events().items():
        lines.append(f"| `{name}` | {ev['start']:g} | {ev['ramp']:g} y | {ev['target']} | "
                     f"{', '.join(ev['series'])} | {ev['description']} | {ev['source']} [{ev['tag']}] |")
    return "\n".join(lines)


def replace_block(text: str, name: str, body: str) -> str:
    pat = re.compile(rf"(<!-- epi:{name}:begin -->\n)(.*?)(<!-- epi:{name}:end -->)", re.S)
    if not pat.search(text):
        raise ValueError(f"docs/epidemiology.md has no block <!-- epi:{name}:begin --> ... <!-- epi:{name}:end -->")
    return pat.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(3), text)


def render_doc(text: str, res: dict) -> str:
    text = replace_block(text, "parameters", render_parameters())
    return replace_block(text, "fits", render_fits(res))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--render-only" in argv:
        res = json.loads(JSON_PATH.read_text(encoding="utf-8"))
    else:
        res = compute()
        atomic_write_bytes(JSON_PATH, (json.dumps(res, indent=1) + "\n").encode())
    atomic_write_bytes(DOC, render_doc(DOC.read_text(encoding="utf-8"), res).encode())
    print(f"wrote {DOC}" + ("" if "--render-only" in argv else f" and {JSON_PATH}"), file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
