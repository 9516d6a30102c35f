"""The command line's game paths: the terminal game and ``bots run``. Every play is stored in the gameplay
store (like the web game's), and rounds skip what the terminal player was shown before.

Imports are inside the functions: ``play`` starts the model's harvest on a thread first, and the store's
imports and migrations run meanwhile (issue 14's first start, docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from mirrorneuron.console import progress_bar
from mirrorneuron.types import UnitRef, UserError

if TYPE_CHECKING:
    from rich.console import Console

    from mirrorneuron.game import Round
    from mirrorneuron.models.adapter import TorchAdapter
    from mirrorneuron.units import HarvestedUnit


def random_seed() -> int:
    return secrets.randbelow(2**31)


def open_ahead(model: str, unit: str | None, seed: int | None) -> Callable[[], HarvestedUnit]:
    """Start opening the unit (the model, the first run's harvest) on a thread, under the progress bar; the
    call returned waits for it, ends the bar and re-raises the thread's error. Meanwhile the caller can
    open the gameplay store: its imports and migrations overlap the harvest's forward passes."""
    from mirrorneuron.units import open_unit

    bar = progress_bar(f"preparing {model} (first run harvests the corpus)")
    p = bar.__enter__()
    got: list[HarvestedUnit | BaseException] = []

    def work() -> None:
        try:
            got.append(open_unit(model, unit, seed, progress=lambda d, n: p.update(p.task_ids[0], completed=d, total=n)))
        except BaseException as e:  # handed to the waiting caller
            got.append(e)

    # A daemon: Ctrl-C ends the process at once, as before (a harvest killed mid-way resumes next time).
    thread = threading.Thread(target=work, name="open-unit", daemon=True)
    thread.start()

    def wait() -> HarvestedUnit:
        try:
            thread.join()
        finally:
            bar.__exit__(None, None, None)
        if isinstance(got[0], BaseException):
            raise got[0]
        return got[0]

    return wait


def harvest_ahead(adapter: TorchAdapter, unit: str | None) -> None:
    """The browser game's first harvest, on a daemon thread while the server starts, when the unit asked for
    (or a random one) is a neuron: the first game waits for it (``harvest.run.folder_lock``) instead of
    starting its own. Errors (a bad ``--unit`` too) are the web game's to report, as before."""
    with contextlib.suppress(UserError):
        if unit and UnitRef.parse(unit, adapter.name).kind != "neuron":
            return  # probes, SAE features, directions: another harvest, made by the game
    from mirrorneuron.units import ensure_harvest
    from mirrorneuron.units.data import default_harvest_dir

    target = default_harvest_dir(adapter.name)  # the home is read now, not whenever the thread gets to it

    def work() -> None:
        with contextlib.suppress(Exception):
            ensure_harvest(adapter, target)

    threading.Thread(target=work, name="harvest-ahead", daemon=True).start()


def play_in_terminal(
    console: Console, unit: Callable[[], HarvestedUnit], level: int, rounds: int, seed: int, feedback: bool
) -> None:
    """One stored terminal game: each guess is committed before its reveal, then the bots replay the rounds.
    ``unit()`` gives the unit once the store is open (see :func:`open_ahead`)."""
    from rich.text import Text

    from mirrorneuron.game import SamplingPlan, truth_from
    from mirrorneuron.gameplay import play_bots, prepare_game, seen_examples, store_bot_plays, store_game
    from mirrorneuron.gameplay.local import local_store, terminal_player
    from mirrorneuron.players import OFFLINE_BOT_NAMES
    from mirrorneuron.players.render import shaded_window, summary_table
    from mirrorneuron.players.terminal import play_terminal
    from mirrorneuron.store import repo
    from mirrorneuron.store.history import shown_rounds

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
    from mirrorneuron.game import Level, SamplingPlan, make_rounds
    from mirrorneuron.gameplay import play_bots, store_bot_game
    from mirrorneuron.gameplay.local import local_store
    from mirrorneuron.players.render import summary_table

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
