"""The command line's game paths: the terminal game and ``bots run``. Every play is stored in the gameplay
store (like the web game's), and rounds skip what the terminal player was shown before."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.text import Text

from mirrorneuron.game import Level, Round, SamplingPlan, make_rounds, truth_from
from mirrorneuron.gameplay import play_bots, prepare_game, seen_examples, store_bot_game, store_bot_plays, store_game
from mirrorneuron.gameplay.local import local_store, terminal_player
from mirrorneuron.players import OFFLINE_BOT_NAMES
from mirrorneuron.players.render import shaded_window, summary_table
from mirrorneuron.players.terminal import play_terminal
from mirrorneuron.store import repo
from mirrorneuron.store.history import shown_rounds
from mirrorneuron.types import UserError
from mirrorneuron.units import HarvestedUnit


def play_in_terminal(
    console: Console, unit: Callable[[], HarvestedUnit], level: int, rounds: int, seed: int, feedback: bool
) -> None:
    """One stored terminal game: each guess is committed before its reveal, then the bots replay the rounds.
    ``unit()`` gives the unit once the store is open (``cli._open_ahead`` opens it meanwhile, on a thread)."""
    with local_store() as s:
        ctx = unit()
        pid = terminal_player(s)
        seen = seen_examples(ctx, shown_rounds(s, pid, ctx.ref.model), level)
        try:
            game = prepare_game(ctx, level, rounds, SamplingPlan(seed=seed), seen)
        except ValueError as e:
            raise UserError(str(e)) from None
        game_id = store_game(s, pid, game, feedback, client="terminal")
        s.commit()
        stored = {r.seq: r for r, _ in repo.game_results(s, game_id)}

        def save(r: Round, value: float, seconds: float) -> None:
            row = stored[r.seq]
            repo.submit_guess(s, pid, row.id, row.token, value, seconds)

        def reveal_view(r: Round) -> Text | None:
            if ctx.modality != "text":
                return None
            tokens, acts = ctx.window_activations(r.index)
            return shaded_window(tokens, acts, ctx.harvest.example_location(r.index)[1])

        you = play_terminal(console, game.rounds, truth_from(ctx), reveal_view, feedback, on_guess=save)
        played = [r.round for r in you.results]
        if not played:
            return
        bots = play_bots(ctx, game.rounds, OFFLINE_BOT_NAMES, played)
        store_bot_plays(s, {seq: r.id for seq, r in stored.items()}, bots)
        console.print(summary_table({you.player: you, **{n: res for n, (_, res) in bots.items()}}))
        console.print(f"[dim]stored as game {game_id} (seed {seed})[/]", highlight=False)


def run_bots(
    console: Console, ctx: HarvestedUnit, names: list[str], level: int, rounds: int, seed: int, store: bool
) -> None:
    """Bots play ``rounds`` held-out rounds of the unit; each bot's game is stored unless ``store`` is off."""
    try:
        rs = make_rounds(ctx, level, rounds, SamplingPlan(seed=seed))
    except ValueError as e:
        raise UserError(str(e)) from None
    plays = play_bots(ctx, rs, names)
    console.print(f"unit [bold]{ctx.unit_id}[/] · level {Level(rs.level)} · {len(rs.rounds)} rounds · seed {seed}")
    console.print(summary_table({n: res for n, (_, res) in plays.items()}))
    if store:
        with local_store() as s:
            ids = [store_bot_game(s, ctx, rs, bot, res) for bot, res in plays.values()]
        console.print(f"[dim]stored {len(ids)} bot game(s); --no-store to skip[/]", highlight=False)
