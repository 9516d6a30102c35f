"""Rich renderables for rounds, hints, reveals and summaries (the terminal game's look)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from mirrorneuron.game import Contributions, Example, Hints, ImageExample, Level, Round, TextExample
from mirrorneuron.game.session import SessionResult

SHADES = " ░▒▓█"
SPARKS = "▁▂▃▄▅▆▇█"


def _clean(token: str) -> str:
    return token.replace("\n", "⏎").replace("\t", "⇥")


def example_text(ex: TextExample, around: int | None = None) -> Text:
    """The token window with the target token highlighted (optionally only ``around`` tokens each side)."""
    lo = 0 if around is None else max(0, ex.target - around)
    hi = len(ex.tokens) if around is None else min(len(ex.tokens), ex.target + around + 1)
    out = Text()
    for i in range(lo, hi):
        tok = _clean(ex.tokens[i])
        if i == ex.target:
            out.append(tok, style="bold black on yellow")
        else:
            out.append(tok, style="dim" if i > ex.target else "")
    return out


def image_text(px: np.ndarray) -> Text:
    rows = ["".join(SHADES[min(4, int(v * 4.999))] * 2 for v in row) for row in px]
    return Text("\n".join(rows))


def render_example(ex: Example, around: int | None = None) -> Text:
    return example_text(ex, around) if isinstance(ex, TextExample) else image_text(ex.pixels)


def shaded_window(tokens: Sequence[str], acts: np.ndarray, target: int) -> Text:
    """After a reveal: every token of the window shaded by this unit's activation on it."""
    top = float(np.abs(acts).max()) or 1.0
    out = Text()
    for i, (tok, a) in enumerate(zip(tokens, acts, strict=True)):
        level = int(min(1.0, abs(float(a)) / top) * 200)
        colour = f"rgb(0,{55 + level},0)" if a >= 0 else f"rgb({55 + level},0,0)"
        out.append(_clean(tok), style=f"on {colour}" + (" bold underline" if i == target else ""))
    return out


def contributions_table(c: Contributions, k: int = 8) -> Table:
    """Level 3 as a table: each part's largest terms (the rest lumped), its bias and sum, then what the formula
    needs beyond the terms (SoLU's normaliser, the LayerNorm, an offset); the title says how they combine."""
    label = "level 3" if c.exact else "level 3 · approximate"
    t = Table("input", "weight × input", title=f"{label}: {c.formula()}", title_justify="left")
    small = c.compact(k)
    gate = "gate" if c.up is not None else "pre"
    parts = [(gate, small.terms, c.bias, c.preactivation)]
    if small.up is not None and c.up is not None:
        parts.append(("up", small.up.terms, c.up.bias, c.up.total))
    for name, terms, bias, total in parts:
        for lab, v in terms:
            t.add_row(f"{name}: {lab}" if c.up is not None else lab, f"{v:+.4g}")
        t.add_row(f"{name} bias" if c.up is not None else "bias", f"{bias:+.4g}", style="italic")
        t.add_row(f"{name} = Σ + bias", f"{total:+.4g}", style="bold")
        t.add_section()
    extras = _formula_parts(c)
    for lab, v in extras:
        t.add_row(lab, f"{v:+.4g}", style="cyan")
    return t


def _formula_parts(c: Contributions) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    if c.softmax is not None:
        out.append((f"log_z (softmax normaliser over {c.softmax.units} units)", c.softmax.log_z))
    if c.layernorm is not None:
        ln = c.layernorm
        out += [("LayerNorm mean", ln.mean), ("LayerNorm std", ln.std), ("LayerNorm gain", ln.gain)]
        out.append(("LayerNorm bias", ln.bias))
    if c.offset:
        out.append(("offset (after the nonlinearity)", c.offset))
    return out


def hints_view(h: Hints) -> RenderableType:
    s = h.stats
    qs = "  ".join(f"{n} {v:+.2f}" for n, v in s.quantiles)
    parts: list[RenderableType] = [
        Text(f"unit {h.unit_id}   range [{s.min:+.2f}, {s.max:+.2f}]   mean {s.mean:+.2f}\n{qs}", style="cyan")
    ]
    if h.level >= Level.EXAMPLES and h.references:
        t = Table(
            "value", "reference example", title="level 1: reference examples", title_justify="left", show_lines=False
        )
        for r in h.references:
            t.add_row(
                f"{r.value:+.2f}",
                render_example(r.example, around=8) if isinstance(r.example, TextExample) else "(image)",
            )
        parts.append(t)
        imgs = [r for r in h.references if isinstance(r.example, ImageExample)][:6]
        if imgs:
            grid = Table.grid(padding=(0, 2))
            grid.add_row(*(image_text(r.example.pixels) for r in imgs if isinstance(r.example, ImageExample)))
            grid.add_row(*(Text(f"{r.value:+.2f}") for r in imgs))
            parts.append(grid)
    if h.level >= Level.NEIGHBOURS and h.neighbours:
        t = Table("group", "unit / probe", "value on this example", title="level 2: neighbours", title_justify="left")
        for n in h.neighbours:
            t.add_row(n.group, n.label, f"{n.value:+.3f}")
        parts.append(t)
    if h.level >= Level.WEIGHTS and h.contributions is not None:
        parts.append(contributions_table(h.contributions))
    return Group(*parts)


def round_view(r: Round, number: int, total: int) -> RenderableType:
    title = Text(
        f"Round {number}/{total} · level {int(r.level)} ({r.level.name.lower()}) · ×{r.level.multiplier}", style="bold"
    )
    return Group(title, hints_view(r.hints), Text(""), render_example(r.example), Text(""))


def sparkline(values: Sequence[float] | np.ndarray, lo: float = 0.0, hi: float = 100.0) -> str:
    return "".join(SPARKS[min(7, max(0, int((v - lo) / (hi - lo + 1e-12) * 8)))] for v in values)


def summary_table(results: dict[str, SessionResult]) -> Table:
    """r = pooled Pearson, ADE = absolute deviation explained, r(w) = re-weighted to the natural distribution."""
    t = Table(
        "player",
        "n",
        "closeness",
        "points (of max)",
        "r",
        "R²",
        "ADE",
        "r(w)",
        "curve",
        title="How everyone did on these rounds",
        title_justify="left",
        caption="closeness: mean round score /100; points: insight beyond the unit mean × level\n"
        "* correlation undefined (constant guesses); r(w): re-weighted to the corpus",
        caption_justify="left",
    )
    for name, res in results.items():
        s = res.summary
        flag = "*" if s.correlation_flag else ""
        wr = "—" if s.weighted_correlation is None else f"{s.weighted_correlation:+.2f}"
        t.add_row(
            name,
            str(s.n),
            f"{s.mean_round_score or 0:.1f}",
            f"{res.total_points:.0f} of {res.max_points:.0f}",
            f"{s.correlation:+.2f}{flag}",
            f"{s.r2:+.2f}",
            f"{s.abs_dev_explained:+.2f}",
            wr,
            sparkline(res.scores[-12:]),
        )
    return t
