"""One router per resource."""

from fastapi import APIRouter

from mirrorneuron.web.routers import analysis as analysis_pages
from mirrorneuron.web.routers import custom, games, health, home, leaderboard, models, players, rounds, studies, units

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
    analysis_pages.router,
]
