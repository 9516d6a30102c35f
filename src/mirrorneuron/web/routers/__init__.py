"""One router per resource."""

from fastapi import APIRouter

from mirrorneuron.web.routers import (
    analysis,
    custom,
    daily,
    games,
    health,
    home,
    imitations,
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
    imitations.router,  # before units: /units/{id:path} would swallow …/imitate
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
