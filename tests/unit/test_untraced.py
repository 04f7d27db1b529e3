"""The scoring paths make no OpenTelemetry spans: BentoML's exclusion list, built from the
guard's paths, must name exactly the paths the guard protects (serving/service.py UNTRACED)."""

from __future__ import annotations

import pytest
from opentelemetry.util.http import ExcludeList

from serving.config import ServeConfig
from serving.guard import Guard, url_patterns
from serving.stored import STORED_PATHS

API_PATHS = ("/score", "/score_batch", *STORED_PATHS)
PATHS = [
    "/score",
    "/score_batch",
    "/events",
    "/leads/L1/score",
    "/leads/L1/decisions",
    "/score/",
    "/scores",
    "/score_batch2",
    "/events/x",
    "/leads",
    "/livez",
    "/readyz",
    "/metrics",
    "/docs.json",
    "/pages/monitor",
    "/pages/score",
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("host", ["127.0.0.1:3000", "scoring.example.com"])
def test_untraced_urls_are_the_guarded_paths(path: str, host: str) -> None:
    guard = Guard(
        None,
        api_paths=API_PATHS,
        limits=ServeConfig(),
        readiness=lambda: (200, {}),
        on_refusal=lambda refusal: None,
    )
    excluded = ExcludeList(url_patterns(API_PATHS))
    assert excluded.url_disabled(f"http://{host}{path}") == guard._guards(path)
