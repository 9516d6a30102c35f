"""Explanation scoring for the web: saved at once as "scoring", simulated after the response (it takes one LLM
call per example), then "scored" (or "failed", with the error) — clients poll the GET."""

from __future__ import annotations

import os
from typing import Any

from mirrorneuron.gameplay.explanations import Inputs, compare, store_comparison
from mirrorneuron.players.simulator_backends import ENV_BACKEND, SimulatorBackend, make_backend
from mirrorneuron.store import explanations as store
from mirrorneuron.types import UserError
from mirrorneuron.web.db import Db
from mirrorneuron.web.schemas.explanations import ExplanationOut, MetricsOut

METRICS = ("n", "correlation", "r2", "abs_dev_explained", "mean_round_score")


def web_backend() -> SimulatorBackend:
    """The server's simulator (``$MIRRORNEURON_EXPLAIN_BACKEND``: openai, the default, or local)."""
    return make_backend(os.environ.get(ENV_BACKEND, "") or "openai")


def score_later(db: Db, explanation_id: int, inputs: Inputs, text: str, backend: SimulatorBackend, llm: bool) -> None:
    """The background task: simulate, then store the scores (or the error) on the row."""
    try:
        result = compare(inputs, text, backend, llm)
    except Exception as e:  # any failure is recorded: the row must not stay "scoring"
        error = str(e) if isinstance(e, UserError | ValueError) else f"scoring failed: {type(e).__name__}: {e}"
        db.call_write(store.set_scores, explanation_id, {"error": error, "backend": backend.name})
        return
    db.call_write(store_comparison, result, explanation_id)


def _metrics(d: dict[str, Any] | None) -> MetricsOut | None:
    return None if d is None else MetricsOut(**{k: d[k] for k in METRICS})


def explanation_out(row: dict[str, Any]) -> ExplanationOut:
    """The public view of a stored explanation: metrics only (no per-example values)."""
    sc = row["scores"]
    base = {k: row[k] for k in ("id", "unit_id", "author", "text", "created_at")}
    if sc is None:
        return ExplanationOut(**base, status="scoring")
    if "error" in sc:
        return ExplanationOut(**base, status="failed", error=sc["error"], backend=sc.get("backend"))
    llm = sc.get("llm")
    return ExplanationOut(
        **base,
        status="scored",
        backend=sc["backend"],
        n=sc["n"],
        player=_metrics(sc.get("player")),
        simulation=_metrics(sc["simulation"]),
        llm_text=None if llm is None else llm["text"],
        llm=_metrics(llm),
    )
