// Imitation rule editor: a debounced live preview on the reference examples, inline parse errors, Save.
"use strict";

const box = document.getElementById("imitate");
const unitId = box.dataset.unit;
const source = document.getElementById("rule-source");
const errorBox = document.getElementById("rule-error");
const summaryBox = document.getElementById("preview-summary");
const tableBox = document.getElementById("preview-table");
const savedBox = document.getElementById("rule-saved");
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const api = `/api/units/${unitId.split("/").map(encodeURIComponent).join("/")}`;
let timer = null;
let seq = 0;

async function post(path, body) {
  const res = await fetch(api + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({ detail: res.statusText }));
  return [res, data];
}

function showError(data) {
  errorBox.textContent = data.line ? `${data.line}:${data.col}: ${data.detail.replace(/^line \d+, col \d+: /, "")}` : data.detail;
  errorBox.hidden = false;
}

function exampleCell(ex) {
  const cell = el("td");
  if (ex.kind === "image") {
    cell.append(renderDigit(ex.pixels, 48));
  } else {
    const w = el("span", { class: "window" });
    renderWindow(w, ex.tokens, ex.target);
    cell.append(w);
  }
  return cell;
}

function renderPreview(data) {
  summaryBox.textContent = `correlation ${fmt(data.correlation)} · R² ${fmt(data.r2)} · `
    + `mean round score ${data.mean_round_score === null ? "—" : data.mean_round_score.toFixed(1)} `
    + `on ${data.rows.length} reference examples`;
  const t = el("table", { class: "compact", id: "preview-rows" });
  const head = el("tr");
  head.append(el("th", {}, "example"), el("th", {}, "kind"), el("th", {}, "true"), el("th", {}, "rule"));
  t.append(head);
  for (const r of data.rows) {
    const row = el("tr");
    row.append(exampleCell(r.example), el("td", {}, r.kind), el("td", { class: "num" }, fmt(r.value)),
      el("td", { class: "num predicted" }, fmt(r.predicted)));
    t.append(row);
  }
  tableBox.replaceChildren(t);
}

async function update() {
  const mine = ++seq;
  if (!source.value.trim()) {
    errorBox.hidden = true;
    return;
  }
  const [res, data] = await post("/imitation/preview", { source: source.value });
  if (mine !== seq) return; // a newer preview is on its way
  if (!res.ok) return showError(data);
  errorBox.hidden = true;
  renderPreview(data);
}

async function save() {
  savedBox.textContent = "scoring on held-out examples…";
  const [res, data] = await post("/imitations", { source: source.value });
  if (!res.ok) {
    savedBox.textContent = "";
    return showError(data);
  }
  errorBox.hidden = true;
  const held = data.scores.rows[0];
  savedBox.textContent = `saved version ${data.version}: held-out correlation ${fmt(held.correlation)}, `
    + `R² ${fmt(held.r2)} on ${held.n} examples`;
  const item = el("li", {}, `version ${data.version} · held-out correlation ${fmt(held.correlation)}: `);
  item.append(el("code", {}, data.source.slice(0, 60)));
  document.getElementById("versions").append(item);
}

source.addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(update, 300);
});
document.getElementById("rule-save").addEventListener("click", save);
update();
