"""SBML export of a parameter set and a regimen, for simulation in other tools.

:func:`to_sbml` writes one subject's PK model (typical values for the given
covariates) as an SBML Level 3 Version 2 document that any SBML simulator can
run (COPASI, libRoadRunner, tellurium, PK-Sim/MoBi import ...). The model is
built from the parameter set's structure, not from ketasim's rate matrix:

* **time** is in hours (``timeUnits = hour``); amounts in mg; volumes in L.
* **compartments**: one SBML compartment per model compartment (``cmt_<name>``),
  sized by its volume parameter (1 L for absorption depots, which have none).
  Species are amounts (``hasOnlySubstanceUnits``), so kinetics do not depend on
  a depot's nominal size.
* **species**: one per compartment and enantiomer chain, ``S_<name>`` and
  ``R_<name>`` (mg). A racemic dose is split 50:50; R-ketamine uses the set's
  elimination parameters multiplied by ``R_elimination_scale`` (the set's
  ``stereo_ratio``, or 1 for a non-stereoselective racemic set), as in ketasim.
* **reactions**: one per first-order flow and chain, with the kinetic law
  written in the set's parameter names (``CL / V1 * S_central``); metabolite
  formation has the molar-mass ratio as product stoichiometry; a zero-order
  input is a reaction whose rate is an event-controlled parameter
  (``rate_S_<target>``, mg/h).
* **parameters**: every parameter of the set with its SBML units and, in its
  notes, the citation and provenance tag.
* **dosing** as SBML events: one event per distinct dose time; a bolus adds
  its amount times the route's input fractions to the target species; an
  infusion (or a route's own zero-order absorption) raises the input rate at
  its start and lowers it at its end.
* **outputs**: every variable that :func:`ketasim.simulate` can return for the
  set (``C_plasma_ketamine`` in ng/mL, ``C_plasma_S_ketamine``,
  ``C_plasma_norketamine``, ``C_effect_ketamine``, ``A_<compartment>``,
  ``A_eliminated`` ...) is a parameter with the same id and units, defined by an
  assignment rule; the cumulative areas ``AUC_<x>`` (ng*h/mL) by the rate rule
  ``d AUC_<x> / dt = C_<x>``.

The effect site of each chain is a parameter ``Ce_S`` / ``Ce_R`` (mg/L) with
the rate rule ``ke0 (A_central / V1 - Ce)``.

``A_eliminated`` is the ketamine given that is no longer in a ketamine
compartment: the accumulated flux out of the ketamine compartments plus, at
each dose, the part of the dose that enters no compartment
(``1 - sum of the route's input fractions``).

Examples
--------
>>> from ketasim.sbml import to_sbml
>>> xml = to_sbml("fanta_2015_s_ketamine", "20 mg esketamine iv over 20 min")
>>> 'id="C_plasma_ketamine"' in xml
True
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Mapping

import numpy as np

from .dosing import Regimen
from .errors import InputError, RouteNotSupportedError
from .layers.pk import KE0_DEFAULT_PER_H, PK_OUTPUTS, pk_variables
from .parameters import ParameterSet, get_parameter_set
from .population import Subject
from .units import MOLAR_MASS

__all__ = ["to_sbml", "write_sbml", "CHAINS"]

#: Enantiomer chains: name -> share of each drug's dose entering the chain.
CHAINS: dict[str, dict[str, float]] = {
    "S": {"esketamine": 1.0, "racemic": 0.5, "arketamine": 0.0},
    "R": {"esketamine": 0.0, "racemic": 0.5, "arketamine": 1.0},
}

# unit id -> list of (kind, exponent, scale, multiplier)
_UNITS = {
    "hour": [("second", 1, 0, 3600.0)],
    "mg": [("gram", 1, -3, 1.0)],
    "per_hour": [("second", -1, 0, 3600.0)],
    "litre_per_hour": [("litre", 1, 0, 1.0), ("second", -1, 0, 3600.0)],
    "mg_per_hour": [("gram", 1, -3, 1.0), ("second", -1, 0, 3600.0)],
    "mg_per_litre": [("gram", 1, -3, 1.0), ("litre", -1, 0, 1.0)],
    "ng_per_mL": [("gram", 1, -9, 1.0), ("litre", -1, -3, 1.0)],
    "ng_h_per_mL": [("gram", 1, -9, 1.0), ("litre", -1, -3, 1.0), ("second", 1, 0, 3600.0)],
}
_KIND_UNIT = {"volume": "litre", "flow": "litre_per_hour", "rate": "per_hour", "time": "hour",
              "amount": "mg", "concentration": "ng_per_mL", "dimensionless": "dimensionless"}
_OUT_UNIT = {"ng/mL": "ng_per_mL", "mg": "mg", "ng*h/mL": "ng_h_per_mL"}
_SID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _libsbml():
    try:
        import libsbml
    except ImportError:  # pragma: no cover - a declared dependency
        raise InputError("SBML export needs python-libsbml; install it with `pip install python-libsbml`.") from None
    return libsbml


def _num(x: float) -> str:
    return repr(float(x))


def _ref(ref) -> str:
    """A parameter reference or a number, as formula text."""
    if isinstance(ref, (int, float)) and not isinstance(ref, bool):
        return f"({_num(ref)})"
    return str(ref)


def _check(ok: int, what: str) -> None:
    libsbml = _libsbml()
    if ok != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise RuntimeError(f"libsbml: {what} failed: {libsbml.OperationReturnValue_toString(ok)}")


def _formula(text: str):
    libsbml = _libsbml()
    ast = libsbml.parseL3Formula(text)
    if ast is None:
        raise RuntimeError(f"libsbml cannot parse {text!r}: {libsbml.getLastParseL3Error()}")
    return ast


def _value(p: Mapping[str, float], ref) -> float:
    if isinstance(ref, (int, float)) and not isinstance(ref, bool):
        return float(ref)
    return float(p[ref])


def _dose_inputs(ps: ParameterSet, regimen: Regimen, p: Mapping[str, float], weight: float):
    """Dose inputs per chain: list of (chain, time, target, amount_mg, fraction_formula, duration_h, duration_formula).

    Follows the route semantics of the parameter-set schema (docs/model.md): a route's
    inputs with ``fraction`` / ``fraction_complement`` / zero-order ``duration``, an
    optional ``lag``, and devices (``device_mg`` per spray, ``device_interval_min`` apart;
    sprays after the first use ``later_device_multiplier``).
    Also returns the administered amounts (chain, time, amount, lost_fraction_formula, duration).
    """
    inputs, given = [], []
    for ev in regimen.events:
        if ev.route not in ps.routes:
            raise RouteNotSupportedError(
                f"route {ev.route!r} is not available in parameter set {ps.id!r}; it supports "
                f"{', '.join(sorted(ps.routes))}.")
        route = ps.routes[ev.route]
        amount = ev.amount * (weight if ev.per_kg else 1.0)
        lag = _value(p, route["lag"]) if "lag" in route else 0.0
        for chain, shares in CHAINS.items():
            share = shares[ev.drug]
            if share <= 0:
                continue
            dose = amount * share
            sprays = [(0.0, dose, False)]
            if "device_mg" in route and ev.duration == 0:
                dev = float(route["device_mg"]) * share
                gap = float(route.get("device_interval_min", 5.0)) / 60.0
                k = int(np.ceil(dose / dev - 1e-9))
                sprays = [(j * gap, min(dev, max(0.0, dose - j * dev)), j > 0) for j in range(k)]
            for offset, amt, later in sprays:
                t0 = ev.time + lag + offset
                fracs = []
                for spec in route["inputs"]:
                    f = []
                    if "fraction" in spec:
                        f.append(_ref(spec["fraction"]))
                        if later and "later_device_multiplier" in spec:
                            f.append(_ref(spec["later_device_multiplier"]))
                    if "fraction_complement" in spec:
                        g = [_ref(spec["fraction_complement"])]
                        if later:
                            other = [s for s in route["inputs"] if s.get("fraction") == spec["fraction_complement"]]
                            if other and "later_device_multiplier" in other[0]:
                                g.append(_ref(other[0]["later_device_multiplier"]))
                        f.append(f"(1 - {' * '.join(g)})")
                    frac = " * ".join(f) if f else "1"
                    fracs.append(frac)
                    d_in = _value(p, spec["duration"]) if "duration" in spec else 0.0
                    if ev.duration > 0 and d_in > 0:
                        raise InputError(f"route {ev.route!r} of parameter set {ps.id!r} has its own zero-order "
                                         f"absorption; give the dose as a bolus, not 'over {ev.duration:g} h'.")
                    dur = max(ev.duration, d_in)
                    dur_f = _ref(spec["duration"]) if d_in > 0 else _num(dur)
                    inputs.append((chain, t0, spec["to"], amt, frac, dur, dur_f))
                lost = "(1 - (" + " + ".join(fracs) + "))"
                given.append((chain, t0, amt, lost, ev.duration))
    return inputs, given


def to_sbml(parameters: str | ParameterSet, regimen: Regimen | str, subject: Subject | None = None,
            *, model_id: str | None = None) -> str:
    """The PK model of one subject under a regimen, as an SBML L3V2 document (text).

    Parameters
    ----------
    parameters : str or ParameterSet
        Parameter-set id (``ketasim parameters``) or a loaded set.
    regimen : Regimen or str
        Doses (regimen text such as ``"20 mg iv over 20 min"``); become SBML events.
    subject : Subject, optional
        Covariates for the individual parameter values (typical values, no random
        effects); default ``Subject()`` (70 kg adult; 0.3 kg rat for a rat set).
    model_id : str, optional
        SBML model id; default from the set id.
    """
    libsbml = _libsbml()
    ps = parameters if isinstance(parameters, ParameterSet) else get_parameter_set(parameters)
    if isinstance(regimen, str):
        from .regimen_text import parse_regimen

        regimen = parse_regimen(regimen)
    if subject is None:
        subject = Subject(weight=0.3, age=0.25, species="rat") if ps.species == "rat" else Subject()
    if subject.species != ps.species:
        raise InputError(f"parameter set {ps.id!r} is for {ps.species}s; the subject is a {subject.species}.")
    cov = {k: np.array([getattr(subject, k)]) for k in ("weight", "age", "sex", "asian", "japanese", "cyp2b6")}
    p = {k: float(v[0]) for k, v in ps.individual(cov, None).items()}

    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    mid = model_id or re.sub(r"[^A-Za-z0-9_]", "_", f"ketasim_{ps.id}")
    m.setId(mid)
    m.setName(f"ketasim PK model: {ps.title}; regimen: {regimen.to_text()}")
    for uid, parts in _UNITS.items():
        ud = m.createUnitDefinition()
        ud.setId(uid)
        for kind, exp, scale, mult in parts:
            u = ud.createUnit()
            u.setKind(libsbml.UnitKind_forName(kind))
            u.setExponent(exp)
            u.setScale(scale)
            u.setMultiplier(mult)
    m.setTimeUnits("hour")
    m.setSubstanceUnits("mg")
    m.setExtentUnits("mg")
    m.setVolumeUnits("litre")
    ids: set[str] = set()

    def new_id(x: str) -> str:
        if not _SID.match(x):
            raise InputError(f"{x!r} is not a valid SBML identifier; rename it in the parameter set.")
        if x in ids:
            raise InputError(f"SBML export: identifier {x!r} is used twice (parameter, compartment or output).")
        ids.add(x)
        return x

    def param(pid: str, value: float, units: str, constant: bool = True, note: str = ""):
        q = m.createParameter()
        q.setId(new_id(pid))
        q.setValue(float(value))
        q.setUnits(units)
        q.setConstant(constant)
        if note:
            q.setNotes(f'<body xmlns="http://www.w3.org/1999/xhtml"><p>{_xml_escape(note)}</p></body>')
        return q

    # parameters of the set
    for name, par in ps.params.items():
        note = "; ".join(x for x in (par.source, f"tag {par.tag}" if par.tag else "", par.note,
                                     f"as published: {par.original}") if x)
        param(name, p[name], _KIND_UNIT.get(par.kind, "dimensionless"), note=note)
    if "ke0" not in ps.params:
        param("ke0", KE0_DEFAULT_PER_H, "per_hour",
              note="ketasim default effect-site rate: t1/2,ke0 6.1 min (Olofsen 2012) [V]")
    scale = 1.0 if "racemic" in ps.enantiomers else ps.stereo_ratio
    param("R_elimination_scale", scale, "dimensionless",
          note="R-ketamine elimination relative to S (stereo_ratio of the set; 1 for a racemic set)")

    # compartments and species
    for cname, spec in ps.compartments.items():
        c = m.createCompartment()
        c.setId(new_id(f"cmt_{cname}"))
        c.setSpatialDimensions(3)
        c.setUnits("litre")
        c.setConstant(True)
        if "volume" in spec:
            c.setSize(p[spec["volume"]])
            ia = m.createInitialAssignment()
            ia.setSymbol(f"cmt_{cname}")
            ia.setMath(_formula(str(spec["volume"])))
        else:
            c.setSize(1.0)
        c.setName(f"{cname} ({spec['analyte']})")
        for chain in CHAINS:
            s = m.createSpecies()
            s.setId(new_id(f"{chain}_{cname}"))
            s.setName(f"{chain}-{spec['analyte']} in {cname}")
            s.setCompartment(f"cmt_{cname}")
            s.setInitialAmount(0.0)
            s.setSubstanceUnits("mg")
            s.setHasOnlySubstanceUnits(True)
            s.setBoundaryCondition(False)
            s.setConstant(False)
    for chain in CHAINS:
        s = m.createSpecies()
        s.setId(new_id(f"{chain}_ketamine_lost"))
        s.setName(f"{chain}-ketamine eliminated or not absorbed (accumulator)")
        s.setCompartment(f"cmt_{ps.central}")
        s.setInitialAmount(0.0)
        s.setSubstanceUnits("mg")
        s.setHasOnlySubstanceUnits(True)
        s.setBoundaryCondition(False)
        s.setConstant(False)

    # first-order flows
    elim = {n for n, par in ps.params.items() if par.elimination}
    for i, f in enumerate(ps.flows):
        src = f["from"]
        if "rate" in f:
            k, key = _ref(f["rate"]), f["rate"]
        elif "mean_time" in f:
            k, key = f"1 / {_ref(f['mean_time'])}", f["mean_time"]
        else:
            k, key = f"{f['clearance']} / {ps.compartments[src]['volume']}", f["clearance"]
        if "fraction" in f:
            k += f" * {_ref(f['fraction'])}"
        if "fraction_complement" in f:
            k += f" * (1 - {_ref(f['fraction_complement'])})"
        for chain in CHAINS:
            kk = k + (" * R_elimination_scale" if chain == "R" and key in elim else "")
            r = m.createReaction()
            r.setId(new_id(f"flow{i}_{chain}_{src}_to_{f['to']}"))
            r.setReversible(False)
            sr = r.createReactant()
            sr.setSpecies(f"{chain}_{src}")
            sr.setStoichiometry(1.0)
            sr.setConstant(True)
            if f["to"] != "out":
                pr = r.createProduct()
                pr.setSpecies(f"{chain}_{f['to']}")
                gain = 1.0
                if f.get("molar"):
                    gain = MOLAR_MASS[ps.compartments[f["to"]]["analyte"]] / MOLAR_MASS[ps.compartments[src]["analyte"]]
                pr.setStoichiometry(gain)
                pr.setConstant(True)
            if ps.compartments[src]["analyte"] == "ketamine" and (
                    f["to"] == "out" or ps.compartments[f["to"]]["analyte"] != "ketamine"):
                pr = r.createProduct()
                pr.setSpecies(f"{chain}_ketamine_lost")
                pr.setStoichiometry(1.0)
                pr.setConstant(True)
            kl = r.createKineticLaw()
            kl.setMath(_formula(f"{kk} * {chain}_{src}"))

    # effect site
    central_v = ps.compartments[ps.central]["volume"]
    for chain in CHAINS:
        param(f"Ce_{chain}", 0.0, "mg_per_litre", constant=False,
              note=f"effect-site {chain}-ketamine concentration, dCe/dt = ke0 (Cp - Ce)")
        rr = m.createRateRule()
        rr.setVariable(f"Ce_{chain}")
        rr.setMath(_formula(f"ke0 * ({chain}_{ps.central} / {central_v} - Ce_{chain})"))

    # dosing
    inputs, given = _dose_inputs(ps, regimen, p, float(subject.weight))
    assign: dict[float, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    rate_targets: set[tuple[str, str]] = set()
    for chain, t0, target, amt, frac, dur, dur_f in inputs:
        if dur > 0:
            rid = f"rate_{chain}_{target}"
            rate_targets.add((chain, target))
            assign[t0][rid].append(f"{_num(amt)} * {frac} / {dur_f}")
            assign[t0 + dur][rid].append(f"-({_num(amt)} * {frac} / {dur_f})")
        else:
            assign[t0][f"{chain}_{target}"].append(f"{_num(amt)} * {frac}")
    for chain, t0, amt, lost, dur in given:
        if lost == "(1 - (1))":
            continue  # the whole dose enters (iv)
        if dur > 0:
            rid = f"rate_{chain}_ketamine_lost"
            rate_targets.add((chain, "ketamine_lost"))
            assign[t0][rid].append(f"{_num(amt)} * {lost} / {_num(dur)}")
            assign[t0 + dur][rid].append(f"-({_num(amt)} * {lost} / {_num(dur)})")
        else:
            assign[t0][f"{chain}_ketamine_lost"].append(f"{_num(amt)} * {lost}")
    for chain, target in sorted(rate_targets):
        rid = f"rate_{chain}_{target}"
        param(rid, 0.0, "mg_per_hour", constant=False, note=f"zero-order input into {chain}_{target} (set by events)")
        r = m.createReaction()
        r.setId(new_id(f"input_{chain}_{target}"))
        r.setReversible(False)
        pr = r.createProduct()
        pr.setSpecies(f"{chain}_{target}")
        pr.setStoichiometry(1.0)
        pr.setConstant(True)
        r.createKineticLaw().setMath(_formula(rid))
    for j, t in enumerate(sorted(assign)):
        ev = m.createEvent()
        ev.setId(new_id(f"dose_event_{j}"))
        ev.setName(f"doses at {t:g} h")
        ev.setUseValuesFromTriggerTime(True)
        tr = ev.createTrigger()
        tr.setInitialValue(False)
        tr.setPersistent(True)
        tr.setMath(_formula(f"time >= {_num(t)}"))
        for var, terms in sorted(assign[t].items()):
            ea = ev.createEventAssignment()
            ea.setVariable(var)
            ea.setMath(_formula(f"{var} + " + " + ".join(f"({x})" for x in terms)))

    # outputs, under ketasim's names
    c = ps.central
    rules = {
        "C_plasma_ketamine": f"1000 * (S_{c} + R_{c}) / {central_v}",
        "C_plasma_S_ketamine": f"1000 * S_{c} / {central_v}",
        "C_plasma_R_ketamine": f"1000 * R_{c} / {central_v}",
        "C_effect_ketamine": "1000 * (Ce_S + Ce_R)",
        "C_effect_S_ketamine": "1000 * Ce_S",
        "C_effect_R_ketamine": "1000 * Ce_R",
        "A_eliminated": "S_ketamine_lost + R_ketamine_lost",
    }
    for an, out in (("norketamine", "C_plasma_norketamine"), ("hnk", "C_plasma_hnk"), ("dhnk", "C_plasma_dhnk")):
        mc = ps.metabolite_central(an)
        if mc is not None:
            rules[out] = f"1000 * (S_{mc} + R_{mc}) / {ps.compartments[mc]['volume']}"
    for cname in ps.compartments:
        rules[f"A_{cname}"] = f"S_{cname} + R_{cname}"
    variables = pk_variables(ps)
    missing = [v for v in variables if v not in rules and not (v.startswith("AUC_") and "C_" + v[4:] in rules)]
    if missing:  # pragma: no cover - a new ketasim output the exporter does not know yet
        raise InputError(f"SBML export does not know how to write the output(s) {missing}; update ketasim.sbml.")
    for out in variables:
        unit, long = variables[out]
        q = param(out, 0.0, _OUT_UNIT.get(unit, "dimensionless"), constant=False, note=f"{long} ({unit})")
        q.setName(long)
        if out in rules:
            ar = m.createAssignmentRule()
            ar.setVariable(out)
            ar.setMath(_formula(rules[out]))
        else:  # exact cumulative area: dAUC/dt = C
            rr = m.createRateRule()
            rr.setVariable(out)
            rr.setMath(_formula("C_" + out[4:]))

    m.setNotes('<body xmlns="http://www.w3.org/1999/xhtml"><p>'
               + _xml_escape(f"Exported by ketasim from parameter set {ps.id}: {ps.citation}. Regimen: "
                             f"{regimen.to_text()}. Subject: weight {subject.weight:g} kg, age {subject.age:g} y, "
                             f"sex {subject.sex}. Typical values (no random effects). Time in h, amounts in mg, "
                             "concentrations of the outputs in ng/mL.")
               + "</p></body>")
    doc.checkInternalConsistency()
    errors = [doc.getError(i) for i in range(doc.getNumErrors())
              if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    if errors:  # pragma: no cover - a bug in the exporter
        raise RuntimeError("SBML export produced an invalid document: " + errors[0].getMessage())
    return libsbml.writeSBMLToString(doc)


def _xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_sbml(path: str | Path, parameters: str | ParameterSet, regimen: Regimen | str,
               subject: Subject | None = None) -> Path:
    """Write :func:`to_sbml` to ``path`` atomically; returns the path."""
    from .output import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, to_sbml(parameters, regimen, subject).encode("utf-8"))
    return path
