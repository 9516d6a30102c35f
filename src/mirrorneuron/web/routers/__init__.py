"""One router per resource."""

from fastapi import APIRouter

from mirrorneuron.web.routers import (
    analysis,
    custom,
    daily,
    explanations,
    games,
    health,
    home,
    leaderboard,
    models,
    players,
    rounds,
    share,
    studies,
    tutorial,
    units,
)

ROUTERS: list[APIRouter] = [
    health.router,
    home.router,
    models.router,
    games.router,
    rounds.router,
    explanations.router,  # before units: /api/units/{unit_id:path} would swallow …/explanations
    units.router,
    custom.router,
    leaderboard.router,
    players.router,
    studies.router,
    daily.router,
    share.router,
    tutorial.router,
    analysis.router,
]
