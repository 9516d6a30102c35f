"""The terminal game: a human Player that reads guesses from the keyboard, plus the session around it."""

from __future__ import annotations

import math
from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from mirrorneuron.game import Level, Reveal, Round, RoundSet, run_session
from mirrorneuron.game.session import SessionResult, StopSession, round_points
from mirrorneuron.players.render import round_view, sparkline

RevealView = Callable[[Round], RenderableType | None]


def parse_guess(text: str) -> float | None:
    """A finite number, or None (empty, not a number, inf, NaN)."""
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class TerminalPlayer:
    """A person at a terminal. Ctrl-C or Ctrl-D (or typing q) ends the session; what was played is kept."""

    def __init__(self, console: Console, total: int, reveal_view: RevealView | None = None, name: str = "you") -> None:
        self.name, self.console, self.total, self.reveal_view = name, console, total, reveal_view
        self.number, self.points, self.max_points, self.scores = 0, 0.0, 0.0, []  # type: ignore[var-annotated]

    def guess(self, round: Round) -> float:
        self.number += 1
        self.console.rule()
        self.console.print(round_view(round, self.number, self.total))
        while True:
            try:
                text = self.console.input("[bold]your guess[/] (number, q to quit): ")
            except EOFError:
                raise StopSession from None
            if text.strip().lower() in {"q", "quit", "exit"}:
                raise StopSession
            value = parse_guess(text)
            if value is not None:
                return value
            self.console.print("[red]please type a finite number, e.g. 0.5 or -1.2[/]")

    def observe(self, round: Round, reveal: Reveal) -> None:
        points = round_points(round, reveal.guess, reveal.actual)
        best = round_points(round, reveal.actual, reveal.actual)
        self.points += points
        self.max_points += best
        self.scores.append(reveal.score)
        colour = "green" if reveal.score >= 80 else "yellow" if reveal.score >= 50 else "red"
        msg = Text.from_markup(
            f"truth [bold]{reveal.actual:+.3f}[/]   your guess {reveal.guess:+.3f}   "
            f"closeness [{colour}]{reveal.score:.0f}[/]/100 · insight +{points:.0f} of {best:.0f} pts   "
            f"total {self.points:.0f} of max {self.max_points:.0f} pts   {sparkline(self.scores)}"
        )
        extra = self.reveal_view(round) if self.reveal_view else None
        self.console.print(Panel(msg if extra is None else Group(msg, extra), title="reveal", title_align="left"))


def play_terminal(
    console: Console,
    rounds: RoundSet,
    truth: Callable[[Round], float],
    reveal_view: RevealView | None = None,
    feedback: bool = True,
    on_guess: Callable[[Round, float, float], None] | None = None,
) -> SessionResult:
    """Play the rounds at the terminal (``on_guess`` stores each guess before its reveal); the caller lets the
    bots play the same rounds and prints the summary."""
    human = TerminalPlayer(console, len(rounds.rounds), reveal_view if feedback else None)
    console.print(
        Panel(
            Text(
                f"Imitate {rounds.unit_id}\n{Level(rounds.level).description}\n"
                "Type your guess of the unit's activation on the highlighted token (or image)."
            ),
            title="mirrorneuron",
            title_align="left",
        )
    )
    result = run_session(human, rounds.rounds, truth, feedback=feedback, on_guess=on_guess)
    if result.interrupted:
        console.print(f"[yellow]session ended after {len(result.results)} round(s); results kept[/]")
    return result
