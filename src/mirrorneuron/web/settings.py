"""Settings of the web app (``MIRRORNEURON_*`` environment variables): database, cookie secret, rate limit."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from mirrorneuron.config import settings

SECRET_ENV = "MIRRORNEURON_SECRET_KEY"


class WebSettings(BaseSettings):
    """``database_url`` None → the store's default (SQLite in the home); ``secret_key`` None → a key file
    created once in the home. Every field can be set as ``MIRRORNEURON_<FIELD>`` (e.g. ``_GUESS_RATE``)."""

    model_config = SettingsConfigDict(env_prefix="MIRRORNEURON_", frozen=True, extra="ignore")

    database_url: str | None = None
    secret_key: str | None = None
    guess_rate: float = 20.0  # guesses per second per player (token bucket refill)
    guess_burst: float = 20.0  # bucket size
    cookie_secure: bool = False  # set the Secure flag (serve behind HTTPS)
    max_cached_units: int = 64
    bot_rounds: int = 20  # rounds the bots play on a unit page
    progression: bool = True  # refuse casual games at levels / unit families the player has not unlocked (store.progress)


def load_secret(home: Path | None = None) -> str:
    """The cookie-signing secret: the environment variable, else ``$HOME/secret_key`` (made once, mode 600).

    Creating the file is race-safe (O_EXCL), so several workers starting at once agree on one key."""
    env = os.environ.get(SECRET_ENV, "").strip()
    if env:
        return env
    path = (home or settings().home) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it right now
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty; delete it and restart") from None
    with os.fdopen(fd, "w") as f:
        key = secrets.token_urlsafe(32)
        f.write(key)
    return key
