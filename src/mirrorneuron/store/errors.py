"""Store errors. Each carries the HTTP status a web layer should answer with."""

from __future__ import annotations


class StoreError(Exception):
    """Base class for errors a caller is expected to turn into a 4xx answer."""

    status_code = 400


class NotFound(StoreError):
    """The row asked for does not exist (HTTP 404)."""

    status_code = 404


class Forbidden(StoreError):
    """The caller may not do this: missing/wrong round token, or another player's round (HTTP 403)."""

    status_code = 403


class AlreadyGuessed(StoreError):
    """This player already guessed this round (HTTP 409). Holds under races (UNIQUE constraint)."""

    status_code = 409
