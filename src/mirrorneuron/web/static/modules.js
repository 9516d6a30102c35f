// Module view and campaign: fetch the JSON twin, draw the unit graph and the recovery curve as SVG.
"use strict";

const box = document.getElementById("module-view");
const model = box.dataset.model;
const mode = box.dataset.mode;
const query = JSON.parse(box.dataset.query);
const statusBox = document.getElementById("module-status");
const errorBox = document.getElementById("module-error");
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

function params() {
  const p = new URLSearchParams();
  for (const k of ["site", "module", "k"]) if (query[k] !== undefined) p.set(k, query[k]);
  return p;
}

function short(id) { return id.split("/").slice(1).join("/").replace("/neuron/", "/"); }

function drawGraph(view) {
  const sites = [...new Set(view.units.map((u) => u.site))];
  const col = Object.fromEntries(sites.map((s, i) => [s, i]));
  const rows = {};
  const sorted = [...view.units].sort((a, b) => a.module - b.module || a.index - b.index);
  const pos = {};
  const W = 160 * sites.length + 80;
  const perCol = Math.max(...sites.map((s) => view.units.filter((u) => u.site === s).length));
  const H = Math.max(160, Math.min(900, 8 * perCol + 40));
  for (const u of sorted) {
    const r = (rows[u.site] = (rows[u.site] || 0) + 1) - 1;
    const n = view.units.filter((x) => x.site === u.site).length;
    pos[u.id] = [60 + 160 * col[u.site], 20 + (H - 40) * (n > 1 ? r / (n - 1) : 0.5)];
  }
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "unit graph" });
  for (const e of view.edges) {
    const [a, b] = [pos[e.source], pos[e.target]];
    svg.append(svgEl("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], "stroke-width": 0.5 + 2 * e.weight }));
  }
  for (const u of view.units) {
    const [x, y] = pos[u.id];
    const done = u.imitated_by.length > 0;
    const c = svgEl("circle", { cx: x, cy: y, r: done ? 6 : 3.5, fill: PALETTE[u.module % PALETTE.length],
      class: done ? "node imitated" : "node", "data-unit": u.id });
    const who = done ? " — imitated by " + u.imitated_by.map((i) => i.player).join(", ") : "";
    c.append(svgEl("title", {}, short(u.id) + ` (module ${u.module})` + who));
    svg.append(c);
    if (done) svg.append(svgEl("text", { x: x + 9, y: y + 4, "font-size": 10 }, short(u.id)));
  }
  sites.forEach((s, i) => svg.append(svgEl("text", { x: 60 + 160 * i - 30, y: H - 4, "font-size": 10 }, s)));
  document.getElementById("module-graph").replaceChildren(svg);
}

function drawCurve(view) {
  const target = document.getElementById("module-curve");
  if (!view.curve.length) {
    target.replaceChildren(el("p", { class: "muted" }, "No imitations in this set yet: no curve."));
    return;
  }
  const W = 420, H = 220, P = 36;
  const ys = view.curve.map((r) => r.loss_recovered ?? 0).concat(view.baselines.map((b) => b.loss_recovered ?? 0), [0, 1]);
  const lo = Math.min(...ys), hi = Math.max(...ys);
  const n = view.curve.length;
  const X = (i) => P + (W - 2 * P) * (n > 1 ? (i - 1) / (n - 1) : 0.5);
  const Y = (v) => H - P - (H - 2 * P) * (v - lo) / (hi - lo || 1);
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "recovery curve" });
  svg.append(svgEl("line", { x1: P, y1: Y(0), x2: W - P, y2: Y(0), stroke: "#bbb" }));
  svg.append(svgEl("text", { x: 2, y: Y(1) + 4, "font-size": 10 }, "1"), svgEl("text", { x: 2, y: Y(0) + 4, "font-size": 10 }, "0"));
  view.baselines.forEach((b, i) => {
    if (b.loss_recovered === null) return;
    svg.append(svgEl("line", { x1: P, y1: Y(b.loss_recovered), x2: W - P, y2: Y(b.loss_recovered),
      stroke: PALETTE[(i + 3) % PALETTE.length], class: "baseline" }));
    svg.append(svgEl("text", { x: W - P + 2, y: Y(b.loss_recovered) + 4, "font-size": 10 }, b.candidate));
  });
  const pts = view.curve.map((r) => `${X(r.n_units)},${Y(r.loss_recovered ?? 0)}`).join(" ");
  svg.append(svgEl("polyline", { points: pts, fill: "none", stroke: PALETTE[0], "stroke-width": 2, class: "curve" }));
  for (const r of view.curve) {
    const c = svgEl("circle", { cx: X(r.n_units), cy: Y(r.loss_recovered ?? 0), r: 3.5, fill: PALETTE[0] });
    c.append(svgEl("title", {}, `${r.n_units} units (+${r.unit}): ${fmt(r.loss_recovered)}`));
    svg.append(c);
  }
  svg.append(svgEl("text", { x: P, y: H - 8, "font-size": 10 }, `units imitated (${view.order} order) · ${view.ablation} ablation`));
  target.replaceChildren(svg);
}

function drawTable(view) {
  const table = el("table");
  table.append(el("tr"));
  for (const h of ["unit", "module", "imitated by", "held-out correlation"]) table.lastChild.append(el("th", {}, h));
  const shown = view.units.filter((u) => u.imitated_by.length || view.units.length <= 24);
  for (const u of shown) {
    const tr = el("tr");
    const link = el("a", { href: `/units/${u.id}` }, short(u.id));
    const td = el("td"); td.append(link);
    tr.append(td, el("td", {}, String(u.module)),
      el("td", {}, u.imitated_by.map((i) => `${i.player} (v${i.version})`).join(", ") || "—"),
      el("td", {}, u.used && u.used.correlation !== null ? u.used.correlation.toFixed(3) : "—"));
    table.append(tr);
  }
  const note = el("p", { class: "muted small" }, `${view.units.length} units, ${view.units.filter((u) => u.imitated_by.length).length} imitated.`);
  document.getElementById("module-table").replaceChildren(note, table);
}

async function startCampaign() {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const body = Object.fromEntries([...params()].map(([k, v]) => [k, k === "site" ? v : Number(v)]));
  const res = await fetch(`/api/modules/${encodeURIComponent(model)}/campaign/start`, {
    method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body) });
  const data = await res.json().catch(() => ({ detail: res.statusText }));
  if (!res.ok) { errorBox.textContent = data.detail; errorBox.hidden = false; return; }
  window.location.href = data.play_url;
}

function drawSuggestion(view, progress) {
  const s = view.suggestion;
  const box = document.getElementById("module-suggestion");
  const parts = [];
  if (progress) parts.push(el("p", { id: "campaign-progress" }, `Your progress: ${progress.imitated} of ${progress.total} units imitated.`));
  if (!s.unit_id) {
    parts.push(el("p", { class: "muted" }, `No suggestion: ${s.reason}.`));
  } else {
    const p = el("p", { class: "suggestion", id: "suggested-unit", "data-unit": s.unit_id });
    p.append("Next unit: ", el("a", { href: `/units/${s.unit_id}` }, short(s.unit_id)),
      ` — a perfect imitation would win back ${s.loss_gain.toFixed(5)} nats (${s.reason}).`);
    parts.push(p);
    const row = el("p", { class: "row" });
    if (mode === "campaign") {
      const b = el("button", { class: "primary", type: "button", id: "campaign-play" }, "Play this unit");
      b.addEventListener("click", startCampaign);
      row.append(b);
    } else {
      row.append(el("a", { class: "button primary", id: "campaign-link", href: `/modules/${model}/campaign?${params()}` }, "Campaign mode"));
    }
    row.append(" ", el("a", { href: `/units/${s.unit_id}/imitate`, id: "imitate-link" }, "then write its imitation"));
    parts.push(row);
  }
  for (const p of view.problems) parts.push(el("p", { class: "muted small" }, "left out: " + p));
  box.replaceChildren(...parts);
}

async function load() {
  const url = mode === "campaign" ? `/api/modules/${encodeURIComponent(model)}/campaign?${params()}`
    : `/api/modules/${encodeURIComponent(model)}?${params()}`;
  const res = await fetch(url, { headers: { Accept: "application/json" } });
  const data = await res.json().catch(() => ({ detail: res.statusText }));
  if (!res.ok) { statusBox.hidden = true; errorBox.textContent = data.detail; errorBox.hidden = false; return; }
  const view = mode === "campaign" ? data.view : data;
  statusBox.textContent = `${view.set} · ${view.slice}`;
  drawSuggestion(view, mode === "campaign" ? data : null);
  drawGraph(view);
  drawCurve(view);
  drawTable(view);
  box.dataset.loaded = "1";
}

load();
