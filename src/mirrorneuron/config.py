"""One place for paths and defaults (pydantic settings read from MIRRORNEURON_* environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DATA = Path(__file__).parent / "data"
BUILTIN_ZOO = PACKAGE_DATA / "zoo"
BUILTIN_CORPORA = PACKAGE_DATA / "corpora"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MIRRORNEURON_")

    home: Path = Field(default=Path(".mirrorneuron"), description="where trained models and harvests live")
    default_text_model: str = "tiny-gelu"
    default_image_model: str = "digits-mlp"
    seed: int = 0

    @property
    def zoo_dir(self) -> Path:
        return self.home / "zoo"

    @property
    def harvest_dir(self) -> Path:
        return self.home / "harvests"


def settings() -> Settings:
    return Settings()
