"""Per-batch statistics overlapped with the next forward (issue 14).

The harvest's forward and its statistics take about as long as each other on small models; torch and numpy
release the GIL in their kernels, so a second thread can update the statistics of batch ``i`` while the
caller runs the forward of batch ``i + 1``. One worker, one pending batch at most (memory stays at two batches
of activations), applied in submission order: the results are the same as running them in line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from types import TracebackType

import torch


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the per-batch statistics on one torch thread: they are many small ops on a [tokens, units] batch,
    and on a busy machine OpenMP's spinning second thread made them up to 10x slower (docs/benchmarks.md,
    issue 14); the forward keeps every thread."""
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


class StatsPipeline:
    """``submit(fn)`` runs ``fn`` (one batch's statistics) on a background thread with one torch thread, after
    the previous one finished; ``drain()`` waits for it (and re-raises its error). ``threaded=False`` runs each
    ``fn`` in line, on one torch thread (the same results; for measuring and for one-core machines)."""

    def __init__(self, threaded: bool = True) -> None:
        self._threads = torch.get_num_threads()
        self._pool = ThreadPoolExecutor(1, initializer=torch.set_num_threads, initargs=(1,)) if threaded else None
        self._pending: Future[None] | None = None

    def submit(self, fn: Callable[[], None]) -> None:
        if self._pool is None:
            with one_torch_thread():
                fn()
            return
        self.drain()
        self._pending = self._pool.submit(fn)

    def drain(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> StatsPipeline:
        return self

    def __exit__(self, exc: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if exc is None:
                self.drain()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                torch.set_num_threads(self._threads)  # the worker's set_num_threads(1) also set torch's default
