"""One router per resource."""

from fastapi import APIRouter

from mirrorneuron.web.routers import custom, games, health, home, leaderboard, models, players, rounds, studies, units
from mirrorneuron.web.routers import tutorial as tutorial_routes

ROUTERS: list[APIRouter] = [
    health.router,
    home.router,
    models.router,
    games.router,
    rounds.router,
    units.router,
    custom.router,
    leaderboard.router,
    players.router,
    studies.router,
    tutorial_routes.router,
]
