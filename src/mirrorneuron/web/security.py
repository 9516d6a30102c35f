"""Player cookie (signed, HttpOnly, SameSite=Lax) and CSRF tokens (the guess rate limit: ``web.ratelimit``)."""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

from itsdangerous import BadSignature, Signer

COOKIE = "mn_player"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
SKIP_PREFIXES = ("/static/", "/api/health")
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
NO_CSP_PATHS = ("/api/docs",)  # Swagger UI loads its scripts from a CDN

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]


class PlayerKeys:
    """Signs player ids for the cookie and derives each player's CSRF token from the same secret."""

    def __init__(self, secret: str) -> None:
        self._signer = Signer(secret, salt="mirrorneuron.player")
        self._csrf_key = hashlib.sha256(("csrf:" + secret).encode()).digest()
        self._derive_key = hashlib.sha256(("derive:" + secret).encode()).digest()
        # Parsing the Cookie header and checking the signature cost ≈ 28 µs a request; a header seen before
        # maps to the same player (the secret is fixed for the process). Bounded; forged headers map to None.
        self.player_of_header = functools.lru_cache(maxsize=8192)(self._player_of_header)

    def _player_of_header(self, header: bytes) -> str | None:
        raw = _cookie_value(header)
        return self.unsign(raw) if raw else None

    def digest(self, purpose: str, message: str) -> bytes:
        """HMAC-SHA256 of ``message`` for ``purpose`` (the daily unit's seed, share links) under the secret."""
        return hmac.new(self._derive_key, f"{purpose}:{message}".encode(), hashlib.sha256).digest()

    def sign(self, player_id: str) -> str:
        return self._signer.sign(player_id).decode()

    def unsign(self, cookie: str) -> str | None:
        try:
            return self._signer.unsign(cookie).decode()
        except BadSignature:
            return None

    def csrf_token(self, player_id: str) -> str:
        return hmac.new(self._csrf_key, player_id.encode(), hashlib.sha256).hexdigest()[:32]

    def csrf_ok(self, player_id: str | None, token: str | None) -> bool:
        return bool(player_id and token) and hmac.compare_digest(self.csrf_token(player_id or ""), token or "")


def _cookie_value(header: bytes) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header.decode("latin-1"))
    except Exception:  # a malformed Cookie header is treated as no cookie
        return None
    return jar[COOKIE].value if COOKIE in jar else None


class PlayerCookieMiddleware:
    """Puts the signed cookie's player id in ``request.state.player_id`` (None if absent or forged) and, when a
    handler made a new player (``request.state.new_player_id``), sets the cookie on the response. Also adds the
    security headers (CSP: scripts and styles only from this server; no framing)."""

    def __init__(self, app: ASGIApp, keys: PlayerKeys, secure: bool = False) -> None:
        self.app, self.keys, self.secure = app, keys, secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(SKIP_PREFIXES):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        cookies = (bytes(v) for k, v in scope.get("headers", ()) if k == b"cookie")
        state["player_id"] = next(filter(None, map(self.keys.player_of_header, cookies)), None)
        state["new_player_id"] = None

        csp = [] if scope["path"].startswith(NO_CSP_PATHS) else [(b"content-security-policy", CSP.encode())]

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *SECURITY_HEADERS, *csp]
                new_id = state.get("new_player_id")
                if new_id:
                    cookie = self.cookie_header(new_id, https=scope.get("scheme") == "https")
                    headers.append((b"set-cookie", cookie.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def cookie_header(self, player_id: str, https: bool = False) -> str:
        """Secure when configured or when the request came over HTTPS (uvicorn's proxy headers, on by default
        for a proxy on 127.0.0.1, turn ``X-Forwarded-Proto: https`` into the scheme)."""
        parts = [f"{COOKIE}={self.keys.sign(player_id)}", "Path=/", f"Max-Age={COOKIE_MAX_AGE}", "HttpOnly", "SameSite=Lax"]
        if self.secure or https:
            parts.append("Secure")
        return "; ".join(parts)

