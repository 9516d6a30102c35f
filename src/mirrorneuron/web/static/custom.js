// Custom text: fetch the unit's activation on every token as the user types (debounced).
"use strict";

const unitInput = document.getElementById("unit");
const textInput = document.getElementById("text");
const out = document.getElementById("custom-out");
const tableBox = document.getElementById("custom-table");
const errorBox = document.getElementById("custom-error");
let timer = null;
let seq = 0;

async function update() {
  const mine = ++seq;
  const text = textInput.value;
  if (!text.trim()) {
    out.replaceChildren();
    tableBox.replaceChildren();
    return;
  }
  const params = new URLSearchParams({ unit: unitInput.value.trim(), text });
  const res = await fetch(`/api/custom?${params}`, { headers: { Accept: "application/json" } });
  const data = await res.json().catch(() => ({ detail: res.statusText }));
  if (mine !== seq) return; // a newer request is on its way
  if (!res.ok) {
    errorBox.textContent = data.detail;
    errorBox.hidden = false;
    return;
  }
  errorBox.hidden = true;
  renderWindow(out, data.tokens, -1, data.activations);
  const t = el("table", { class: "compact" });
  const head = el("tr");
  head.append(el("th", {}, "#"), el("th", {}, "token"), el("th", {}, "activation"));
  t.append(head);
  data.tokens.forEach((tok, i) => {
    const row = el("tr");
    const cell = el("td", { class: "num" }, fmt(data.activations[i]));
    cell.style.background = shade(data.activations[i], data.max_abs);
    row.append(el("td", {}, String(i)), el("td", { class: "num" }, JSON.stringify(tok)), cell);
    t.append(row);
  });
  tableBox.replaceChildren(t);
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(update, 200);
}

textInput.addEventListener("input", schedule);
unitInput.addEventListener("input", schedule);
update();
