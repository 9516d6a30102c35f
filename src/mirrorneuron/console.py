"""The CLI's console helpers: the one progress bar every command uses (rich, on stderr so stdout stays parseable)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress(label: str = "[bold]{task.description}", *, info: bool = False, transient: bool = False) -> Progress:
    """A bar with done / total and the elapsed time; ``info``: also a ``{task.fields[info]}`` text column and
    the time remaining (tasks must then be added with ``info=…``)."""
    columns: list[ProgressColumn] = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    if info:
        columns.append(TextColumn("{task.fields[info]}"))
    columns.append(TimeElapsedColumn())
    if info:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=Console(stderr=True), transient=transient)


@contextmanager
def progress_bar(label: str) -> Iterator[Progress]:
    """One task's bar with an info column, started and ended with the block (a task of unknown total)."""
    with progress(info=True) as p:
        p.add_task(label, total=None, info="")
        yield p
