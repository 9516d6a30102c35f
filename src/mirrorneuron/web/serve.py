"""Running the web game with uvicorn: migrate first (before any worker starts), then serve."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable

from mirrorneuron.types import UserError

APP = "mirrorneuron.web.app:create_app"


def prepare() -> None:
    """Everything workers must not race on: the schema migration and the cookie secret."""
    from mirrorneuron.store.db import make_engine, migrate
    from mirrorneuron.web.settings import load_secret

    engine = make_engine()
    try:
        migrate(engine)
    finally:
        engine.dispose()
    load_secret()


def check_port(host: str, port: int) -> None:
    if not 0 < port < 65536:
        raise UserError(f"--port must be between 1 and 65535, got {port}")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        except OSError as e:
            raise UserError(f"cannot listen on {host}:{port} ({e.strerror}); try another --port") from None


def browser_url(host: str, port: int, path: str = "/") -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}{path}"


def _when_up(url: str, callback: Callable[[], None], timeout: float = 120.0) -> None:
    """Call ``callback`` once ``url``'s health endpoint answers (from a daemon thread)."""

    def wait() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        callback()
                        return
            except OSError:
                time.sleep(0.1)

    threading.Thread(target=wait, name="mirrorneuron-ready", daemon=True).start()


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    on_ready: Callable[[], None] | None = None,
    log_level: str = "info",
) -> None:
    """Serve until interrupted. ``on_ready`` runs once the server answers (e.g. to open a browser)."""
    import uvicorn

    if workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    check_port(host, port)
    if workers > 1 and importlib.util.find_spec("uvloop") is None:
        # asyncio leaves Nagle on for the workers' shared socket: ≈ 40 ms per keep-alive response
        print("warning: several workers without uvloop are slow; pip install 'mirrorneuron[web]'", file=sys.stderr)
    prepare()
    if on_ready is not None:
        _when_up(browser_url(host, port, "/api/health"), on_ready)
    uvicorn.run(APP, factory=True, host=host, port=port, workers=workers, log_level=log_level, access_log=False)
