"""The terminal summary of a run: a concise rich table (median and 5-95% of subjects per arm)."""

from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["print_summary"]


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    ax = abs(x)
    if ax >= 10_000:
        return f"{x / 1000:.0f}k"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.2g}"


def _cell(d: Mapping[str, float] | None) -> str:
    if d is None:
        return "-"
    return f"{_fmt(d['median'])}\n{_fmt(d['p05'])}-{_fmt(d['p95'])}"


_TABLE_METRICS = (("Cmax_ketamine", "Cmax\nng/mL"), ("h_per_week_above_50", ">50\nng/mL\nh/week"),
                  ("h_per_week_above_1200", ">1200\nng/mL\nh/week"), ("AUC_ketamine", "AUC\nng*h/mL"))


_TABLE_LAYERS = (("receptors", "occupancy_NMDA"), ("dopamine", "DA_NAc_pct"), ("outcomes", ""))


def print_summary(result, console=None) -> None:
    """Print a concise table of the per-arm summary (median [5-95%]) with rich.

    PK columns first, then the peak of one variable per layer beyond PK
    (NMDA occupancy, NAc dopamine, the first outcome) when those layers ran.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    tab = result.table()
    attrs = result.dataset.attrs
    present = set(result.summary["metric"])
    cols = [(m, h) for m, h in _TABLE_METRICS if m in present]
    # one variable per layer beyond PK (receptors, dopamine, outcomes; the circuit is upstream of dopamine)
    by_layer: dict[str, list[str]] = {}
    for m in result.summary["metric"].drop_duplicates():
        v = m.removeprefix("peak_")
        if m.startswith("peak_") and f"{v}_quantiles" in result.dataset:
            by_layer.setdefault(result.dataset[f"{v}_quantiles"].attrs.get("layer", ""), []).append(v)
    for layer, prefer in _TABLE_LAYERS:
        vs = by_layer.get(layer, [])
        if vs:
            v = prefer if prefer in vs else vs[0]
            u = result.dataset[f"peak_{v}"].attrs.get("units", "")
            cols.append((f"peak_{v}", "peak\n" + v.replace("_", "\n") + (f"\n{u}" if u and u != "1" else "")))
    armw = min(34, max(len(a) for a in tab)) + 2

    def width(col) -> int:
        m, head = col
        return max([len(x) for x in head.split("\n")] + [len(x) for arm in tab for x in _cell(tab[arm].get(m)).split("\n")]) + 2

    fitted, used = [], armw
    for col in cols:  # as many columns as fit the terminal, PK first
        w = width(col)
        if used + w > console.width and fitted:
            continue
        fitted.append(col)
        used += w
    cols = fitted
    layers = attrs.get("layers", "pk")
    extra = [name for name, prefix in (("acute safety", "safety_"), ("outcomes", "outcome_"))
             if any(str(v).startswith(prefix) for v in result.dataset.data_vars)]
    if extra:
        layers += " (+ " + ", ".join(extra) + ": tables in the report" + (", benefit and harm below" if
                                                                            "outcomes" in extra else "") + ")"
    t = Table(title=f"{attrs['title'].split(': ', 1)[-1]}: n = {attrs['n_subjects']} per arm, seed {attrs['seed']}",
              caption=f"each cell: median, then 5-95% of subjects; layers run: {layers}", box=box.SIMPLE_HEAD)
    t.add_column("arm", style="bold", no_wrap=True, min_width=min(34, max(len(a) for a in tab)), overflow="fold")
    for _, head in cols:
        t.add_column(head, justify="right", no_wrap=True)
    for arm, m in tab.items():
        t.add_row(arm, *(_cell(m.get(k)) for k, _ in cols))
    console.print(t)
    _print_outcomes(result.dataset, console)


#: Benefit-and-harm columns of the terminal (``outcome_<key>``), short headings; the report has them all.
_OUTCOME_COLUMNS = (("madrs_change_d28", "MADRS\nΔ d28"), ("p_response_d28", "resp.\nd28 %"),
                    ("drug_liking_peak", "liking\nVAS"), ("tolerance_end", "toler.\n%"),
                    ("memory_acute_peak", "memory\nacute%"), ("cognitive_burden_end", "cogn.\n%"),
                    ("p_urinary_end", "urine\n%"), ("p_dependence_end", "depend\n%"))


def _print_outcomes(ds, console) -> None:
    """The per-arm benefit-and-harm table (``outcome_*`` variables over ``arm``), when the run has one."""
    from rich import box
    from rich.table import Table

    cols = [(k, h) for k, h in _OUTCOME_COLUMNS if f"outcome_{k}" in ds]
    if not cols or "arm" not in ds.dims:
        return
    n = ds.attrs.get("outcome_subjects", "")
    t = Table(title=f"benefit and harm: population means over the first {n} subjects of each arm",
              caption="MADRS change and response at day 28 (as if every arm's subjects were depressed: read them "
                      "for the therapeutic arms only); peak liking (VAS above placebo) and acute memory "
                      "impairment in the first week; tolerance, cognitive burden, urinary symptoms and dependence "
                      "at the end of use (docs/outcomes.md)", box=box.SIMPLE_HEAD, pad_edge=False,
              padding=(0, 0, 0, 0), show_edge=False)
    t.add_column("arm", style="bold", no_wrap=True, overflow="fold")
    for _, head in cols:
        t.add_column(head, justify="right", no_wrap=True, min_width=6)
    for i, arm in enumerate(ds["arm"].values):
        t.add_row(str(arm), *(_fmt(float(ds[f"outcome_{k}"].values[i])) for k, _ in cols))
    console.print(t)
