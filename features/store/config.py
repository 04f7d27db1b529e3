"""Where the lead store lives, as a typed setting (configs/store.yaml, LEADSCORE_STORE_URL)."""

from __future__ import annotations

from pydantic import Field

from features.config import FrozenConfig

STORE_URL_ENV = "LEADSCORE_STORE_URL"
DEFAULT_STORE_URL = "sqlite:///data/leadscore.db"


class StoreConfig(FrozenConfig):
    """The store's URL: the embedded SQLite file by default (created on first use), or
    `postgresql://user@host:5432/db` in production (`leadscore store init` creates the
    tables there)."""

    url: str = Field(DEFAULT_STORE_URL, min_length=1, description="SQLAlchemy URL of the store")
    record_stateless: bool = Field(
        True, description="/score and /score_batch keep their decisions in the store too"
    )
