"""The browser game: FastAPI app factory, routers per resource, Jinja2 templates and plain-JS static files."""

from mirrorneuron.web.app import create_app

__all__ = ["create_app"]
