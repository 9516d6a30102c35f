"""Error answers: JSON ``{"detail": ...}`` for the API (a small HTML page for browsers), never a traceback."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mirrorneuron.store.errors import StoreError
from mirrorneuron.types import UserError


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def error_response(request: Request, status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    if wants_html(request) and status != 500:
        templates = request.app.state.mn.templates
        return templates.TemplateResponse(
            request, "error.html", {"status": status, "detail": detail}, status_code=status, headers=headers
        )
    body: dict[str, object] = {"detail": detail}
    if status == 422:
        body["errors"] = []
    return JSONResponse(body, status_code=status, headers=headers)


def _field(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form")]
    return ".".join(parts) or "request"


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
         "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{_field(tuple(e['loc']))}: {e['msg']}" for e in errors) or "invalid request"
    if wants_html(request):
        return error_response(request, 422, detail)
    return JSONResponse({"detail": detail, "errors": errors}, status_code=422)


BODY_NOT_DECODED = "There was an error parsing the body"  # FastAPI's 400 for a body it cannot decode (bad UTF-8)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == BODY_NOT_DECODED:  # the declared 422 of malformed JSON, not a 400
        return error_response(request, 422, "request: the body is not JSON text (UTF-8)")
    return error_response(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))


async def store_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreError)
    return error_response(request, exc.status_code, str(exc))


async def user_error(request: Request, exc: Exception) -> Response:
    return error_response(request, 400, str(exc))


async def internal_error(request: Request, exc: Exception) -> Response:
    """Starlette re-raises the exception after this answer is sent, so the server log keeps the traceback."""
    return JSONResponse({"detail": "internal error"}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(StoreError, store_error)
    app.add_exception_handler(UserError, user_error)
    app.add_exception_handler(Exception, internal_error)
