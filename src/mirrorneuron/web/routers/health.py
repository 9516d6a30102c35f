"""``/api/health``: the bare endpoint (no cookie, no database) that benchmarks compare against."""

from __future__ import annotations

from fastapi import APIRouter

from mirrorneuron.web.schemas.models import Health

router = APIRouter(tags=["health"])


@router.get("/api/health", response_model=Health)
async def health() -> Health:
    return Health(status="ok")
