"""The pages' parts that need no server (tests/integration/test_pages.py drives the rest in a
browser): the list's parameters, the session cookie, where a login may send the browser, and
the store queries on a small hand-made store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.datastructures import QueryParams

from features.store.lead_store import LeadStore
from features.store.records import Lead, to_us
from features.store.reports import Report, latest_report, save_report
from serving.errors import Rejected
from serving.pages import auth, queries
from serving.pages.app import _next
from serving.pages.params import list_query
from serving.pages.queries import ListQuery
from serving.pages.shell import login_page

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def test_the_list_s_defaults_and_each_bad_parameter_named() -> None:
    assert list_query(QueryParams("")) == ListQuery()
    view = list_query(QueryParams("route=recycled&sort=source&order=asc&page=3&per_page=20"))
    assert view == ListQuery("recycled", sort="source", descending=False, page=3, per_page=20)
    for query, field in (
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=١", "page"),  # a digit, but not an ASCII one
        ("per_page=501", "per_page"),
        ("route=hot", "route"),
        ("sort=price", "sort"),
        ("order=up", "order"),
        ("source=" + "s" * 201, "source"),
        ("page=1&page=2", "page"),
        ("x=1", "x"),
    ):
        refused = list_query(QueryParams(query))
        assert isinstance(refused, Rejected) and refused.status == 400, query
        assert refused.problems[0].field == field, query


def test_the_session_cookie_is_not_the_token_and_opens_only_with_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADSCORE_API_TOKEN", "s3cret")
    value = auth.session_value("s3cret")
    assert "s3cret" not in value and value != auth.session_value("other")
    header = auth.cookie_header("s3cret")
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/pages" in header
    assert auth.token_matches("s3cret") and not auth.token_matches("s3cre")


@pytest.mark.parametrize(
    ("asked", "went"),
    [
        ("/pages/tonight?route=all", "/pages/tonight?route=all"),
        ("https://evil.example/pages/", "/pages/funnel"),
        ("//evil.example/pages/x", "/pages/funnel"),
        ("/pages//evil.example", "/pages/funnel"),
        ("/pages/\\evil", "/pages/funnel"),
        (None, "/pages/funnel"),
    ],
)
def test_a_login_sends_the_browser_only_to_a_page_of_its_own(asked: str | None, went: str) -> None:
    assert _next(asked) == went


def test_the_login_form_comes_back_to_the_whole_address() -> None:
    form = login_page("/pages/tonight?route=all&sort=source", None)
    assert "action='/pages/login?next=/pages/tonight%3Froute%3Dall%26sort%3Dsource'" in form


def test_tonight_s_list_is_the_newest_rescore_and_marks_the_recycled(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    store = LeadStore(url)
    store.upgrade()
    for i, partner in enumerate(("P1", None, "P2")):
        store.put_lead(Lead(f"L{i}", NOW, "web", partner), "test", NOW)
    nights = {  # scored_at → (lead, score, route)
        1: [("L0", 10.0, "nurturing"), ("L1", 50.0, "active_sales"), ("L2", 5.0, "nurturing")],
        2: [("L0", 60.0, "active_sales"), ("L1", 40.0, "active_sales"), ("L2", 4.0, "nurturing")],
    }
    for night, rows in nights.items():
        store.record_decisions(_decisions(night, rows))
    answer = queries.tonight(store.engine, ListQuery(), value_of_sql=1000.0)
    assert [row["lead_id"] for row in answer["rows"]] == ["L0", "L1"]
    assert [row["recycled"] for row in answer["rows"]] == [True, False]
    assert answer["rows"][0]["expected_value_pln"] == 600  # 0.6 × 1000
    assert answer["run"]["by_route"] == {"active_sales": 2, "nurturing": 1}
    assert answer["run"]["recycled"] == 1 and answer["choices"]["partner_id"] == ["P1"]
    recycled = queries.tonight(store.engine, ListQuery("recycled"), 1000.0)
    assert [row["lead_id"] for row in recycled["rows"]] == ["L0"]
    by_lead = queries.tonight(store.engine, ListQuery("all", sort="lead_id", per_page=2), 1.0)
    assert [r["lead_id"] for r in by_lead["rows"]] == ["L2", "L1"] and by_lead["pages"] == 2
    rows = [row for chunk in queries.export(store.engine, ListQuery("all"), 1.0) for row in chunk]
    assert [row["lead_id"] for row in rows] == ["L0", "L1", "L2"]


def test_the_newest_report_of_a_kind_is_shown(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    store = LeadStore(url)
    store.upgrade()
    assert latest_report(store.engine, "funnel") is None
    for day, body in ((1, '{"n": 1}'), (2, '{"n": 2}')):
        save_report(url, Report("funnel", NOW.replace(day=day), NOW, body))
    save_report(url, Report("monitor", NOW.replace(day=3), NOW, "{}"))
    found = latest_report(store.engine, "funnel")
    assert found is not None and found.body == '{"n": 2}' and found.as_of == NOW


def _decisions(night: int, rows: list[tuple[str, float, str]]) -> dict[str, list[object]]:
    n = len(rows)
    return {
        "lead_id": [lead for lead, _, _ in rows],
        "scored_at": [to_us(NOW.replace(day=night))] * n,
        "as_of": [to_us(NOW)] * n,
        "conversion_version": [1] * n,
        "velocity_version": [1] * n,
        "feature_spec": ["abc"] * n,
        "probability": [score / 100 for _, score, _ in rows],
        "score": [score for _, score, _ in rows],
        "tier": ["A"] * n,
        "route": [route for _, _, route in rows],
        "route_reason": ["test"] * n,
        "holdout": [False] * n,
        "holdout_share": [0.0] * n,
        "reasons": [{"up": [], "down": []}] * n,
        "input_digest": ["d"] * n,
        "caller": ["rescore"] * n,
    }
