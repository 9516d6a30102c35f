"""Shared router pieces: error responses for OpenAPI and turning library errors into HTTP errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import HTTPException
from fastapi.responses import Response
from pydantic import BaseModel

from mirrorneuron.types import UserError
from mirrorneuron.web.schemas.common import Problem

T = TypeVar("T")
Responses = dict[int | str, dict[str, Any]]

R403: Responses = {403: {"model": Problem, "description": "not allowed: CSRF token, round token, or another player's data"}}
R403_LOCKED: Responses = {403: {"model": Problem, "description": "the unit is locked while an open study holds it"}}
R404: Responses = {404: {"model": Problem, "description": "not found"}}
R409: Responses = {409: {"model": Problem, "description": "conflict: already guessed, or not finished yet"}}
R429: Responses = {429: {"model": Problem, "description": "too many guesses: slow down"}}
R400: Responses = {400: {"model": Problem, "description": "bad input (e.g. unknown model or unit)"}}


def or_404(fn: Callable[[], T]) -> T:
    """Call ``fn``; a :class:`UserError` (unknown model, unit, site) becomes a 404 with its message."""
    try:
        return fn()
    except UserError as e:
        raise HTTPException(404, str(e)) from None


def or_422(fn: Callable[[], T]) -> T:
    """Call ``fn``; a UserError or ValueError (bad value in a valid shape) becomes a 422 with its message."""
    try:
        return fn()
    except (UserError, ValueError) as e:
        raise HTTPException(422, str(e)) from None


def fast_json(model: BaseModel, status_code: int = 200) -> Response:
    """Serialise an already validated response model directly (hot paths: FastAPI would validate it again).
    The route still declares ``response_model`` for OpenAPI."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
