"""Generate the parameter appendix of the model description (docs/parameters.md) from the shipped YAML.

Run ``python -m ketasim.docs_tables > docs/parameters.md``; a test checks the file is current.
"""

from __future__ import annotations

import sys

from .parameters import get_parameter_set, list_parameter_sets

_CANON = {"volume": "L", "flow": "L/h", "rate": "1/h", "time": "h", "dimensionless": "", "amount": "mg",
          "concentration": "ng/mL"}


def _cell(x: str) -> str:
    return " ".join(str(x).split()).replace("|", "\\|")


def parameters_markdown() -> str:
    """Markdown: one section per parameter set with structure, routes and a parameter table."""
    out = ["# Parameter sets (generated)", "",
           "Generated from `src/ketasim/data/parameters/*.yaml` by `python -m ketasim.docs_tables`. "
           "Tags: V primary source, C public model code transcribing the paper, S secondary, D derived by "
           "arithmetic, U unverified, A ketasim modelling assumption (the note says why). Canonical values "
           "are what the simulator uses (per kg of body weight where marked /kg, before covariates). "
           "IIV is the SD of the log-normal (or logit-normal) random effect.", ""]
    for sid in list_parameter_sets():
        ps = get_parameter_set(sid)
        out += [f"## `{ps.id}` — {_cell(ps.title)}", "",
                f"- **Citation:** {_cell(ps.citation)}" + (f" (doi:{ps.doi})" if ps.doi else ""),
                f"- **Population:** {_cell(ps.population)}; species {ps.species}; sampling {ps.sampling_site}",
                f"- **Drug / enantiomers:** {ps.drug}; {', '.join(ps.enantiomers)}"
                + (f"; R/S elimination ratio {ps.stereo_ratio:g}" if "racemic" not in ps.enantiomers else ""),
                f"- **Analytes:** {', '.join(ps.analytes)}"]
        own = [r for r, s in ps.routes.items() if not s.get("borrowed")]
        borrowed = [r for r, s in ps.routes.items() if s.get("borrowed")]
        out.append(f"- **Routes:** own: {', '.join(own) or '—'}; borrowed from the route library: "
                   f"{', '.join(borrowed) or '—'}")
        for note in ps.notes:
            out.append(f"- {_cell(note)}")
        out += ["", "| compartment | analyte | volume |", "|---|---|---|"]
        for c, spec in ps.compartments.items():
            out.append(f"| {c} | {spec['analyte']} | {spec.get('volume', '— (amount only)')} |")
        out += ["", "| from | to | rate | fraction | molar |", "|---|---|---|---|---|"]
        for f in ps.flows:
            rate = (f"{f['clearance']} / V({f['from']})" if "clearance" in f else
                    f"1 / {f['mean_time']}" if "mean_time" in f else str(f["rate"]))
            frac = (str(f["fraction"]) if "fraction" in f else
                    f"1 − {f['fraction_complement']}" if "fraction_complement" in f else "1")
            out.append(f"| {f['from']} | {f['to']} | {rate} | {frac} | {'yes' if f.get('molar') else ''} |")
        out += ["", "| parameter | as published | canonical | IIV | covariates | tag | source / note |",
                "|---|---|---|---|---|---|---|"]
        for n, p in ps.params.items():
            canon = f"{p.value:.6g} {_CANON.get(p.kind, '')}{'/kg' if p.per_kg else ''}".strip()
            iiv = f"{p.iiv:.3g} ({p.iiv_scale})" if p.iiv else ""
            cov = "; ".join(
                f"{c.on}^{c.exponent:g} (ref {c.reference:g})" if c.kind == "power" else
                f"+{c.slope:g} per unit {c.on} above {c.threshold:g}" if c.kind == "above" else
                f"×{c.multiplier:g} if {c.on}" if c.kind == "flag" else
                f"{c.on}: " + ", ".join(f"{k} ×{v:g}" for k, v in c.categories.items())
                for c in p.covariates)
            src = " — ".join(x for x in (p.source, p.note) if x)
            out.append(f"| {n} | {_cell(p.original)} | {canon} | {iiv} | {_cell(cov)} | {p.tag} | {_cell(src)} |")
        out.append("")
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(parameters_markdown())
