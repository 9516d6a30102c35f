"""A player driving the web API through a TestClient: its id and CSRF token, and the store it plays into."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mirrorneuron.store.db import make_engine, session_factory


class ApiPlayer:
    def __init__(self, app: FastAPI, db_url: str) -> None:
        self.client = TestClient(app)
        me = self.client.get("/api/players/me").json()
        self.id, self.csrf = me["player_id"], me["csrf_token"]
        self.sessions = session_factory(make_engine(db_url))

    def post(self, url: str, body: Any = None) -> Any:
        return self.client.post(url, json=body, headers={"X-CSRF-Token": self.csrf})
