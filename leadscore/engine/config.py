"""configs/engine.yaml as a typed model: which engine, which cluster, how many partitions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from features.config import FrozenConfig


class EngineConfig(FrozenConfig):
    engine: Literal["local", "dask"] = "local"
    scheduler: str | None = Field(None, min_length=1, description="a Dask scheduler address")
    workers: int = Field(2, ge=1, le=256)
    threads_per_worker: int = Field(1, ge=1, le=64)
    memory_limit: str = "auto"
    partitions: int = Field(8, ge=1, le=100_000)
