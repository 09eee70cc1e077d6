"""The self-contained HTML validation report (``ketasim validate --report FILE.html``).

Deterministic by construction, so the committed copy (``docs/validation.html``) can be
checked against what the command produces: no timestamps, figures written as plain SVG
by this module (no plotting library, so no version strings, fonts or hash salts) and
embedded base64; numbers printed to 4 significant digits.
"""

from __future__ import annotations

import base64
import html
import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["render_validation_report", "svg_fold_plot", "svg_curve_plot"]

_BLUE, _ORANGE, _GREY, _RED = "#1f5fa8", "#d9822b", "#888888", "#b22222"


def _e(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _f(x, digits: int = 4) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return _e(x)
    if not math.isfinite(v):
        return "–"
    return f"{v:.{digits}g}"


def _pct(x) -> str:
    v = float(x)
    return "–" if not math.isfinite(v) else f"{100 * v:.0f}%"


def _c(v: float) -> str:
    return f"{v:.1f}"


def _img(svg: str, alt: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/svg+xml;base64,{data}">'


def _log_ticks(lo: float, hi: float) -> list[float]:
    return [10.0 ** k for k in range(int(math.floor(lo)), int(math.ceil(hi)) + 1)]


def svg_fold_plot(observed: Sequence[float], predicted: Sequence[float], in_scope: Sequence[bool],
                  title: str, size: int = 460) -> str:
    """Predicted vs observed on log-log axes with the identity and 1.25/1.5/2-fold bands (SVG text)."""
    o = np.asarray(observed, float)
    p = np.asarray(predicted, float)
    s = np.asarray(in_scope, bool)
    ok = np.isfinite(o) & np.isfinite(p) & (o > 0) & (p > 0)
    o, p, s = o[ok], p[ok], s[ok]
    vals = np.log10(np.concatenate([o, p])) if o.size else np.array([0.0, 1.0])
    lo, hi = math.floor(vals.min() * 2) / 2 - 0.25, math.ceil(vals.max() * 2) / 2 + 0.25
    m, w = 56, size - 56 - 14
    X = lambda v: m + (math.log10(v) - lo) / (hi - lo) * w  # noqa: E731
    Y = lambda v: 14 + w - (math.log10(v) - lo) / (hi - lo) * w  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size + 20}" '
           f'viewBox="0 0 {size} {size + 20}" font-family="sans-serif" font-size="11">',
           f'<rect x="{m}" y="14" width="{w}" height="{w}" fill="white" stroke="#333"/>']
    a, b = 10 ** lo, 10 ** hi
    for fold, shade in ((2.0, "#eeeeee"), (1.5, "#dddddd"), (1.25, "#cccccc")):
        pts = [(a, a * fold), (b / fold, b), (b, b), (b, b / fold), (a * fold, a), (a, a)]
        poly = " ".join(f"{_c(X(x))},{_c(Y(y))}" for x, y in pts)
        out.append(f'<polygon points="{poly}" fill="{shade}" stroke="none"/>')
    out.append(f'<line x1="{_c(X(a))}" y1="{_c(Y(a))}" x2="{_c(X(b))}" y2="{_c(Y(b))}" stroke="#333" '
               'stroke-dasharray="4,3"/>')
    for t in _log_ticks(lo, hi):
        if a <= t <= b:
            out.append(f'<line x1="{_c(X(t))}" y1="{14 + w}" x2="{_c(X(t))}" y2="{14 + w + 4}" stroke="#333"/>')
            out.append(f'<text x="{_c(X(t))}" y="{14 + w + 16}" text-anchor="middle">{_f(t, 3)}</text>')
            out.append(f'<line x1="{m - 4}" y1="{_c(Y(t))}" x2="{m}" y2="{_c(Y(t))}" stroke="#333"/>')
            out.append(f'<text x="{m - 6}" y="{_c(Y(t) + 4)}" text-anchor="end">{_f(t, 3)}</text>')
    for oi, pi, si in sorted(zip(o, p, s), key=lambda z: (bool(z[2]), z[0], z[1])):
        if si:
            out.append(f'<circle cx="{_c(X(oi))}" cy="{_c(Y(pi))}" r="3.5" fill="{_BLUE}" fill-opacity="0.8"/>')
        else:
            out.append(f'<circle cx="{_c(X(oi))}" cy="{_c(Y(pi))}" r="3.5" fill="none" stroke="{_ORANGE}" '
                       'stroke-width="1.5"/>')
    out.append(f'<text x="{m + w / 2:.1f}" y="{size + 16}" text-anchor="middle">observed (row unit)</text>')
    out.append(f'<text x="12" y="{14 + w / 2:.1f}" text-anchor="middle" transform="rotate(-90 12 {14 + w / 2:.1f})">'
               'predicted (row unit)</text>')
    out.append(f'<text x="{m + 6}" y="28">{_e(title)}</text>')
    out.append(f'<circle cx="{m + 10}" cy="40" r="3.5" fill="{_BLUE}"/><text x="{m + 18}" y="44">in scope</text>')
    out.append(f'<circle cx="{m + 10}" cy="54" r="3.5" fill="none" stroke="{_ORANGE}" stroke-width="1.5"/>'
               f'<text x="{m + 18}" y="58">out of scope (documented)</text>')
    out.append(f'<text x="{m + 6}" y="72" fill="#555">bands: 1.25-, 1.5-, 2-fold</text>')
    out.append("</svg>")
    return "\n".join(out)


def svg_curve_plot(t: Sequence[float], observed: Sequence[float], predicted: Sequence[float], title: str,
                   unit: str, width: int = 360, height: int = 240) -> str:
    """Digitised mean curve (points) and ketasim's typical-value prediction (line), log concentration axis."""
    t = np.asarray(t, float)
    o = np.asarray(observed, float)
    p = np.asarray(predicted, float)
    pos = np.concatenate([o[o > 0], p[np.isfinite(p) & (p > 0)]])
    if pos.size == 0:
        pos = np.array([1.0])
    lo, hi = math.floor(np.log10(pos.min())), math.ceil(np.log10(pos.max()))
    if hi <= lo:
        hi = lo + 1
    t0, t1 = 0.0, float(t.max()) if t.size else 1.0
    mx, my, w, h = 54, 22, width - 54 - 10, height - 22 - 34
    X = lambda v: mx + (v - t0) / (t1 - t0 or 1.0) * w  # noqa: E731
    Y = lambda v: my + h - (math.log10(max(v, 10 ** lo)) - lo) / (hi - lo) * h  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">',
           f'<rect x="{mx}" y="{my}" width="{w}" height="{h}" fill="white" stroke="#333"/>',
           f'<text x="{mx}" y="14" font-size="11">{_e(title)}</text>']
    for k in range(lo, hi + 1):
        y = Y(10.0 ** k)
        out.append(f'<line x1="{mx - 4}" y1="{_c(y)}" x2="{mx}" y2="{_c(y)}" stroke="#333"/>')
        out.append(f'<text x="{mx - 6}" y="{_c(y + 3)}" text-anchor="end">{_f(10.0 ** k, 3)}</text>')
    for k in range(5):
        tv = t0 + (t1 - t0) * k / 4
        out.append(f'<line x1="{_c(X(tv))}" y1="{my + h}" x2="{_c(X(tv))}" y2="{my + h + 4}" stroke="#333"/>')
        out.append(f'<text x="{_c(X(tv))}" y="{my + h + 15}" text-anchor="middle">{_f(tv, 3)}</text>')
    out.append(f'<text x="{mx + w / 2:.1f}" y="{height - 4}" text-anchor="middle">time (h)</text>')
    out.append(f'<text x="11" y="{my + h / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 11 {my + h / 2:.1f})">{_e(unit)}</text>')
    ok = np.isfinite(p) & (p > 0)
    if ok.any():
        line = " ".join(f"{_c(X(a))},{_c(Y(b))}" for a, b in zip(t[ok], p[ok]))
        out.append(f'<polyline points="{line}" fill="none" stroke="{_BLUE}" stroke-width="1.6"/>')
    for a, b in zip(t, o):
        if b > 0:
            out.append(f'<circle cx="{_c(X(a))}" cy="{_c(Y(b))}" r="2.2" fill="{_RED}"/>')
    # legend in the margin below the title, clear of the data
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 16}" '
           f'viewBox="0 0 {width} {height + 16}" font-family="sans-serif" font-size="10">'] + out[1:]
    out.append(f'<circle cx="{mx + w - 150}" cy="{height + 8}" r="2.2" fill="{_RED}"/>'
               f'<text x="{mx + w - 144}" y="{height + 11}">digitised mean</text>')
    out.append(f'<line x1="{mx + w - 64}" y1="{height + 8}" x2="{mx + w - 56}" y2="{height + 8}" stroke="{_BLUE}" '
               f'stroke-width="1.6"/><text x="{mx + w - 52}" y="{height + 11}">ketasim</text>')
    out.append("</svg>")
    return "\n".join(out)


def _table(df: pd.DataFrame, cols: Iterable[tuple[str, str]], cls: str = "") -> str:
    cols = [(k, h) for k, h in cols if k in df.columns or df.empty]
    head = "".join(f"<th>{_e(h)}</th>" for _, h in cols)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for key, _h in cols:
            v = r[key]
            if isinstance(v, (bool, np.bool_)):
                cells.append(f"<td>{'yes' if v else 'no'}</td>")
            elif isinstance(v, (float, np.floating, int, np.integer)):
                cells.append(f'<td class="n">{_f(v)}</td>')
            else:
                cells.append(f"<td>{_e(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>' + "".join(rows) + "</tbody></table>"


_CSS = """
body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:0.6em 0 1.4em;font-size:12px}
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
th{background:#f2f2f2} td.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37;font-weight:bold} .fail{color:#b22222;font-weight:bold}
.figs img{margin:4px;border:1px solid #eee} .small{font-size:12px;color:#555}
"""


def _layer_section(lr) -> str:
    out = lr.outcome
    s = lr.summary
    parts = [f'<h2 id="{_e(lr.name)}">{_e(lr.title)} (<code>{_e(lr.name)}</code>)</h2>',
             f"<p>Observations: <code>{_e(lr.observations)}</code>. {s['n_observations']} scored rows "
             f"from {s['n_studies']} studies; {s['n_in_scope']} in scope, {s['n_out_of_scope']} documented out of "
             f"scope (each with its reason below).</p>"]
    g = pd.DataFrame([{"gate": x.description, "value": x.value, "threshold": x.threshold,
                       "result": "pass" if x.passed else ("FAIL" if lr.enforced else "FAIL (not enforced)")}
                      for x in lr.gates])
    parts.append("<h3>Gates</h3>")
    if not lr.enforced:
        parts.append(f"<p><b>Reported, not enforced</b> (a failure here does not fail <code>ketasim validate</code>): "
                     f"{_e(lr.enforce_reason)}</p>")
    parts.append(_table(g, [("gate", "gate"), ("value", "value"), ("threshold", "threshold"), ("result", "result")]))
    bu = s.get("by_use", {})
    if bu:
        def _use(u):
            d = bu.get(u, {})
            txt = []
            if d.get("n_rows"):
                txt.append(f"{d['n_rows']} rows from {d['n_studies']} studies, GMFE {_f(d['gmfe'])}, "
                           f"{_pct(d['within_1_5'])} within 1.5-fold")
            if d.get("n_bounds"):
                txt.append(f"{d['n_bounds_inside']} of {d['n_bounds']} facts within their interval")
            return "; ".join(txt) or "none"
        parts.append("<p><b>Calibration vs validation.</b> Observations used to fit a parameter "
                     f"(<code>used_for = calibration</code>) are not independent evidence: calibration: {_use('calibration')}. "
                     f"Held-out validation: {_use('validation')}.</p>")
    parts.append("<h3>Summary by group (in-scope rows)</h3>")
    groups = lr.groups.copy()
    for col in ("within_1_25", "within_1_5", "within_2", "in_pi90"):
        groups[col] = groups[col].map(_pct)
    parts.append(_table(groups, [("group", "group"), ("n", "n"), ("studies", "studies"), ("gmfe", "GMFE"),
                                    ("bias", "bias"), ("within_1_25", "≤1.25×"), ("within_1_5", "≤1.5×"),
                                    ("within_2", "≤2×"), ("in_pi90", "in 90% PI")]))
    a = s["all_rows"]
    pi_txt = ("" if not s.get("n_with_pi") else
              " 90% prediction intervals: 5th–95th percentile over the virtual arm; "
              f"{_pct(s['in_pi90'])} of all rows and {_pct(s['in_pi90_in_scope'])} of in-scope rows fall inside. "
              "Study means are compared with intervals for individuals, so coverage below 90% flags either model "
              "bias or variability that the set does not describe (sets or routes without IIV give a point "
              "interval).")
    parts.append(f"<p class=small>All scored rows, no exemptions: GMFE {_f(a['gmfe'])}, {_pct(a['within_1_5'])} "
                 f"within 1.5-fold, {_pct(a['within_2'])} within 2-fold.{pi_txt}</p>")
    rows = out.rows[out.rows["status"] == "ok"]
    parts.append('<h3>Predicted vs observed</h3><div class="figs">')
    parts.append(_img(svg_fold_plot(rows["observed"], rows["predicted"], rows["in_scope"],
                                    f"{lr.name}: {len(rows)} rows"), f"{lr.name} predicted vs observed"))
    parts.append("</div>")
    if not out.curves.empty:
        parts.append("<h3>Digitised mean curves</h3>")
        parts.append(_table(out.curves, [("curve", "curve"), ("parameters", "parameter set"), ("unit", "unit"),
                                         ("n_points", "points"), ("gmfe", "GMFE"),
                                         ("auc_log_error_fold", "AUC of log error (fold)"),
                                         ("cmax_fold", "peak fold"), ("tmax_error_h", "time-to-peak error (h)"),
                                         ("in_scope", "gated"), ("reason", "reason / status")]))
        parts.append('<div class="figs">')
        for _, c in out.curves.iterrows():
            pts = out.curve_points[out.curve_points["curve"] == c["curve"]]
            if c["status"] != "ok" or pts.empty:
                continue
            parts.append(_img(svg_curve_plot(pts["time_h"], pts["observed"], pts["predicted"], c["curve"],
                                             c["unit"]), c["curve"]))
        parts.append("</div>")
        parts.append('<p class="small">' + "<br>".join(f"<b>{_e(c['curve'])}</b>: {_e(c['regimen'])} — "
                                                       f"{_e(c['note'])}" for _, c in out.curves.iterrows()) + "</p>")
    if not out.bounds.empty:
        parts.append("<h3>Published intervals (plausibility bounds)</h3>")
        parts.append(_table(out.bounds, [("obs_id", "id"), ("kind", "kind"), ("used_for", "used for"),
                                         ("regimen", "regimen"),
                                         ("parameters", "set"), ("metric", "metric"), ("bound_low", "low"),
                                         ("bound_high", "high"), ("predicted", "predicted"), ("unit", "unit"),
                                         ("inside", "inside"), ("status", "status"),
                                         ("statement", "what the source says"),
                                         ("citation", "citation"), ("tag", "tag"), ("note", "note")]))
        bmiss = out.bounds[~out.bounds["inside"].astype(bool)]
        parts.append(f"<h3>Facts outside their interval or not computable ({len(bmiss)})</h3>")
        parts.append(_table(bmiss, [("obs_id", "id"), ("used_for", "used for"), ("predicted", "predicted"),
                                    ("bound_low", "low"), ("bound_high", "high"), ("unit", "unit"),
                                    ("status", "status"), ("in_scope", "gated"), ("note", "note")]))
    parts.append("<h3>Every observation</h3>")
    parts.append(_table(out.rows, [("obs_id", "id"), ("study", "study"), ("kind", "kind"), ("used_for", "used for"),
                                   ("route", "route"),
                                   ("population", "population"), ("analyte", "analyte"), ("metric", "metric"),
                                   ("observed", "observed"), ("predicted", "predicted"), ("unit", "unit"),
                                   ("fold_error", "fold"), ("pi_low", "PI 5%"), ("pi_high", "PI 95%"),
                                   ("in_pi90", "in PI"), ("in_scope", "in scope"), ("tag", "tag")]))
    miss = out.rows[~out.rows["in_scope"]]
    parts.append(f"<h3>Misses and out-of-scope rows ({len(miss)})</h3>")
    parts.append(_table(miss, [("obs_id", "id"), ("fold_error", "fold"), ("reason", "reason")]))
    parts.append("<h3>Provenance</h3>")
    parts.append(_table(out.rows, [("obs_id", "id"), ("regimen", "mapped regimen"), ("parameters", "parameter set"),
                                   ("output", "output"), ("citation", "citation"), ("tag", "tag"),
                                   ("provenance", "statistic, n, mapping note")], cls="small"))
    return "\n".join(parts)


def render_validation_report(result) -> str:
    """The report as one HTML string (deterministic for a given result)."""
    from .. import __version__
    from ..validation import headline

    status = '<span class="pass">all gates pass</span>' if result.passed else \
        '<span class="fail">a gate fails</span>'
    pop = result.population
    body = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>ketasim validation report</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>ketasim validation report</h1>",
        f"<p>ketasim {_e(__version__)} — {status}. Regenerate with <code>ketasim validate --report "
        "docs/validation.html</code>.</p>",
        f"<p><b>{_e(headline(result))}</b></p>",
        "<p>Each reference observation shipped with the package is mapped to the regimen, population, parameter "
        "set and model output that predict it, simulated with typical values (fold error = predicted / observed) "
        f"and in a virtual population of {pop['n_subjects']} subjects per study arm (seed {pop['seed']}) for the "
        f"{100 * pop['interval']:.0f}% prediction interval. GMFE = 10^mean|log10 fold|; bias = 10^mean log10 fold. "
        "Provenance tags: V primary source, C public model code, S secondary, D derived, U unverified, A modelling "
        "assumption.</p>",
        "<p>Layers: " + ", ".join(f'<a href="#{_e(lr.name)}">{_e(lr.title)}</a> '
                                  f'({"pass" if lr.passed else ("FAIL" if lr.enforced else "FAIL, not enforced")})'
                                  for lr in result.layers) + "</p>",
    ]
    for lr in result.layers:
        body.append(_layer_section(lr))
    body.append(
        "<h2>Verification (run in CI by <code>make test</code>)</h2><ul>"
        "<li><code>tests/test_pk_vs_ode.py</code>: the exact PK engine against an independent "
        "<code>solve_ivp</code> integration built flow by flow from each set's YAML, every set, random regimens over "
        "every route, to 1e-6 of Cmax; mass balance.</li>"
        "<li><code>tests/test_sbml.py</code>: the SBML export (<code>ketasim export sbml</code>; dosing as events, "
        "time in h, every output under ketasim's id) simulated in libRoadRunner reproduces ketasim to 1e-6 of each "
        "curve's maximum, for every parameter set and route.</li>"
        "<li><code>tests/test_nonmem_io.py</code>, <code>tests/test_validation.py</code>: NONMEM dose records "
        "(<code>ketasim export nonmem-data</code>, <code>write_nonmem</code>/<code>read_nonmem</code>) round-trip.</li>"
        "<li><code>tests/test_validation.py</code>: this report and the README headline are what "
        "<code>ketasim validate</code> produces now.</li></ul>")
    body.append("</body></html>")
    return "\n".join(body) + "\n"
