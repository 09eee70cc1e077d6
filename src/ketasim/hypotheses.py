"""Circuit hypotheses against the reference facts: predictions, residuals, scores.

Each :class:`Fact` is a literature fact from ``dopamine.csv`` / ``circuit.csv``
(copied here with its citation and tag), the regimen and species it applies
to, the model quantity it is compared with and an acceptance interval.
The residual of a prediction ``p`` is its distance outside the interval
divided by the fact's ``scale`` (0 inside); a variant's score is the weighted
root-mean-square residual over the facts (lower is better). Facts of kind
``calibration`` are the ones the calibration script fits
(:mod:`ketasim.calibrate_circuit`); the others are held out.

A log scale is used for fold changes (``log=True``): the interval and the
prediction are compared as natural logarithms.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Mapping, Sequence

import numpy as np

from .layers.circuit import POPULATIONS, CircuitModel, combo_key, get_model, quasi_steady, resolve_circuit
from .layers.dopamine import dopamine_parameters, run_dopamine
from .layers.receptors import run_receptors

__all__ = ["Fact", "FACTS", "COMBINATIONS", "predict_fact", "score", "compare", "pk_cache"]

_RAT = dict(weight=0.3, age=0.25, sex="M", species="rat")
_HUMAN = dict(weight=70.0, age=40.0, sex="M", species="human")
#: Output grid of the fact simulations: 0-6 h, 1-min steps.
_T = np.round(np.arange(0, 6 * 60 + 1) / 60.0, 12)


@dataclass(frozen=True)
class Fact:
    id: str
    kind: str                  # "calibration" | "validation"
    statement: str             # the fact, as the source says it
    quantity: str              # what the model predicts, in words
    regimens: tuple[str, ...]  # regimen text(s) simulated
    subject: str               # "rat" | "human"
    lo: float
    hi: float
    scale: float
    citation: str
    tag: str
    predict: Callable[[Sequence[Mapping[str, np.ndarray]]], float]
    unit: str = ""
    weight: float = 1.0
    log: bool = False
    note: str = ""

    def residual(self, p: float) -> float:
        f = np.log if self.log else (lambda v: v)
        lo, hi, v = f(self.lo), f(self.hi), f(max(p, 1e-9) if self.log else p)
        if v < lo:
            return float((lo - v) / self.scale)
        if v > hi:
            return float((v - hi) / self.scale)
        return 0.0


def _peak(v):
    return float(np.max(v))


def _nadir(v):
    return float(np.min(v))


def _at(v, hours):
    return float(np.interp(hours, _T, v))


def _pct(r, name):
    j = POPULATIONS.index(name)
    return r[f"rate_{name}"] / r["__r0"][j] * 100.0


def _transient(r):
    v = _pct(r[0], "VTA_DA")
    early, late = _at(v, 1 / 3) - 100.0, _at(v, 2.0) - 100.0
    return 1.0 if early <= 5.0 else late / early


FACTS: tuple[Fact, ...] = (
    Fact("pfc_da_25ip", "calibration", "transient five-fold increase of extracellular DA in mPFC after 25 mg/kg i.p.",
         "peak DA_PFC_pct after 25 mg/kg ip (rat)", ("25 mg/kg ip",), "rat", 400.0, 600.0, np.log(1.5),
         "Lindefors et al. 1997 Brain Res (PMID 9221938)", "V", lambda r: _peak(r[0]["DA_PFC_pct"]), "% of baseline",
         log=True),
    Fact("da_neuron_activity", "calibration", "DA neuron population activity increased by 62-180% (rodents, acute subanaesthetic)",
         "peak rate_VTA_DA after 10 mg/kg ip (rat), % of baseline", ("10 mg/kg ip",), "rat", 162.0, 280.0, 40.0,
         "Kokkinou, Ashok & Howes 2018 Mol Psychiatry 23:59", "V", lambda r: _peak(_pct(r[0], "VTA_DA")), "% of baseline",
         note="dose not given per study in the meta-analysis; 10 mg/kg ip taken as a typical subanaesthetic dose"),
    Fact("trn_inhibited", "calibration", "ketamine 'markedly inhibited' TRN (RtN) neurons; PCP cut TRN discharge to 37% of baseline",
         "nadir rate_TRN after 25 mg/kg ip (rat), % of baseline", ("25 mg/kg ip",), "rat", 20.0, 60.0, 20.0,
         "Amat-Foraster et al. 2018 [title U] (scite excerpt, S); Troyano-Rodriguez et al. 2014 Biol Psychiatry 76:937 (PCP, V)",
         "S", lambda r: _nadir(_pct(r[0], "TRN")), "% of baseline",
         note="interval 20-60% anchored on the PCP value (not ketamine); ketamine dose not in the tables"),
    Fact("md_decrease_furth", "validation", "ketamine 10 mg/kg s.c. decreases MD thalamus firing (awake rat)",
         "peak |change| of rate_relay after 10 mg/kg sc, signed: value at max |change|, % of baseline",
         ("10 mg/kg sc",), "rat", 0.0, 97.0, 10.0, "Furth et al. 2017 PLoS One e0186732", "V",
         lambda r: _extreme(_pct(r[0], "relay")), "% of baseline"),
    Fact("md_pfc_up_amat2019", "validation", "ketamine moderately increases firing of MD/CM thalamus principal neurons (awake rat)",
         "rate_relay at max |change| after 10 mg/kg sc, % of baseline", ("10 mg/kg sc",), "rat", 103.0, 200.0, 10.0,
         "Amat-Foraster et al. 2019 (curis.ku.dk record)", "V", lambda r: _extreme(_pct(r[0], "relay")), "% of baseline",
         note="contradicts md_decrease_furth; both kept, so no variant can satisfy both"),
    Fact("md_not_disinhibited", "validation", "unlike PCP, ketamine did NOT disinhibit MD/CM thalamus (anaesthetised rat)",
         "peak rate_relay after 25 mg/kg ip, % of baseline", ("25 mg/kg ip",), "rat", 0.0, 115.0, 15.0,
         "Amat-Foraster et al. 2018 [title U] (scite excerpt)", "S", lambda r: _peak(_pct(r[0], "relay")), "% of baseline"),
    Fact("pfc_up_furth", "validation", "ketamine 10 mg/kg s.c. increases mPFC firing (awake rat)",
         "peak rate_PFC_pyr after 10 mg/kg sc, % of baseline", ("10 mg/kg sc",), "rat", 105.0, 400.0, 10.0,
         "Furth et al. 2017 PLoS One e0186732; Amat-Foraster 2019", "V", lambda r: _peak(_pct(r[0], "PFC_pyr")),
         "% of baseline"),
    Fact("pv_not_reduced", "validation", "mPFC GABA interneuron firing not reduced by ketamine (awake rat)",
         "nadir rate_PFC_PV after 10 mg/kg sc, % of baseline", ("10 mg/kg sc",), "rat", 90.0, 1000.0, 10.0,
         "Amat-Foraster et al. 2019 (curis.ku.dk record)", "V", lambda r: _nadir(_pct(r[0], "PFC_PV")), "% of baseline"),
    Fact("nac_da_up", "validation", "NAc DA rises after acute subanaesthetic ketamine (rodents; Hedges g 1.30)",
         "peak DA_NAc_pct after 25 mg/kg ip (rat)", ("25 mg/kg ip",), "rat", 120.0, 1000.0, 20.0,
         "Kokkinou, Ashok & Howes 2018 Mol Psychiatry 23:59", "V", lambda r: _peak(r[0]["DA_NAc_pct"]), "% of baseline"),
    Fact("pfc_vs_nac", "validation", "cortex and NAc DA effect sizes similar (g 1.33 vs 1.30; striatum 0.57)",
         "(peak DA_PFC_pct - 100) / (peak DA_NAc_pct - 100) after 25 mg/kg ip", ("25 mg/kg ip",), "rat", 0.5, 2.0,
         0.5, "Kokkinou, Ashok & Howes 2018 Mol Psychiatry 23:59", "V",
         lambda r: (_peak(r[0]["DA_PFC_pct"]) - 100) / max(_peak(r[0]["DA_NAc_pct"]) - 100, 1e-6), "ratio",
         weight=0.5, note="ratio of effect sizes used as a rough proxy for the ratio of rises (assumption)"),
    Fact("dose_dependence", "validation", "PFC DA increased over 10-30 mg/kg (dose-dependent)",
         "peak DA_PFC_pct at 30 mg/kg minus at 10 mg/kg ip (%-points)", ("10 mg/kg ip", "30 mg/kg ip"), "rat",
         0.0, 1e6, 50.0, "Moghaddam et al. 1997 J Neurosci 17:2921", "V",
         lambda r: _peak(r[1]["DA_PFC_pct"]) - _peak(r[0]["DA_PFC_pct"]), "%-points"),
    Fact("anaesthetic_no_effect", "validation", "anaesthetic doses (>100 mg/kg): no DA effect (ex vivo)",
         "peak DA_NAc_pct after 150 mg/kg ip (rat)", ("150 mg/kg ip",), "rat", 50.0, 200.0, 100.0,
         "Kokkinou, Ashok & Howes 2018 Mol Psychiatry 23:59", "V", lambda r: _peak(r[0]["DA_NAc_pct"]), "% of baseline",
         weight=0.5, note="ex vivo tissue levels compared with extracellular DA (approximation)"),
    Fact("s_not_r", "validation", "mPFC dopamine tone increased by S-ketamine, not by R-ketamine",
         "(peak DA_PFC_pct after 10 mg/kg arketamine - 100) / (after esketamine - 100), rat ip",
         ("10 mg/kg esketamine ip", "10 mg/kg arketamine ip"), "rat", -1e6, 0.5, 0.25,
         "Bonaventura et al. 2021 Mol Psychiatry, PMC8517038", "V",
         lambda r: (_peak(r[1]["DA_PFC_pct"]) - 100) / max(_peak(r[0]["DA_PFC_pct"]) - 100, 1e-6), "ratio",
         note="dose not in the tables; 10 mg/kg of each enantiomer assumed"),
    Fact("da_firing_transient", "validation", "VTA DA firing and bursting increased at 20 min, gone by 2 h",
         "rate_VTA_DA at 2 h minus baseline as a fraction of its change at 20 min, 10 mg/kg ip", ("10 mg/kg ip",), "rat",
         -1.0, 0.25, 0.25, "Belujon & Grace 2014 Biol Psychiatry, PMC4223010 Fig 2", "V",
         _transient,
         "fraction", note="a variant whose DA rate does not rise by >5% at 20 min scores 1 (fails the first half)"),
    Fact("human_pet", "validation", "[11C]raclopride binding after ketamine: -11.2% (Breier 1998), -17.5% ventral striatum "
         "(Vollenweider 2000, S-ketamine), no change (Aalto 2002; Vernaleken 2013)",
         "-k_pet (peak DA_NAc_pct - 100) after 0.5 mg/kg iv over 40 min (human)", ("0.5 mg/kg iv over 40 min",), "human",
         -17.5, 0.0, 5.0, "Breier 1998; Vollenweider 2000; Aalto 2002; Vernaleken 2013", "V",
         lambda r: -dopamine_parameters()["k_pet"] * (_peak(r[0]["DA_NAc_pct"]) - 100), "% BP change",
         note="doses not in the tables; 0.5 mg/kg over 40 min assumed; linear PET mapping k_pet is an assumption"),
)


def _extreme(v):
    v = np.asarray(v)
    return float(v[np.argmax(np.abs(v - 100.0))])


#: Variant combinations compared by ``ketasim hypotheses``.
COMBINATIONS: tuple[tuple[str, ...], ...] = tuple(resolve_circuit(c) for c in (
    "trn_disinhibition", "cortical_disinhibition", "vta_local", "opioid",
    ["trn_disinhibition", "cortical_disinhibition"], ["trn_disinhibition", "vta_local"],
    ["cortical_disinhibition", "vta_local"], ["trn_disinhibition", "opioid"],
    ["cortical_disinhibition", "opioid"], ["cortical_disinhibition", "vta_local", "opioid"],
    ["trn_disinhibition", "cortical_disinhibition", "vta_local", "opioid"],
))


@lru_cache(maxsize=32)
def pk_cache(regimen: str, subject: str) -> dict:
    """Occupancies (time course on the fact grid) for a regimen in the typical rat or human (cached)."""
    from .population import Subject
    from .simulate import simulate

    subj = Subject(**(_RAT if subject == "rat" else _HUMAN))
    ds = simulate(regimen, subj, _T, outputs=["occupancy_NMDA", "occupancy_mu", "occupancy_kappa"])
    return {k: ds[k].values[0] for k in ds.data_vars}


def _run(model: CircuitModel, occ: Mapping[str, np.ndarray]) -> dict:
    sop = occ["occupancy_mu"] + occ["occupancy_kappa"] if model.uses_opioid else None
    r = quasi_steady(model, occ["occupancy_NMDA"], sop)
    j = POPULATIONS.index("VTA_DA")
    r.update(run_dopamine(r, rate0=model.r0[j], burst0=min(1.0, model.b0)))
    r["__r0"] = model.r0
    return r


def predict_fact(fact: Fact, model: CircuitModel) -> float:
    runs = [_run(model, pk_cache(reg, fact.subject)) for reg in fact.regimens]
    return float(fact.predict(runs))


def score(circuit, *, facts: Sequence[Fact] = FACTS, model: CircuitModel | None = None, **overrides) -> dict:
    """Predictions, residuals and the weighted RMS score of one variant combination."""
    m = model or get_model(circuit, **overrides)
    rows = []
    for f in facts:
        p = predict_fact(f, m)
        rows.append({"fact": f.id, "kind": f.kind, "prediction": p, "residual": f.residual(p), "weight": f.weight})
    w = np.array([r["weight"] for r in rows])
    res = np.array([r["residual"] for r in rows])

    def rms(mask):
        return float(np.sqrt(np.sum(w[mask] * res[mask] ** 2) / np.sum(w[mask]))) if mask.any() else float("nan")

    kinds = np.array([r["kind"] for r in rows])
    return {"circuit": combo_key(m.variants), "variants": list(m.variants), "score": rms(np.ones(len(rows), bool)),
            "score_calibration": rms(kinds == "calibration"), "score_validation": rms(kinds == "validation"),
            "facts_satisfied": int(np.sum(res == 0)), "n_facts": len(rows), "rows": rows,
            "values": {**{f"strength_{v}": s for v, s in m.strengths},
                       **({"opioid_weight": m.opioid_weight} if m.uses_opioid else {})}}


def compare(combinations: Sequence[Sequence[str]] = COMBINATIONS) -> dict:
    """Score every combination; returns ``{"ranking": [...], "facts": [...]}`` (best first)."""
    results = sorted((score(c) for c in combinations), key=lambda r: (r["score"], len(r["variants"])))
    facts = [{"id": f.id, "kind": f.kind, "statement": f.statement, "quantity": f.quantity, "interval": [f.lo, f.hi],
              "unit": f.unit, "scale": f.scale, "log": f.log, "weight": f.weight, "regimens": list(f.regimens),
              "species": f.subject, "citation": f.citation, "tag": f.tag, "note": f.note} for f in FACTS]
    return {"best": results[0]["circuit"], "ranking": results, "facts": facts}
