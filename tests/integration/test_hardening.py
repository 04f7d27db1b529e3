"""The audit's findings, each over HTTP against a real `leadscore serve` or through the CLI:
each answered 5xx, printed a traceback or let a caller undo a limit before it was fixed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import LEADSCORE, TOKEN, Server, Store, free_port, start_server

from serving.example import EXAMPLE_LEAD

HUGE = int("9" * 309)  # float(HUGE) overflows
PLACES = 2


def _lead(**changes: Any) -> dict[str, Any]:
    return {k: v for k, v in (EXAMPLE_LEAD | changes).items() if v is not ...}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/score", _lead(attributes={"company_size": HUGE}), "attributes.company_size"),
        ("/score", _lead(attributes={"shoe_size": -HUGE}), "attributes.shoe_size"),
        (
            "/score_batch",
            {"leads": [EXAMPLE_LEAD, _lead(attributes={"company_size": HUGE})]},
            "leads[1].attributes.company_size",
        ),
        (
            "/score",
            _lead(events=[{"ts": "2026-10-02T09:20:00Z", "event_type": "x", "value": HUGE}]),
            "events[0].value",
        ),
    ],
)
def test_a_300_digit_integer_is_a_400_naming_it(
    server: Server, path: str, body: dict[str, Any], field: str
) -> None:
    with server.client() as client:
        answer = client.post(path, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["fields"][0]["field"] == field


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        (
            [("Content-Type", "multipart/form-data"), ("Content-Type", "application/json")],
            "Content-Type",
        ),
        (
            [
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Content-Type", "application/json"),
            ],
            "Content-Type",
        ),
        (
            [("Content-Type", "application/json"), ("Content-Type", "application/json")],
            "Content-Type",
        ),
        (
            [("Authorization", f"Bearer {TOKEN}"), ("Authorization", f"Bearer {TOKEN}")],
            "Authorization",
        ),
    ],
)
def test_a_repeated_content_type_or_authorization_is_a_400_naming_it(
    server: Server, headers: list[tuple[str, str]], named: str
) -> None:
    sent = [("Authorization", f"Bearer {TOKEN}")] if named != "Authorization" else []
    for path, body in (("/score", EXAMPLE_LEAD), ("/score_batch", {"leads": [EXAMPLE_LEAD]})):
        answer = httpx.post(
            f"{server.url}{path}",
            content=httpx.Request("POST", "/", json=body).content,
            headers=httpx.Headers(sent + headers),
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["fields"] == [
            {"field": named, "message": "must be sent once, not repeated"}
        ]
    log = server.log_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


@pytest.fixture(scope="module")
def capped(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Every lead routed to active sales by its tier; two places a day."""
    running = start_server(
        store,
        tmp_path_factory.mktemp("capped"),
        serve={"workers": 1},
        routing={
            "tiers": [{"tier": "A", "min_score": 0, "route": "active_sales"}],
            "capacity": {"reps": 1, "leads_per_rep_per_day": PLACES, "window_days": 1},
        },
    )
    yield running
    running.stop()


def test_a_far_future_as_of_can_neither_take_nor_free_todays_places(capped: Server) -> None:
    def route(lead_id: str, **changes: Any) -> dict[str, Any]:
        answer = httpx.post(f"{capped.url}/score", json=_lead(lead_id=lead_id, **changes))
        assert answer.status_code == 200, answer.text
        return answer.json()

    today = [route(f"today-{i}", as_of=...) for i in range(PLACES + 1)]  # as of now
    assert [a["route"] for a in today] == ["active_sales"] * PLACES + ["nurturing"]
    assert today[-1]["route_reason"].startswith(f"capacity: all {PLACES} active-sales places")
    for as_of in ("2099-12-31T00:00:00Z", "2026-01-01T00:00:00Z"):
        elsewhen = route(f"far-{as_of}", created_at="2025-12-01T00:00:00Z", as_of=as_of)
        assert elsewhen["route"] == "active_sales"  # its tier's route, no place claimed
        assert "no capacity place claimed" in elsewhen["route_reason"]
    after = route("today-late", as_of=...)
    assert after["route"] == "nurturing"  # today is still full: nothing was freed
    assert route("today-0", as_of=...)["route"] == "active_sales"  # a holder keeps its place


def _cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LEADSCORE), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["serve", "--port", "99999"],
            "error: --port/--host: port: Input should be less than or equal to 65535",
        ),
        (
            ["simulate", "--out", "/proc/nope/x", "--months", "1"],
            "error: --out /proc/nope/x: cannot create the folder (No such file or directory)",
        ),
    ],
)
def test_bad_cli_arguments_are_one_line_and_exit_1(args: list[str], line: str) -> None:
    done = _cli(*args)
    assert done.returncode == 1
    assert done.stderr.strip() == line
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_api_token_is_refused_at_start_up(store: Store, tmp_path: Path, blank: str) -> None:
    env = os.environ | {"MLFLOW_TRACKING_URI": store.uri, "LEADSCORE_API_TOKEN": blank}
    done = _cli("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: LEADSCORE_API_TOKEN is set but empty: set it to a secret token, or unset it "
        "to serve without authentication"
    )
    assert "Traceback" not in done.stdout + done.stderr
