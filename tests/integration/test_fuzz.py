"""Schemathesis against the running service's own OpenAPI schema: no generated request gets a 5xx.

Valid and invalid bodies (schemathesis' positive and negative modes) for both endpoints, at
least 1,000 requests in all, sent with the bearer token so that they reach validation.
"""

from __future__ import annotations

from collections import Counter

import requests
import schemathesis
from harness import Server
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

EXAMPLES = {"/score": 350, "/score_batch": 170}  # per generation mode
MINIMUM = 1000


def _fuzz(
    server: Server, session: requests.Session, path: str, mode: GenerationMode, examples: int
) -> Counter[int]:
    """Send up to `examples` generated requests to POST `path`; their statuses."""
    operation = schemathesis.openapi.from_url(f"{server.url}/docs.json")[path]["POST"]
    headers = {"Authorization": f"Bearer {server.token}"}
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        response = case.call(base_url=server.url, session=session, headers=headers)
        statuses[response.status_code] += 1
        assert response.status_code < 500, (
            f"{response.status_code} for {case.as_curl_command()}:\n{response.text}"
        )

    call()
    return statuses


def test_generated_requests_never_get_a_server_error(server: Server) -> None:
    statuses: dict[tuple[str, GenerationMode], Counter[int]] = {}
    with requests.Session() as session:
        for path, examples in EXAMPLES.items():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                statuses[path, mode] = _fuzz(server, session, path, mode, examples)
    print({f"{path} {mode.value}": dict(s) for (path, mode), s in statuses.items()})
    assert sum(sum(s.values()) for s in statuses.values()) >= MINIMUM, statuses
    for path in EXAMPLES:
        assert statuses[path, GenerationMode.POSITIVE][200] > 0, statuses  # scoring was reached
    assert "Traceback" not in server.log_text()
