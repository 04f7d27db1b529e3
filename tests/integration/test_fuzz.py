"""Fuzzing the running service: no request, generated or hostile, gets a 5xx or a traceback.

- Schemathesis against the service's own OpenAPI document, valid and invalid bodies (its
  positive and negative modes) for both endpoints: one derandomized run, the same inputs every
  time, and one seeded random run whose seed is printed (LEADSCORE_FUZZ_SEED replays it).
- Hypothesis strategies for bodies no schema describes: 300-digit integers, deep nesting,
  duplicate keys, odd UTC offsets (+14:00, −23:59) and years at the edges, NaN and Infinity
  literals, bytes that are not UTF-8 — each spliced into an otherwise valid lead.
Requests carry the bearer token, so that they reach the decoder.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter

import httpx
import pytest
import requests
import schemathesis
from harness import Server
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from serving.example import EXAMPLE_LEAD

EXAMPLES = {"/score": 350, "/score_batch": 170}  # per generation mode, derandomized
RANDOM_EXAMPLES = 60  # per endpoint and mode, seeded
HOSTILE_EXAMPLES = 150  # per endpoint
MINIMUM = 1000
SEED = int(os.environ.get("LEADSCORE_FUZZ_SEED", random.SystemRandom().randrange(2**32)))


def _fuzz(
    server: Server,
    session: requests.Session,
    path: str,
    mode: GenerationMode,
    examples: int,
    random_seed: int | None = None,
) -> Counter[int]:
    """Send up to `examples` generated requests to POST `path` (derandomized unless a seed is
    given); their statuses."""
    operation = schemathesis.openapi.from_url(f"{server.url}/docs.json")[path]["POST"]
    headers = {"Authorization": f"Bearer {server.token}"}
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=random_seed is None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        response = case.call(base_url=server.url, session=session, headers=headers)
        statuses[response.status_code] += 1
        assert response.status_code < 500, (
            f"{response.status_code} (seed {random_seed}) for {case.as_curl_command()}:\n"
            f"{response.text}"
        )

    (seed(random_seed)(call) if random_seed is not None else call)()
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


def test_seeded_random_requests_never_get_a_server_error(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():
        print(f"\nfuzz seed {SEED} (replay: LEADSCORE_FUZZ_SEED={SEED})")
    with requests.Session() as session:
        for path in EXAMPLES:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz(server, session, path, mode, RANDOM_EXAMPLES, random_seed=SEED)
    assert "Traceback" not in server.log_text()


# ---- hostile bodies -------------------------------------------------------------------------

FIELDS = ["lead_id", "created_at", "source", "partner_id", "attributes", "as_of"]
huge_integers = st.integers(min_value=19, max_value=400).map(lambda n: "9" * n) | st.just(
    "-" + "9" * 309
)
deep = st.integers(min_value=1, max_value=20_000).flatmap(
    lambda n: st.sampled_from(["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n])
)
literals = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "nan", "1e-400"])
offsets = st.builds(
    lambda year, sign, hours, minutes: f'"{year:04}-06-01T12:00:00{sign}{hours:02}:{minutes:02}"',
    st.sampled_from([1, 1999, 2000, 2099, 2100, 9999]),
    st.sampled_from("+-"),
    st.sampled_from([0, 1, 13, 14, 23]),
    st.sampled_from([0, 30, 59]),
)
not_utf8 = st.binary(min_size=1, max_size=16).map(lambda raw: b'"' + raw + b'"')
fragments = st.one_of(
    huge_integers.map(str.encode),
    deep.map(str.encode),
    literals.map(str.encode),
    offsets.map(str.encode),
    not_utf8,
)


@st.composite
def hostile_leads(draw: st.DrawFn) -> bytes:
    """EXAMPLE_LEAD as JSON text with one value replaced by a hostile fragment, sometimes
    twice under the same key, sometimes inside an attribute or an event."""
    fragment = draw(fragments)
    where = draw(st.sampled_from([*FIELDS, "attribute", "event value", "event ts", "twice"]))
    lead = json.dumps(EXAMPLE_LEAD).encode()
    marker = b'"__hostile__"'
    if where == "attribute":
        lead = json.dumps(EXAMPLE_LEAD | {"attributes": {"x": "__hostile__"}}).encode()
    elif where in ("event value", "event ts"):
        key = "value" if where == "event value" else "ts"
        event = {"ts": "2026-10-02T09:20:00Z", "event_type": "email_open"} | {key: "__hostile__"}
        lead = json.dumps(EXAMPLE_LEAD | {"events": [event]}).encode()
    elif where == "twice":  # a duplicate key: the hostile value first, the valid one last
        return b'{"lead_id":' + fragment + b"," + lead[1:]
    else:
        lead = json.dumps(EXAMPLE_LEAD | {where: "__hostile__"}).encode()
    return lead.replace(marker, fragment)


@pytest.mark.parametrize("path", ["/score", "/score_batch"])
def test_hostile_bodies_get_a_4xx_naming_the_problem_never_a_5xx(server: Server, path: str) -> None:
    statuses: Counter[int] = Counter()
    with httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
        timeout=60,
    ) as client:

        @settings(max_examples=HOSTILE_EXAMPLES, deadline=None, database=None)
        @seed(SEED)
        @given(lead=hostile_leads())
        def call(lead: bytes) -> None:
            body = lead if path == "/score" else b'{"leads":[' + lead + b"]}"
            answer = client.post(path, content=body)
            statuses[answer.status_code] += 1
            assert answer.status_code in (200, 400), (SEED, answer.status_code, body[:300])
            if answer.status_code == 400:
                problem = answer.json()
                assert problem["fields"] and problem["error"].startswith(
                    problem["fields"][0]["field"]
                )

        call()
    assert statuses[400] > HOSTILE_EXAMPLES // 2, statuses
    log = server.log_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
