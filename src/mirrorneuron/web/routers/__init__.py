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
    imitations,
    leaderboard,
    models,
    modules,
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
    # before units: /units/{unit_id:path} and /api/units/{unit_id:path} would swallow these sub-paths
    explanations.router,
    imitations.router,
    units.router,
    custom.router,
    leaderboard.router,
    players.router,
    studies.router,
    daily.router,
    share.router,
    tutorial.router,
    analysis.router,
    modules.router,
]
