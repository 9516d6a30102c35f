// The play page: fetch a round, take a guess (Enter), show the reveal, Enter again for the next round,
// and the summary at the end. Talks to the JSON API only; the truth arrives only in the guess's answer.
"use strict";

const game = JSON.parse(document.getElementById("game-data").textContent);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
const results = game.results.filter((r) => r.actual !== null);
let current = null;
let shownAt = 0;
let phase = "loading"; // loading | guess | sending | reveal | done
let lastWasFinal = false;

async function api(path, body = undefined) {
  const opts = { credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.headers["X-CSRF-Token"] = csrf;
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({ detail: res.statusText }));
  if (!res.ok) {
    const err = new Error(data.detail || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return data;
}

function updateScoreboard() {
  const total = results.reduce((s, r) => s + (r.points || 0), 0);
  const max = results.reduce((s, r) => s + (r.max_points || 0), 0);
  $("total-points").textContent = Math.round(total);
  $("max-points").textContent = Math.round(max);
  drawScatter($("scatter"), results);
  drawCurve($("curve"), results.map((r) => r.score));
}

// --- hints ---------------------------------------------------------------------------------------------
function table(head, rows, firstClass = null) {
  const t = el("table", { class: "compact" });
  const tr = el("tr");
  head.forEach((h) => tr.append(el("th", {}, h)));
  const thead = el("thead");
  thead.append(tr);
  t.append(thead);
  const body = el("tbody");
  rows.forEach((cells, i) => {
    const row = el("tr", i === 0 && firstClass ? { class: firstClass } : {});
    cells.forEach((c) => {
      const td = el("td");
      if (c instanceof Node) td.append(c);
      else td.textContent = c;
      row.append(td);
    });
    body.append(row);
  });
  t.append(body);
  return t;
}

function snippet(ex, around = 8) {
  if (ex.kind === "image") return renderDigit(ex.pixels, 44);
  const lo = Math.max(0, ex.target - around);
  const hi = Math.min(ex.tokens.length, ex.target + 3);
  const span = el("span", { class: "window small" });
  renderWindow(span, ex.tokens.slice(lo, hi), ex.target - lo);
  return span;
}

function bar(value, maxAbs) {
  const wrap = el("span", { class: "vbar" });
  const fill = el("span", { class: value >= 0 ? "pos" : "neg" });
  fill.style.width = `${Math.min(100, (Math.abs(value) / (maxAbs || 1)) * 100)}%`;
  wrap.append(fill);
  const cell = el("span", { class: "vcell" });
  cell.append(el("span", { class: "num" }, fmt(value)), wrap);
  return cell;
}

function renderHints(h) {
  const box = $("hints");
  box.replaceChildren(el("h3", {}, "What you know"));
  const s = h.stats;
  box.append(el("p", { class: "stats" }, `range ${fmt(s.min, 2)} … ${fmt(s.max, 2)} · mean ${fmt(s.mean, 2)}`));
  box.append(table(["q01", "q10", "q50", "q90", "q99"], [[s.q01, s.q10, s.q50, s.q90, s.q99].map((v) => fmt(v, 2))]));
  if (h.references) {
    box.append(el("h4", {}, "Reference examples (never asked)"));
    const maxAbs = Math.max(...h.references.map((r) => Math.abs(r.value)), 1e-9);
    box.append(table(["value", "example", ""], h.references.map((r) => [bar(r.value, maxAbs), snippet(r.example), r.kind])));
  }
  if (h.neighbours) {
    box.append(el("h4", {}, "Neighbours on this example"));
    const maxAbs = Math.max(...h.neighbours.map((n) => Math.abs(n.value)), 1e-9);
    box.append(table(["group", "unit / probe", "value"], h.neighbours.map((n) => [n.group, n.label, bar(n.value, maxAbs)])));
  }
  if (h.contributions) renderContributions(box, h.contributions);
}

// Level 3: each part's largest terms (the rest lumped), its bias and sum; then what the formula needs
// beyond the terms (SoLU's softmax normaliser, the LayerNorm, an offset); the heading gives the formula.
function renderContributions(box, c) {
  const sum = (ts) => ts.reduce((s, t) => s + t[1], 0);
  const parts = [[c.up ? "gate" : "", c.terms, c.bias]];
  if (c.up) parts.push(["up", c.up.terms, c.up.bias]);
  const level = c.exact ? "Level 3" : "Level 3 · approximate";
  box.append(el("h4", {}, `${level}: weight × input — value = ${c.formula}`));
  const top = parts.map(([, ts]) => [...ts].sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, 12));
  const maxAbs = Math.max(...top.flat().map((t) => Math.abs(t[1])), ...parts.map((p) => Math.abs(p[2])), 1e-9);
  const rows = [];
  parts.forEach(([name, terms, bias], i) => {
    const pre = name ? `${name}: ` : "";
    top[i].forEach((t) => rows.push([pre + t[0], bar(t[1], maxAbs)]));
    if (terms.length > 12) rows.push([`${pre}other (${terms.length - 12} terms)`, bar(sum(terms) - sum(top[i]), maxAbs)]);
    rows.push([`${name || ""} bias`.trim(), bar(bias, maxAbs)]);
    rows.push([`${name || "pre-activation"} = Σ + bias`, bar(sum(terms) + bias, maxAbs)]);
  });
  if (c.softmax) rows.push([`log_z (softmax normaliser, ${c.softmax.units} units)`, fmt(c.softmax.log_z, 4)]);
  if (c.layernorm) {
    for (const k of ["mean", "std", "gain", "bias"]) rows.push([`LayerNorm ${k}`, fmt(c.layernorm[k], 4)]);
  }
  if (c.offset) rows.push(["offset (after the nonlinearity)", fmt(c.offset, 4)]);
  box.append(table(["input", "contribution"], rows));
  if (c.precision !== "float64") box.append(el("p", { class: "stats" }, `The true value is stored as ${c.precision}.`));
}

// --- rounds --------------------------------------------------------------------------------------------
function renderRound(r) {
  $("round-title").textContent = `Round ${r.seq + 1} / ${r.n_rounds}`;
  const ex = $("example");
  if (r.example.kind === "text") {
    const w = el("div", { class: "window big" });
    renderWindow(w, r.example.tokens, r.example.target);
    ex.replaceChildren(w);
  } else {
    ex.replaceChildren(renderDigit(r.example.pixels, 224));
  }
  renderHints(r.hints);
  $("reveal").hidden = true;
  $("recorded").hidden = true;
  $("guess-form").hidden = false;
  $("guess-error").hidden = true;
  const input = $("guess");
  input.value = "";
  input.disabled = false;
  input.focus();
}

async function loadRound() {
  phase = "loading";
  try {
    const next = await api(`/api/games/${game.game_id}/round`);
    if (next.done) return finish();
    current = next.round;
    renderRound(current);
    shownAt = performance.now();
    phase = "guess";
  } catch (e) {
    showError(e.message);
  }
}

function showError(msg) {
  const p = $("guess-error");
  p.textContent = msg;
  p.hidden = false;
}

async function submitGuess(ev) {
  ev.preventDefault();
  if (phase !== "guess") return;
  const text = $("guess").value.trim().replace(",", ".");
  const value = Number(text);
  if (!text || !Number.isFinite(value)) return showError("Please type a number, e.g. 0.5 or -1.2");
  phase = "sending";
  $("guess").disabled = true;
  const seconds = (performance.now() - shownAt) / 1000;
  try {
    const res = await api(`/api/rounds/${current.round_id}/guess`, { token: current.token, value, seconds });
    lastWasFinal = res.done;
    if (res.feedback) showReveal(res);
    else showRecorded(res);
  } catch (e) {
    $("guess").disabled = false;
    phase = "guess";
    if (e.status === 409) return loadRound(); // answered already (another tab): move on
    showError(e.message);
  }
}

function showReveal(res) {
  results.push(res);
  $("guess-form").hidden = true;
  $("r-actual").textContent = fmt(res.actual);
  $("r-guess").textContent = fmt(res.guess);
  $("r-score").textContent = `${Math.round(res.score)}/100`;
  $("r-points").textContent = pointsText(res.points, res.max_points);
  const barFill = $("r-bar");
  barFill.style.width = `${res.score}%`;
  barFill.className = res.score >= 80 ? "good" : res.score >= 50 ? "ok" : "bad";
  $("r-window").replaceChildren();
  $("r-window-note").hidden = true;
  $("next").textContent = res.done ? "See the summary ⏎" : "Next ⏎";
  $("reveal").hidden = false;
  announce(`Truth ${fmt(res.actual)}. Your guess ${fmt(res.guess)}. Closeness ${Math.round(res.score)} of 100, ` +
    `insight ${pointsText(res.points, res.max_points)}. Press Enter for ${res.done ? "the summary" : "the next round"}.`);
  updateScoreboard();
  phase = "reveal";
  $("next").focus();
  api(`/api/rounds/${res.round_id}/reveal`).then((rv) => {
    if (rv.window && current && current.round_id === res.round_id) {
      renderWindow($("r-window"), rv.window.tokens, rv.window.target, rv.window.activations);
      $("r-window-note").hidden = false;
    }
  }).catch(() => {});
}

function showRecorded(res) {
  $("guess-form").hidden = true;
  announce(`Guess recorded. Press Enter for ${res.done ? "the end" : "the next round"}.`);
  $("next-nofb").textContent = res.done ? "Finish ⏎" : "Next ⏎";
  $("recorded").hidden = false;
  phase = "reveal";
  $("next-nofb").focus();
}

function next() {
  if (phase !== "reveal") return;
  if (lastWasFinal) finish();
  else loadRound();
}

// Screen readers: the reveal (and other changes a sighted player sees at a glance) read out politely.
function announce(text) {
  $("announce").textContent = text;
}

// Insight points: what the guess earned beyond the unit mean (a mean guess earns 0), "of" the perfect guess's.
function pointsText(points, max) {
  if (points === null || points === undefined) return "—";
  return max === null || max === undefined ? `+${Math.round(points)} pts` : `+${Math.round(points)} of ${Math.round(max)} pts`;
}

// --- summary -------------------------------------------------------------------------------------------
function scoreRow(p, you) {
  const flag = p.correlation_flag ? "*" : "";
  return [you ? "you" : p.name, String(p.n), p.mean_score === null ? "—" : p.mean_score.toFixed(1),
    `${Math.round(p.points)} of ${Math.round(p.max_points)}`, fmt(p.correlation, 2) + flag, fmt(p.r2, 2), fmt(p.abs_dev_explained, 2)];
}

async function finish() {
  phase = "done";
  let view;
  try {
    view = await api(`/api/games/${game.game_id}`);
  } catch (e) {
    return showError(e.message);
  }
  document.querySelector(".playgrid").hidden = true;
  $("round-title").textContent = "Game over";
  const body = $("summary-body");
  const s = view.summary;
  if (!s || !s.feedback || !s.you) {
    body.replaceChildren(el("p", {}, `Thank you: your ${view.n_answered} guesses are recorded. This game gives no feedback, so the values stay hidden.`));
  } else {
    body.replaceChildren(
      el("p", { class: "lead" }, `Closeness ${s.you.mean_score.toFixed(1)}/100 over ${s.you.n} rounds · insight ${Math.round(s.you.points)} of ${Math.round(s.you.max_points)} points.`),
      table(["player", "rounds", "closeness", "insight points", "r", "R²", "abs. dev. explained"],
        [scoreRow(s.you, true), ...s.bots.map((b) => scoreRow(b, false))], "you"),
      el("p", { class: "muted small" }, "Bots played the same rounds with the same scoring. Closeness: 100 minus the miss as a share of the unit's range. Insight points: how much closer than the unit mean each guess was, × the level's multiplier (always guessing the mean earns 0). r: Pearson correlation of guesses with the truth (* undefined: constant guesses). R² and absolute deviation explained: 1 is perfect, 0 is as good as always guessing the mean."),
    );
  }
  $("summary").hidden = false;
  announce(`Game over. ${body.querySelector("p").textContent} Press Enter to go on.`);
  if (s && s.feedback && s.you && !view.practice) showShare();
  const nextLink = $("next-game");
  if (view.next_game_id) {
    nextLink.href = `/play/${view.next_game_id}`;
    nextLink.hidden = false;
    nextLink.focus();
  } else {
    $("again").focus();
  }
}

// The share link of a finished game (ranked games only: the API answers 403 for practice games).
async function showShare() {
  try {
    const link = await api(`/api/games/${game.game_id}/share`);
    const url = new URL(link.url, window.location.origin).href;
    $("share-url").value = url;
    $("share-open").href = link.url;
    $("share").hidden = false;
  } catch (e) {
    // not shareable (practice or no feedback): no share box
  }
}

// --- wiring --------------------------------------------------------------------------------------------
$("guess-form").addEventListener("submit", submitGuess);
$("next").addEventListener("click", next);
$("next-nofb").addEventListener("click", next);
document.addEventListener("keydown", (ev) => {
  if (ev.key !== "Enter" || ev.repeat) return;
  if (phase === "reveal") {
    ev.preventDefault();
    next();
  } else if (phase === "done") {
    const target = !$("next-game").hidden ? $("next-game") : $("again");
    if (document.activeElement !== target && !$("share").contains(document.activeElement)) {
      ev.preventDefault();
      window.location.href = target.href;
    }
  }
});
updateScoreboard();
if (game.done) finish();
else loadRound();
