// ketasim dashboard: builds a scenario (the scenario-file schema) from the controls, asks
// POST /api/simulate after each change (250 ms pause), and draws the curves with uPlot
// (vendored, no network). No user text is evaluated: it is sent as JSON strings.
"use strict";

const COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7"];  // Okabe-Ito, colour-blind safe
const MAX_ARMS = 4;
const GROUPS = ["concentration", "occupancy", "dopamine", "outcome"];
const PREFERRED = {concentration: "C_plasma_ketamine", occupancy: "occupancy_NMDA", dopamine: "DA_NAc_pct"};
const $ = (id) => document.getElementById(id);

const state = {
  catalog: [], groupOf: {}, defaultVars: [], result: null, charts: {}, pending: null, timer: null, seq: 0,
  savedId: null, savedFor: null, armSeq: 0,
};
window.ketasim = state;  // for tests and the curious

// ---------------------------------------------------------------- regimen text
function armRegimenText(a) {
  const dose = Number(a.dose);
  let t = `${fmt(dose)} ${a.unit}`;
  if (a.drug !== "racemic") t += ` ${a.drug}`;
  t += ` ${a.route}`;
  if (a.route === "iv" && Number(a.over) > 0) t += ` over ${fmt(Number(a.over))} min`;
  if (a.schedule === "daily" || a.schedule === "weekly" || a.schedule === "twice weekly") {
    t += ` ${a.schedule} for ${Math.max(1, Math.round(Number(a.weeks) || 1))} weeks`;
  } else if (a.schedule === "every") {
    t += ` every ${fmt(Number(a.interval))} h x ${Math.max(1, Math.round(Number(a.count) || 1))}`;
  }
  return t;
}

// Read back text that armRegimenText wrote (anything else stays as text only).
function parseRegimenText(text) {
  const m = /^\s*(\d*\.?\d+)\s*(mg\/kg|mg)\s+(?:(racemic|esketamine|arketamine)\s+)?([a-z]+)(?:\s+over\s+(\d*\.?\d+)\s*min)?(?:\s+(.*?))?\s*$/i.exec(text);
  if (!m) return null;
  const a = {dose: m[1], unit: m[2].toLowerCase(), drug: (m[3] || "racemic").toLowerCase(), route: m[4].toLowerCase(),
             over: m[5] || "0", schedule: "once", weeks: "4", interval: "24", count: "3"};
  const rest = m[6] || "";
  let s;
  if (!rest) { /* once */ }
  else if ((s = /^(daily|weekly|twice weekly) for (\d+) weeks$/i.exec(rest))) { a.schedule = s[1].toLowerCase(); a.weeks = s[2]; }
  else if ((s = /^every (\d*\.?\d+) h x (\d+)$/i.exec(rest))) { a.schedule = "every"; a.interval = s[1]; a.count = s[2]; }
  else return null;
  return a;
}

function fmt(x) { return Number.isFinite(x) ? String(Number(x.toPrecision(6))) : String(x); }

// ---------------------------------------------------------------- arms
function armField(el, k) { return el.querySelector(`[data-k="${k}"]`); }

function addArm(init) {
  const box = $("arms");
  if (box.children.length >= MAX_ARMS) return null;
  const el = $("arm-template").content.firstElementChild.cloneNode(true);
  const id = ++state.armSeq;
  el.dataset.arm = String(id);
  for (const lab of el.querySelectorAll("label[data-for]")) {
    const k = lab.dataset.for;
    const ctl = armField(el, k);
    ctl.id = `arm${id}-${k}`;
    ctl.name = ctl.id;
    lab.htmlFor = ctl.id;
  }
  const d = Object.assign({drug: "racemic", route: "iv", dose: "0.5", unit: "mg/kg", over: "40", schedule: "once",
                           weeks: "4", interval: "24", count: "3", armname: ""}, init || {});
  for (const k of ["drug", "route", "dose", "unit", "over", "schedule", "weeks", "interval", "count", "armname"]) {
    armField(el, k).value = d[k];
  }
  armField(el, "regimen").value = d.regimen || armRegimenText(d);
  el.addEventListener("input", (ev) => onArmInput(el, ev));
  el.addEventListener("change", (ev) => onArmInput(el, ev));
  el.querySelector(".remove").addEventListener("click", () => { el.remove(); relabelArms(); schedule(); });
  box.appendChild(el);
  relabelArms();
  return el;
}

function onArmInput(el, ev) {
  const k = ev.target.dataset.k;
  if (k && k !== "regimen" && k !== "armname") {
    const a = {};
    for (const f of ["drug", "route", "dose", "unit", "over", "schedule", "weeks", "interval", "count"]) a[f] = armField(el, f).value;
    armField(el, "regimen").value = armRegimenText(a);
  }
  showArmRows(el);
  schedule();
}

function showArmRows(el) {
  const route = armField(el, "route").value, sch = armField(el, "schedule").value;
  el.querySelector(".iv-only").hidden = route !== "iv";
  el.querySelector(".repeat-only").hidden = !["daily", "weekly", "twice weekly"].includes(sch);
  for (const r of el.querySelectorAll(".every-only")) r.hidden = sch !== "every";
}

function relabelArms() {
  const arms = [...$("arms").children];
  arms.forEach((el, i) => {
    el.querySelector("legend").textContent = `Regimen ${i + 1}`;
    el.style.borderLeftColor = COLORS[i];
    el.querySelector(".remove").hidden = arms.length <= 1;
    showArmRows(el);
  });
  $("add-arm").disabled = arms.length >= MAX_ARMS;
}

// ---------------------------------------------------------------- scenario <-> controls
function scenarioFromControls() {
  const person = $("mode-person").checked;
  const endUnit = $("end-unit").value;
  const sc = {
    name: $("name").value.trim() || "dashboard",
    end: `${$("end").value} ${endUnit}`,
    step: `${$("step").value} min`,
    population: person
      ? {n: 1, seed: 1, weight: num($("weight").value), age: num($("age").value), female_fraction: $("sex").value === "F" ? 1 : 0,
         variability: false}
      : {n: int($("n").value), seed: int($("seed").value), female_fraction: num($("female").value)},
    model: {circuit: $("circuit").value},
    arms: [...$("arms").children].map((el) => {
      const arm = {regimen: armField(el, "regimen").value.trim()};
      const nm = armField(el, "armname").value.trim();
      if (nm) arm.name = nm;
      return arm;
    }),
  };
  const out = $("outcome").value;
  if (out && !state.defaultVars.includes(out)) {
    // ask for it explicitly, with plasma ketamine and the receptor-circuit-dopamine chain simulated by default
    const chain = state.catalog.filter((v) => v.default && v.group !== "concentration" && v.group !== "outcome").map((v) => v.name);
    sc.outputs = {variables: ["C_plasma_ketamine", ...chain, out]};
  }
  return sc;
}

function num(v) { const x = Number(v); return v === "" || !Number.isFinite(x) ? v : x; }
function int(v) { const x = Number(v); return Number.isInteger(x) ? x : v; }

function splitQuantity(q, units) {
  if (typeof q === "number") return [q, units[0]];
  const m = /^\s*(\d*\.?\d+)\s*([a-z]+)\s*$/i.exec(String(q));
  if (!m) return null;
  return [Number(m[1]), m[2].toLowerCase()];
}

function controlsFromScenario(sc) {
  $("name").value = sc.name || "dashboard";
  const e = splitQuantity(sc.end ?? "28 d", ["h"]);
  if (e) {
    const [v, u] = e;
    const h = u.startsWith("d") ? v * 24 : u.startsWith("w") ? v * 168 : u.startsWith("min") ? v / 60 : v;
    if (h % 24 === 0 && h >= 48) { $("end").value = fmt(h / 24); $("end-unit").value = "d"; }
    else { $("end").value = fmt(h); $("end-unit").value = "h"; }
  }
  const s = splitQuantity(sc.step ?? "10 min", ["h"]);
  if (s) { const [v, u] = s; $("step").value = fmt(u.startsWith("min") ? v : u.startsWith("h") ? v * 60 : u.startsWith("d") ? v * 1440 : v * 60); }
  const p = sc.population || {};
  const person = (p.n === 1) && (p.weight === undefined || typeof p.weight !== "object");
  $("mode-person").checked = person; $("mode-population").checked = !person;
  if (person) {
    if (p.weight !== undefined) $("weight").value = parseFloat(p.weight);
    if (p.age !== undefined && typeof p.age !== "object") $("age").value = parseFloat(p.age);
    $("sex").value = (p.female_fraction ?? 0) >= 0.5 ? "F" : "M";
  } else {
    $("n").value = p.n ?? 1000; $("seed").value = p.seed ?? 1; $("female").value = p.female_fraction ?? 0.5;
  }
  $("circuit").value = (sc.model && sc.model.circuit) || "best";
  const vars = (sc.outputs && sc.outputs.variables) || [];
  const outcome = vars.find((v) => state.groupOf[v] === "outcome");
  $("outcome").value = outcome || "";
  $("arms").innerHTML = "";
  for (const arm of (sc.arms || []).slice(0, MAX_ARMS)) {
    const a = parseRegimenText(arm.regimen || "") || {};
    a.regimen = arm.regimen || "";
    if (arm.name && arm.name !== arm.regimen) a.armname = arm.name;
    addArm(a);
  }
  if (!$("arms").children.length) addArm();
  showMode();
}

function showMode() {
  const person = $("mode-person").checked;
  for (const el of document.querySelectorAll(".person-only")) el.hidden = !person;
  for (const el of document.querySelectorAll(".population-only")) el.hidden = person;
}

// ---------------------------------------------------------------- talking to the API
async function api(path, opts) {
  const r = await fetch(path, Object.assign({headers: {"content-type": "application/json"}}, opts || {}));
  let body = null;
  try { body = await r.json(); } catch (_) { body = null; }
  if (!r.ok) {
    const err = new Error((body && body.message) || `${r.status} ${r.statusText}`);
    err.status = r.status; err.body = body;
    throw err;
  }
  return body;
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(runSimulation, 250);
}

async function runSimulation() {
  const sc = scenarioFromControls();
  const seq = ++state.seq;
  if (state.pending) state.pending.abort();
  const ctl = new AbortController();
  state.pending = ctl;
  setStatus("simulating…");
  const t0 = performance.now();
  const body = JSON.stringify(sc);
  try {
    // first the curves (fast), then the per-arm safety and benefit-and-harm tables
    const res = await api("/api/simulate?tables=false", {method: "POST", body, signal: ctl.signal});
    if (seq !== state.seq) return;
    state.result = res;
    showError(null);
    render(res);
    const ms = Math.round(performance.now() - t0);
    const what = `${res.arms.length} regimen${res.arms.length > 1 ? "s" : ""}, ${res.n_subjects} subject${res.n_subjects > 1 ? "s" : ""}, ${res.time.values.length} time points`;
    setStatus(`${what} — curves in ${ms} ms; computing the benefit and harm table…`);
    document.body.dataset.simulations = String(Number(document.body.dataset.simulations || 0) + 1);
    const full = await api("/api/simulate", {method: "POST", body, signal: ctl.signal});
    if (seq !== state.seq) return;
    state.result = full;
    renderTable(full);
    renderProvenance(full);
    setStatus(`${what} — curves in ${ms} ms, tables in ${Math.round(performance.now() - t0)} ms`);
    document.body.dataset.tables = String(Number(document.body.dataset.tables || 0) + 1);
  } catch (e) {
    if (e.name === "AbortError") return;
    if (seq !== state.seq) return;
    showError(e.message);
    setStatus("not updated: see the message");
  } finally {
    if (state.pending === ctl) state.pending = null;
  }
}

function setStatus(t) { $("status").textContent = t; }
function showError(t) { const el = $("error"); el.hidden = !t; el.textContent = t || ""; }

// ---------------------------------------------------------------- drawing
function render(res) {
  for (const g of GROUPS) fillVarSelect(g, res);
  for (const g of GROUPS) drawPanel(g, res);
  $("bands-note").textContent = res.n_subjects > 1
    ? "Solid lines: median over subjects; dashed: 5th and 95th percentiles."
    : "One typical person (no between-subject variability): the lines are that person's curves.";
  renderTable(res);
  renderProvenance(res);
}

function varsIn(group, res) {
  return Object.keys(res.variables).filter((v) => (res.variables[v].group || state.groupOf[v]) === group);
}

function fillVarSelect(group, res) {
  const sel = $(`var-${group}`);
  const vars = varsIn(group, res);
  const keep = sel.value;
  sel.innerHTML = "";
  for (const v of vars) {
    const o = document.createElement("option");
    o.value = v; o.textContent = `${v} (${res.variables[v].units || "–"})`;
    o.title = res.variables[v].long_name;
    sel.appendChild(o);
  }
  const want = group === "outcome" && $("outcome").value && vars.includes($("outcome").value) ? $("outcome").value
    : vars.includes(keep) ? keep : vars.includes(PREFERRED[group]) ? PREFERRED[group] : vars[0];
  if (want) sel.value = want;
  sel.disabled = vars.length === 0;
}

function drawPanel(group, res) {
  const box = $(`plot-${group}`);
  const v = $(`var-${group}`).value;
  if (state.charts[group]) { state.charts[group].destroy(); delete state.charts[group]; }
  box.innerHTML = "";
  box.dataset.variable = v || "";
  if (!v) {
    const p = document.createElement("p");
    p.className = "help";
    p.textContent = group === "outcome" ? "No outcome variable in this result: choose one under “Outcome variable”." : "Not simulated.";
    box.appendChild(p);
    box.dataset.max = "";
    return;
  }
  const info = res.variables[v];
  const t = res.time.values;
  const data = [t];
  const series = [{label: "time (h)"}];
  const pop = res.n_subjects > 1;
  let max = -Infinity;
  res.arms.forEach((arm, i) => {
    const med = info.curves.p50[i];
    data.push(med);
    series.push({label: arm, stroke: COLORS[i], width: 2});
    for (const x of med) if (x !== null && x > max) max = x;
    if (pop) {
      for (const q of ["p05", "p95"]) {
        data.push(info.curves[q][i]);
        series.push({label: `${arm} ${q}`, stroke: COLORS[i], width: 1, dash: [4, 4]});
      }
    }
  });
  box.dataset.max = Number.isFinite(max) ? String(max) : "";
  box.dataset.series = String(res.arms.length);
  const width = Math.max(260, box.clientWidth || 400);
  const opts = {
    width, height: 220, series,
    legend: {show: true, live: false},
    scales: {x: {time: false}},
    axes: [{label: "time (h)"}, {label: info.units || "", size: 60}],
    cursor: {drag: {x: true, y: false}},
  };
  state.charts[group] = new uPlot(opts, data, box);
  const cap = box.parentElement.querySelector("figcaption");
  cap.title = info.long_name;
}

function metricGroup(m) {
  if (m.startsWith("outcome_")) return "Benefit and harm";
  if (m.startsWith("safety_")) return "Acute safety (first day)";
  if (/^(final_|peak_)/.test(m)) {
    const base = m.replace(/^(final_|peak_)/, "");
    const g = state.groupOf[base] || (state.result && state.result.variables[base] && state.result.variables[base].group);
    if (g === "outcome") return "Outcome curves";
    return "Receptors, circuit and dopamine";
  }
  return "Exposure";
}

function cell(v, p05, p95, pop) {
  if (v === null || v === undefined) return "–";
  const s = fmt(Number(v.toPrecision(4)));
  if (!pop || p05 === null || p95 === null || p05 === undefined || Math.abs(p95 - p05) < 1e-12) return s;
  return `${s} (${fmt(Number(p05.toPrecision(3)))}–${fmt(Number(p95.toPrecision(3)))})`;
}

function renderTable(res) {
  const table = $("br-table");
  const pop = res.n_subjects > 1;
  const thead = table.querySelector("thead"), tbody = table.querySelector("tbody");
  thead.innerHTML = ""; tbody.innerHTML = "";
  const hr = document.createElement("tr");
  for (const h of ["metric", "unit", ...res.arms]) {
    const th = document.createElement("th"); th.scope = "col"; th.textContent = h; hr.appendChild(th);
  }
  thead.appendChild(hr);
  const rows = {};
  for (const r of res.summary) {
    (rows[r.metric] = rows[r.metric] || {unit: r.unit, by: {}}).by[r.arm] = r;
  }
  for (const [prefix, table] of [["outcome_", res.outcomes], ["safety_", res.safety]]) {
    for (const [k, s] of Object.entries(table || {})) {
      rows[`${prefix}${k}`] = {unit: s.units, by: Object.fromEntries(res.arms.map((a, i) => [a, {median: s.values[i]}])),
                               long: s.long_name};
    }
  }
  const order = ["Benefit and harm", "Outcome curves", "Acute safety (first day)", "Exposure", "Receptors, circuit and dopamine"];
  for (const g of order) {
    const names = Object.keys(rows).filter((m) => metricGroup(m) === g);
    if (!names.length) continue;
    const tr = document.createElement("tr");
    const th = document.createElement("th"); th.colSpan = 2 + res.arms.length; th.scope = "colgroup"; th.className = "group";
    th.textContent = g === "Benefit and harm" && res.outcome_subjects
      ? `${g} (means over ${res.outcome_subjects === 1 ? "the subject" : "the first " + res.outcome_subjects + " subjects"})` : g;
    tr.appendChild(th); tbody.appendChild(tr);
    for (const m of names) {
      const r = rows[m];
      const row = document.createElement("tr");
      row.dataset.metric = m;
      const th2 = document.createElement("th"); th2.scope = "row"; th2.textContent = m.replace(/^(safety|outcome)_/, "");
      th2.title = r.long || (res.metrics && res.metrics[m]) || "";
      row.appendChild(th2);
      const tu = document.createElement("td"); tu.textContent = r.unit || ""; row.appendChild(tu);
      for (const a of res.arms) {
        const td = document.createElement("td");
        const x = r.by[a] || {};
        td.textContent = cell(x.median, x.p05, x.p95, pop);
        row.appendChild(td);
      }
      tbody.appendChild(row);
    }
  }
}

function renderProvenance(res) {
  const box = $("provenance");
  box.innerHTML = "";
  const p = res.provenance || {};
  const ul = document.createElement("ul");
  const li = (t) => { const x = document.createElement("li"); x.textContent = t; ul.appendChild(x); return x; };
  li(`ketasim ${res.ketasim_version}; circuit: ${p.circuit || "–"}; layers: ${p.layers || "–"}; scenario sha256 ${res.scenario_sha256}`);
  for (const s of p.parameter_sets || []) {
    const x = li(`${s.id}: ${s.citation}${s.doi ? " (doi " + s.doi + ")" : ""} — `);
    const a = document.createElement("a"); a.href = s.details; a.textContent = "every parameter and its source"; x.appendChild(a);
  }
  for (const f of p.layer_parameter_files || []) li(`${f.layer}: ${f.file} (${f.entries} sourced entries)`);
  if (p.population) li(`population: ${p.population}`);
  box.appendChild(ul);
}

// ---------------------------------------------------------------- save, permalink, downloads
async function saveScenario() {
  const sc = scenarioFromControls();
  const key = JSON.stringify(sc);
  if (state.savedId && state.savedFor === key) return state.savedId;
  const res = await api("/api/scenarios", {method: "POST", body: key});
  state.savedId = res.id; state.savedFor = key;
  $("permalink").value = res.permalink;
  $("permalink-row").hidden = false;
  history.replaceState(null, "", `/s/${res.id}`);
  return res.id;
}

async function onSave() {
  try { await saveScenario(); showError(null); setStatus("saved: the permalink reopens this scenario"); $("permalink").focus(); $("permalink").select(); }
  catch (e) { showError(e.message); }
}

async function onDownload(ev) {
  const file = ev.currentTarget.dataset.file;
  const btn = ev.currentTarget;
  btn.disabled = true;
  setStatus(`preparing ${file}…`);
  try {
    const id = await saveScenario();
    const a = document.createElement("a");
    a.href = `/api/scenarios/${id}/download/${file}`;
    a.download = "";
    document.body.appendChild(a); a.click(); a.remove();
    setStatus(`downloading ${file}`);
  } catch (e) { showError(e.message); }
  finally { btn.disabled = false; }
}

// ---------------------------------------------------------------- background runs
const RUN_FINAL = ["done", "failed", "cancelled"];
const RUN_FILE_LABELS = {"summary.csv": "Summary CSV", "results.nc": "NetCDF", "report.html": "HTML report"};

async function onStartRun() {
  const btn = $("run-start");
  btn.disabled = true;
  try {
    const sc = scenarioFromControls();
    const run = await api("/api/runs", {method: "POST", body: JSON.stringify(sc)});
    showError(null);
    const li = runItem(run, sc.name);
    $("runs-list").prepend(li);
    updateRunItem(li, run);
    li.querySelector(".run-cancel").focus();
    pollRun(li, run.id);
  } catch (e) { showError(`background run not started: ${e.message}`); }
  finally { btn.disabled = false; }
}

function runItem(run, name) {
  const li = document.createElement("li");
  li.dataset.run = run.id;
  li.id = `run-${run.id}`;
  const line = document.createElement("div"); line.className = "run-line";
  const title = document.createElement("span"); title.className = "run-name";
  title.textContent = `${name} (cost ${Number(run.cost).toLocaleString("en")})`;
  const prog = document.createElement("progress"); prog.max = 1; prog.value = 0;
  prog.id = `run-${run.id}-progress`;
  prog.setAttribute("aria-label", `progress of run ${name}`);
  const status = document.createElement("span"); status.className = "run-status";
  const cancel = document.createElement("button"); cancel.type = "button"; cancel.className = "run-cancel";
  cancel.textContent = "Cancel"; cancel.setAttribute("aria-label", `cancel run ${name}`);
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try { updateRunItem(li, await api(`/api/runs/${run.id}/cancel`, {method: "POST"})); }
    catch (e) { showError(`could not cancel: ${e.message}`); cancel.disabled = false; }
  });
  line.append(title, prog, status, cancel);
  const msg = document.createElement("div"); msg.className = "run-msg";
  const files = document.createElement("div"); files.className = "run-files"; files.hidden = true;
  li.append(line, msg, files);
  return li;
}

function updateRunItem(li, run) {
  li.dataset.status = run.status;
  li.dataset.progress = String(run.progress);
  li.querySelector("progress").value = run.progress;
  li.querySelector(".run-status").textContent = `${run.status}, ${Math.round(100 * run.progress)} %`;
  li.querySelector(".run-msg").textContent = run.message || "";
  const cancel = li.querySelector(".run-cancel");
  if (RUN_FINAL.includes(run.status)) cancel.hidden = true;
  else if (run.status === "cancelling") cancel.disabled = true;
  const files = li.querySelector(".run-files");
  const names = Object.keys(run.files || {});
  if (names.length && !files.children.length) {
    for (const n of names) {
      const a = document.createElement("a");
      a.href = run.files[n]; a.textContent = RUN_FILE_LABELS[n] || n; a.dataset.file = n;
      if (n !== "report.html") a.download = "";
      else a.target = "_blank";
      files.appendChild(a);
    }
  }
  files.hidden = !names.length;
}

async function pollRun(li, id) {
  for (;;) {
    await new Promise((r) => setTimeout(r, 700));
    let run;
    try { run = await api(`/api/runs/${id}`); }
    catch (e) {
      if (e.status === 429) continue;  // rate limit: ask again later
      li.querySelector(".run-msg").textContent = `no longer reachable: ${e.message}`;
      return;
    }
    updateRunItem(li, run);
    if (RUN_FINAL.includes(run.status)) return;
  }
}

// the server's earlier runs (GET /api/runs), below any started from this page; unfinished ones are followed
async function loadPastRuns() {
  let page;
  try { page = await api("/api/runs?limit=20"); }
  catch (e) { return; }  // a convenience: the page works without it
  const list = $("runs-list");
  for (const run of page.runs) {
    if (document.getElementById(`run-${run.id}`)) continue;
    const li = runItem(run, run.scenario_name);
    list.appendChild(li);
    updateRunItem(li, run);
    if (!RUN_FINAL.includes(run.status)) pollRun(li, run.id);
  }
}

// ---------------------------------------------------------------- start
async function init() {
  try {
    const [health, vars, hyps] = await Promise.all([api("/api/health"), api("/api/variables"), api("/api/hypotheses")]);
    $("version").textContent = health.ketasim_version;
    state.catalog = vars.variables;
    for (const v of vars.variables) state.groupOf[v.name] = v.group;
    state.defaultVars = vars.variables.filter((v) => v.default).map((v) => v.name);
    const outSel = $("outcome");
    for (const v of vars.variables.filter((x) => x.group === "outcome")) {
      const o = document.createElement("option"); o.value = v.name; o.textContent = `${v.name} (${v.units || "–"})`; o.title = v.meaning;
      outSel.appendChild(o);
    }
    // an outcome curve from the start: dissociation if the package offers it, else the first outcome
    const outs = vars.variables.filter((x) => x.group === "outcome").map((x) => x.name);
    outSel.value = outs.includes("dissociation") ? "dissociation" : (outs[0] || "");
    const circ = $("circuit"); circ.innerHTML = "";
    for (const h of hyps.hypotheses) {
      const o = document.createElement("option"); o.value = h.id; o.textContent = h.id; o.title = h.description; circ.appendChild(o);
    }
    circ.addEventListener("change", () => { const h = hyps.hypotheses.find((x) => x.id === circ.value); $("circuit-help").textContent = h ? h.description : ""; });
    $("circuit-help").textContent = hyps.hypotheses[0] ? hyps.hypotheses[0].description : "";
  } catch (e) { showError(`could not load the catalogue: ${e.message}`); }
  const m = /^\/s\/([0-9a-f]{64})\/?$/.exec(location.pathname);
  if (m) {
    try {
      const saved = await api(`/api/scenarios/${m[1]}`);
      controlsFromScenario(saved.scenario);
      state.savedId = m[1];
      $("permalink").value = location.href; $("permalink-row").hidden = false;
    } catch (e) { showError(`could not open the saved scenario: ${e.message}`); addArm(); }
  } else {
    addArm();
  }
  showMode();
  $("controls").addEventListener("input", (ev) => { if (!ev.target.closest(".arm")) { if (ev.target.name === "mode") showMode(); schedule(); } });
  $("controls").addEventListener("change", (ev) => { if (!ev.target.closest(".arm")) { if (ev.target.name === "mode") showMode(); schedule(); } });
  $("controls").addEventListener("submit", (ev) => { ev.preventDefault(); schedule(); });
  $("add-arm").addEventListener("click", () => {
    const last = $("arms").lastElementChild;
    const init = last ? {drug: "esketamine", route: "intranasal", dose: "84", unit: "mg", schedule: "once", over: "0"} : undefined;
    const el = addArm(init);
    if (el) armField(el, "drug").focus();
    schedule();
  });
  for (const g of GROUPS) $(`var-${g}`).addEventListener("change", () => state.result && drawPanel(g, state.result));
  $("save").addEventListener("click", onSave);
  $("run-start").addEventListener("click", onStartRun);
  for (const b of document.querySelectorAll(".dl")) b.addEventListener("click", onDownload);
  let rt;
  window.addEventListener("resize", () => { clearTimeout(rt); rt = setTimeout(() => state.result && GROUPS.forEach((g) => drawPanel(g, state.result)), 150); });
  runSimulation();
  loadPastRuns();
}

document.addEventListener("DOMContentLoaded", init);
