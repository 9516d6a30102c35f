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
    t = Table("input", "weight × input", title=f"level 3: {c.nonlinearity}(Σ terms + bias)", title_justify="left")
    for label, v in c.compact(k).terms:
        t.add_row(label, f"{v:+.3f}")
    t.add_row("bias", f"{c.bias:+.3f}", style="italic")
    return t


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
        "score",
        "points",
        "r",
        "R²",
        "ADE",
        "r(w)",
        "curve",
        title="How everyone did on these rounds",
        title_justify="left",
        caption="* correlation undefined (constant guesses); r(w): re-weighted to the corpus",
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
            f"{res.total_points:.0f}",
            f"{s.correlation:+.2f}{flag}",
            f"{s.r2:+.2f}",
            f"{s.abs_dev_explained:+.2f}",
            wr,
            sparkline(res.scores[-12:]),
        )
    return t
