"""A request-body size limit (413 with a JSON ``detail``), checked on the declared length and on the bytes read."""

from __future__ import annotations

import json

from mirrorneuron.web.security import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1_000_000  # the largest legitimate body is a study config (200 kB)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send, 413 if declared.isdigit() else 400)
            return
        buffered: list[Message] = []
        size, more = 0, True
        while more:  # a chunked body has no declared length: count what arrives
            message = await receive()
            if message["type"] != "http.request":
                buffered.append(message)
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(send, 413)
                return
            buffered.append(message)
            more = message.get("more_body", False)

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, status: int) -> None:
        detail = f"request body larger than {self.max_bytes} bytes" if status == 413 else "bad Content-Length header"
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
