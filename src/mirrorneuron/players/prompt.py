"""Render a round as text: exactly what a human player sees, built from ``Round.to_dict()`` alone.

Used as the LLM bot's prompt; the terminal and web game may reuse the pieces. A rendered round never holds
its own true value (``Round.to_dict`` has none); ``history`` adds earlier rounds with their revealed values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mirrorneuron.game import Reveal, Round

MARK_OPEN, MARK_CLOSE = "[[", "]]"
SHADES = " .:-=+*#%@"  # image pixel intensity, dark to bright

SYSTEM_PROMPT = (
    "You are playing MirrorNeuron, a game where you imitate one unit of a neural network. Each round shows "
    "an input example and you guess the unit's activation on it. For text, the unit is read at the target "
    f"token, marked {MARK_OPEN}like this{MARK_CLOSE}; it only sees that token and the tokens before it. "
    "For images, brighter characters are brighter pixels. "
    "Score = 100 * max(0, 1 - |guess - actual| / scale). "
    "Answer with a single number and nothing else."
)


def fmt(x: float) -> str:
    return f"{x:.4g}"


def _visible(token: str) -> str:
    return token.replace("\n", "↵").replace("\t", "⇥")


def render_example(example: dict[str, Any]) -> str:
    """A text example as one line with the target token marked (plus the token on its own line, so
    whitespace is unambiguous); an image as rows of shade characters."""
    if example["kind"] == "text":
        tokens, t = [str(tok) for tok in example["tokens"]], int(example["target"])
        line = "".join(_visible(tok) for tok in tokens[:t])
        line += MARK_OPEN + _visible(tokens[t]) + MARK_CLOSE + "".join(_visible(tok) for tok in tokens[t + 1 :])
        return f"{line}\ntarget token: {tokens[t]!r}"
    rows = example["pixels"]
    top = len(SHADES) - 1
    return "\n".join("".join(SHADES[min(top, max(0, round(float(p) * top)))] for p in row) for row in rows)


def render_stats(stats: dict[str, Any]) -> str:
    named = ", ".join(f"{k} {fmt(v)}" for k, v in stats.items() if k.startswith("q"))
    return (
        f"activation range {fmt(stats['min'])} to {fmt(stats['max'])}, mean {fmt(stats['mean'])}; "
        f"quantiles: {named}; scale {fmt(stats['scale'])}"
    )


def render_hints(hints: dict[str, Any]) -> str:
    """The level's hints (stats; references; neighbours; contributions) as plain text."""
    parts = [f"Unit {hints['unit_id']}: {render_stats(hints['stats'])}."]
    refs = hints.get("references")
    if refs:
        parts.append("Reference examples with their activations:")
        for ref in refs:
            parts.append(f"- {ref['kind']} example, activation {fmt(ref['value'])}:")
            parts.append(render_example(ref["example"]))
    neighbours = hints.get("neighbours")
    if neighbours:
        parts.append("Activations of related units on THIS example:")
        parts += [f"- {h['label']} ({h['group']}): {fmt(h['value'])}" for h in neighbours]
    contrib = hints.get("contributions")
    if contrib:
        parts += render_contributions(contrib)
    return "\n".join(parts)


def render_contributions(c: dict[str, Any]) -> list[str]:
    """Level 3's parts as lines: the terms of each part, what the formula needs beyond them, and the formula."""
    approx = "" if c.get("exact", True) else " (approximate: the value only roughly follows from these)"
    lines = [f"Input contributions (weight × input) on THIS example{approx}; activation = {c['formula']}:"]
    gated = c.get("up") is not None
    lines += [f"- {'gate: ' if gated else ''}{label}: {fmt(value)}" for label, value in c["terms"]]
    lines.append(f"- {'gate ' if gated else ''}bias: {fmt(c['bias'])}")
    if gated:
        lines += [f"- up: {label}: {fmt(value)}" for label, value in c["up"]["terms"]]
        lines.append(f"- up bias: {fmt(c['up']['bias'])}")
    if c.get("softmax"):
        sm = c["softmax"]
        lines.append(f"- log_z (softmax normaliser over the layer's {sm['units']} units): {fmt(sm['log_z'])}")
    if c.get("layernorm"):
        lines += [f"- LayerNorm {k}: {fmt(v)}" for k, v in c["layernorm"].items()]
    if c.get("offset"):
        lines.append(f"- offset (added after the nonlinearity): {fmt(c['offset'])}")
    return lines


def render_history(history: Sequence[tuple[Round, Reveal]]) -> str:
    lines = ["Earlier rounds on this unit (example → true activation):"]
    for rnd, reveal in history:
        lines.append(f"- example (your guess {fmt(reveal.guess)}, true activation {fmt(reveal.actual)}):")
        lines.append(render_example(rnd.example.to_dict()))
    return "\n".join(lines)


def render_round(round: Round) -> str:
    d = round.to_dict()
    return (
        f"Level {d['level']}.\n{render_hints(d['hints'])}\n\n"
        f"Example to guess:\n{render_example(d['example'])}\n\n"
        "What is the unit's activation on this example? Reply with one number."
    )


def render_prompt(round: Round, history: Sequence[tuple[Round, Reveal]] = ()) -> list[dict[str, str]]:
    """Chat messages (system + user) for ``round``; ``history`` = earlier rounds with their reveals."""
    user = render_round(round)
    if history:
        user = f"{render_history(history)}\n\n{user}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
