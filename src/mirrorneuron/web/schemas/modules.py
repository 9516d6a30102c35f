"""The module view's JSON (``GET /api/modules/{model}``) and the campaign's."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    """Closed schemas (no extra fields in or out), as the OpenAPI strictness test requires."""

    model_config = ConfigDict(extra="forbid")


class SpliceOut(_Strict):
    """One splice result (``buildout.splice.SpliceResult.to_json``)."""

    units: list[str]
    ablation: str
    clean: dict[str, float]
    ablated: dict[str, float]
    spliced: dict[str, float]
    loss_recovered: float | None
    accuracy_kept: float | None
    reasons: dict[str, str]


class CurvePoint(SpliceOut):
    n_units: int
    unit: str


class BaselineRow(SpliceOut):
    candidate: str


class ImitatedOut(_Strict):
    player: str
    player_id: str
    version: int
    written: str
    correlation: float | None = Field(description="held-out correlation stored with the imitation")


class UnitRowOut(_Strict):
    id: str
    site: str
    index: int
    module: int
    imitated_by: list[ImitatedOut] = Field(description="each player's latest imitation, best first")
    used: ImitatedOut | None = Field(description="the imitation spliced into the curve")


class EdgeOut(_Strict):
    source: str
    target: str
    weight: float


class CandidateOut(_Strict):
    unit_id: str
    link: float
    loss_gain: float = Field(description="loss (nats) a perfect imitation wins back over ablating the unit")


class SuggestionOut(_Strict):
    unit_id: str | None
    loss_gain: float | None = None
    ablation: str | None = None
    reason: str
    candidates: list[CandidateOut]


class ModuleViewOut(_Strict):
    model: str
    set: str = Field(description="'site S' or 'module K'")
    slice: str
    ablation: str
    order: str
    sites: list[str]
    k: int = Field(description="how many modules the model's units were grouped into")
    units: list[UnitRowOut]
    edges: list[EdgeOut]
    curve: list[CurvePoint] = Field(description="recovery_curve rows: n_units, unit, loss_recovered, …")
    baselines: list[BaselineRow] = Field(description="zero / mean / ridge on the imitated units")
    suggestion: SuggestionOut
    problems: list[str]


class CampaignOut(_Strict):
    view: ModuleViewOut
    imitated: int = Field(description="units of the set you imitated")
    total: int
    play_url: str | None = Field(description="POST here to start a game on the suggested unit")
    imitate_url: str | None


class CampaignIn(_Strict):
    site: str | None = Field(None, max_length=200)
    module: int | None = Field(None, ge=0, le=1000)
    k: int | None = Field(None, ge=2, le=64)


class CampaignStartOut(_Strict):
    game_id: str
    unit_id: str
    play_url: str
    imitate_url: str
