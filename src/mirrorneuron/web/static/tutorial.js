// The tutorial: a real level-1 game on an obvious unit, in four steps (the guess, the levels, a few rounds,
// the result against the mean bot). Keyboard only: Enter guesses and moves on; Tab reaches "Skip tutorial".
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  let game = null, round = null, shownAt = 0, levelsSeen = false;

  async function api(method, url, body) {
    const r = await fetch(url, {
      method,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const out = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(out.detail || `request failed (${r.status})`);
    return out;
  }

  function status(text) { $("tut-status").textContent = text; }

  function setStep(n) {
    document.querySelectorAll(".tut-steps li").forEach((li) => {
      if (Number(li.dataset.step) === n) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
    });
  }

  function show(...ids) {
    for (const id of ["tut-round", "tut-hints", "tut-levels", "tut-end"]) $(id).hidden = !ids.includes(id);
  }

  function snippet(ex, around = 8) {
    const box = el("span", { class: "window small" });
    const lo = Math.max(0, ex.target - around);
    ex.tokens.slice(lo, ex.target + 3).forEach((t, j) => {
      const i = lo + j;
      box.append(el("span", { class: i === ex.target ? "tok target" : i > ex.target ? "tok after" : "tok" }, cleanToken(t)));
    });
    return box;
  }

  function references(container, refs) {
    container.replaceChildren();
    const table = el("table", { class: "compact tut-ref-table" });
    const head = el("tr");
    ["value", "example (highlighted: the token the value is on)"].forEach((h) => head.append(el("th", { scope: "col" }, h)));
    table.append(head);
    [...refs].sort((a, b) => b.value - a.value).forEach((r) => {
      const tr = el("tr");
      tr.append(el("td", { class: "num" }, fmt(r.value, 2)));
      const td = el("td");
      td.append(snippet(r.example));
      tr.append(td);
      table.append(tr);
    });
    container.append(table);
  }

  function hints(h) {
    const s = h.stats;
    $("tut-range").textContent = `This unit ranges from ${fmt(s.min, 2)} to ${fmt(s.max, 2)}; its mean is ${fmt(s.mean, 2)}.`;
    references($("tut-hints-body"), h.references || []);
  }

  async function nextRound() {
    const nxt = await api("GET", `/api/games/${game.game_id}/round`);
    if (nxt.done) return finish();
    round = nxt.round;
    if (round.seq >= 1 && !levelsSeen) return showLevels();
    showRound();
  }

  function showRound() {
    const first = round.seq === 0;
    setStep(first ? 1 : 3);
    status(first ? "Step 1 of 4: read the example, then type a guess and press Enter."
      : `Step 3 of 4: round ${round.seq + 1} of ${round.n_rounds}. Use the reference examples to guess.`);
    $("tut-round-title").textContent = `Round ${round.seq + 1} / ${round.n_rounds}`;
    $("tut-explain").hidden = !first;
    const ex = round.example;
    renderWindow($("tut-example"), ex.tokens, ex.target);
    hints(round.hints);
    show("tut-round", ...(first ? [] : ["tut-hints"]));
    $("tut-guess-form").hidden = false;
    $("tut-reveal").hidden = true;
    $("tut-guess").value = "";
    $("tut-guess").focus();
    shownAt = performance.now();
  }

  function showLevels() {
    levelsSeen = true;
    setStep(2);
    status("Step 2 of 4: what each level adds. Press Enter to continue.");
    references($("tut-refs"), round.hints.references || []);
    show("tut-levels");
    $("tut-continue").focus();
  }

  async function guess(ev) {
    ev.preventDefault();
    const raw = $("tut-guess").value.trim().replace("\u2212", "-");
    const value = Number(raw);
    if (!raw || !Number.isFinite(value)) {
      $("tut-error").textContent = "Type a number, e.g. 0.5 or -1.2";
      $("tut-error").hidden = false;
      return;
    }
    $("tut-error").hidden = true;
    const seconds = (performance.now() - shownAt) / 1000;
    try {
      const g = await api("POST", `/api/rounds/${round.round_id}/guess`, { token: round.token, value, seconds });
      $("tut-actual").textContent = fmt(g.actual);
      $("tut-your").textContent = fmt(g.guess);
      $("tut-score").textContent = `${Math.round(g.score)}/100`;
      $("tut-points").textContent = `+${Math.round(g.points || 0)} of ${Math.round(g.max_points || 0)}`;
      $("tut-guess-form").hidden = true;
      $("tut-reveal").hidden = false;
      status(`The truth was ${fmt(g.actual)}. Press Enter for the next step.`);
      const reveal = await api("GET", `/api/rounds/${round.round_id}/reveal`);
      if (reveal.window) renderWindow($("tut-example"), reveal.window.tokens, reveal.window.target, reveal.window.activations);
      $("tut-next").focus();
    } catch (e) {
      $("tut-error").textContent = e.message;
      $("tut-error").hidden = false;
    }
  }

  async function finish() {
    const r = await api("POST", "/api/tutorial/finish", { game_id: game.game_id });
    setStep(4);
    $("tut-verdict").textContent = r.beat_mean_bot ? "You beat the mean bot" : "The mean bot won this time";
    $("tut-compare").textContent = `You earned ${Math.round(r.points)} insight points; the mean bot, which always guesses the unit's mean, earned ${Math.round(r.mean_bot_points)} on the same ${r.n_rounds} rounds (at most ${Math.round(r.max_points)}).`;
    status("Step 4 of 4: done. The tutorial will not be offered again.");
    show("tut-end");
    $("tut-play").focus();
  }

  async function skip() {
    await api("POST", "/api/tutorial/skip");
    window.location.assign("/");
  }

  const fail = (e) => status(`Something went wrong: ${e.message}. Reload the page to resume.`);
  $("tut-guess-form").addEventListener("submit", (ev) => guess(ev).catch(fail));
  $("tut-next").addEventListener("click", () => nextRound().catch(fail));
  $("tut-continue").addEventListener("click", () => showRound());
  $("skip").addEventListener("click", () => skip().catch(fail));
  api("POST", "/api/tutorial").then((g) => { game = g; return nextRound(); }).catch(fail);
})();
