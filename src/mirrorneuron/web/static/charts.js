// Small SVG and DOM helpers shared by the play and custom-text pages (no libraries: everything offline).
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function svgEl(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function fmt(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "—";
  return (x >= 0 ? "+" : "") + Number(x).toFixed(digits);
}

function cleanToken(t) {
  return t.replace(/\n/g, "⏎").replace(/\t/g, "⇥");
}

// Colour-blind-safe: blue for positive, orange for negative activations, stronger with |a| / maxAbs; on
// the reveal the underline's weight carries |a| too, so the shading never relies on colour alone.
const SHADE_RGB = { pos: "37, 99, 235", neg: "234, 88, 12" };

function shade(a, maxAbs) {
  const s = maxAbs > 0 ? Math.min(1, Math.abs(a) / maxAbs) : 0;
  return `rgba(${a >= 0 ? SHADE_RGB.pos : SHADE_RGB.neg}, ${0.08 + 0.62 * s})`;
}

function underline(a, maxAbs) {
  const s = maxAbs > 0 ? Math.min(1, Math.abs(a) / maxAbs) : 0;
  return `${Math.round(4 * s)}px solid rgb(${a >= 0 ? SHADE_RGB.pos : SHADE_RGB.neg})`;
}

// A text window: target highlighted, later tokens dimmed (or every token shaded when acts are given).
function renderWindow(container, tokens, target, acts = null) {
  container.replaceChildren();
  const maxAbs = acts ? Math.max(1e-9, ...acts.map(Math.abs)) : 0;
  tokens.forEach((t, i) => {
    const span = el("span", { class: "tok" }, cleanToken(t));
    if (acts) {
      span.style.background = shade(acts[i], maxAbs);
      span.style.borderBottom = underline(acts[i], maxAbs);
      span.title = `${fmt(acts[i])}`;
      if (i === target) span.classList.add("target-outline");
    } else if (i === target) {
      span.classList.add("target");
    } else if (i > target) {
      span.classList.add("after");
    }
    container.append(span);
  });
}

// An image as an SVG pixel grid (pixels in [0, 1], dark = ink).
function renderDigit(pixels, size = 200) {
  const n = pixels.length;
  const svg = svgEl("svg", { viewBox: `0 0 ${n} ${n}`, width: size, height: size, class: "digit", role: "img", "aria-label": "digit image" });
  pixels.forEach((row, y) => row.forEach((v, x) => {
    const g = Math.round(255 * (1 - v));
    svg.append(svgEl("rect", { x, y, width: 1, height: 1, fill: `rgb(${g},${g},${g})` }));
  }));
  return svg;
}

function niceRange(values) {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!Number.isFinite(lo)) return [0, 1];
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const pad = (hi - lo) * 0.08;
  return [lo - pad, hi + pad];
}

function axes(svg, W, H, M, xr, yr, xlabel, ylabel, xint = false) {
  const xf = (v) => (xint ? String(Math.round(v)) : v.toFixed(2));
  svg.append(svgEl("line", { x1: M, y1: H - M, x2: W - 8, y2: H - M, class: "axis" }));
  svg.append(svgEl("line", { x1: M, y1: 8, x2: M, y2: H - M, class: "axis" }));
  svg.append(svgEl("text", { x: (W + M) / 2, y: H - 6, class: "label", "text-anchor": "middle" }, xlabel));
  svg.append(svgEl("text", { x: 12, y: (H - M) / 2, class: "label", "text-anchor": "middle", transform: `rotate(-90 12 ${(H - M) / 2})` }, ylabel));
  svg.append(svgEl("text", { x: M, y: H - M + 14, class: "tick", "text-anchor": "middle" }, xf(xr[0])));
  svg.append(svgEl("text", { x: W - 8, y: H - M + 14, class: "tick", "text-anchor": "end" }, xf(xr[1])));
  svg.append(svgEl("text", { x: M - 4, y: H - M, class: "tick", "text-anchor": "end" }, yr[0].toFixed(yr[1] > 10 ? 0 : 2)));
  svg.append(svgEl("text", { x: M - 4, y: 14, class: "tick", "text-anchor": "end" }, yr[1].toFixed(yr[1] > 10 ? 0 : 2)));
}

// Guess (y) against truth (x), with the diagonal of perfect guesses.
function emptyChart(svg, W, H) {
  svg.append(svgEl("text", { x: W / 2, y: H / 2, class: "empty", "text-anchor": "middle" }, "appears after your first guess"));
}

function drawScatter(svg, points) {
  svg.replaceChildren();
  const W = 300, H = 220, M = 36;
  if (!points.length) return emptyChart(svg, W, H);
  const r = niceRange(points.flatMap((p) => [p.actual, p.guess]));
  const sx = (v) => M + ((v - r[0]) / (r[1] - r[0])) * (W - M - 8);
  const sy = (v) => H - M - ((v - r[0]) / (r[1] - r[0])) * (H - M - 8);
  axes(svg, W, H, M, r, r, "truth", "guess");
  svg.append(svgEl("line", { x1: sx(r[0]), y1: sy(r[0]), x2: sx(r[1]), y2: sy(r[1]), class: "diag" }));
  points.forEach((p, i) => {
    const last = i === points.length - 1;
    svg.append(svgEl("circle", { cx: sx(p.actual), cy: sy(p.guess), r: last ? 5 : 3.5, class: last ? "pt last" : "pt" }));
  });
}

// Running mean of the round score by round.
function drawCurve(svg, scores) {
  svg.replaceChildren();
  const W = 300, H = 220, M = 36;
  if (!scores.length) return emptyChart(svg, W, H);
  let sum = 0;
  const mean = scores.map((s, i) => (sum += s) / (i + 1));
  const n = Math.max(2, scores.length);
  const sx = (i) => M + (i / (n - 1)) * (W - M - 8);
  const sy = (v) => H - M - (v / 100) * (H - M - 8);
  axes(svg, W, H, M, [1, n], [0, 100], "round", "score", true);
  scores.forEach((s, i) => svg.append(svgEl("circle", { cx: sx(i), cy: sy(s), r: 2.5, class: "pt faint" })));
  const d = mean.map((v, i) => `${i ? "L" : "M"}${sx(i).toFixed(1)},${sy(v).toFixed(1)}`).join(" ");
  svg.append(svgEl("path", { d, class: "line" }));
}
