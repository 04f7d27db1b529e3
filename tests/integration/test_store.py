"""The lead store on both backends: the same tests against SQLite and a real PostgreSQL server
the tests start themselves (tests/postgres.py)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from conftest import new_database

from features.errors import LeadscoreError
from features.store.database import COPY_ROWS, HEAD, SQLITE_VARIABLES
from features.store.lead_store import LeadStore
from features.store.records import Event, Lead, UnknownLeads, to_us
from features.tables import load_data
from serving.decisions import rescore_decisions
from training.policy import HoldoutConfig

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> LeadStore:
    """A fresh store at the newest schema, on each backend (conftest.py)."""
    fresh = LeadStore(store_url)
    assert fresh.revision() == HEAD
    return fresh


def lead(lead_id: str = "L1", **changes: object) -> Lead:
    base = {
        "lead_id": lead_id,
        "created_at": NOW - timedelta(days=30),
        "source": "webinar",
        "partner_id": "P7",
        "owner_id": "rep_1",
        "attributes": {"country": "PL", "company_size": 40},
    }
    return Lead(**(base | changes))


def test_a_store_is_refused_until_it_is_initialised(tmp_path: Path) -> None:
    empty = LeadStore(f"sqlite:///{tmp_path}/new.db")
    with pytest.raises(LeadscoreError, match="no leadscore schema.*leadscore store init"):
        empty.check()
    empty.upgrade()
    empty.check()
    assert empty.upgrade() == HEAD  # upgrading twice changes nothing


def test_events_are_stored_once_and_unknown_leads_refuse_the_batch(store: LeadStore) -> None:
    store.put_lead(lead(), "crm", NOW)
    events = [Event(f"e{i}", "L1", NOW - timedelta(days=i), "page_view", None) for i in range(5)]
    assert store.add_events(events, NOW) == 5
    assert store.add_events(events[:3] + [Event("e9", "L1", NOW, "demo_request")], NOW) == 1
    assert store.count("events") == 6
    with pytest.raises(UnknownLeads, match=r"lead_id: 1 unknown leads, e.g. 'X1'") as refused:
        store.add_events([Event("e10", "L1", NOW, "page_view"), Event("e11", "X1", NOW, "x")], NOW)
    assert refused.value.ids == ["X1"]
    assert store.count("events") == 6  # nothing of the refused batch was kept
    _, history = store.history("L1")
    assert [kind for _, kind in history][-1] == "demo_request"
    assert [t for t, _ in history] == sorted(t for t, _ in history)


def test_who_brought_a_lead_is_kept_with_every_change(store: LeadStore) -> None:
    assert store.put_lead(lead(), "crm", NOW) == (True, ["source", "partner_id", "owner_id"])
    assert store.put_lead(lead(), "crm", NOW + timedelta(hours=1)) == (False, [])
    later = NOW + timedelta(days=2)
    changed = store.put_lead(lead(partner_id="P9", owner_id="rep_2"), "alice", later)
    assert changed == (False, ["partner_id", "owner_id"])
    trail = store.trail("L1")["attribution"]
    partners = [(r["value"], r["changed_by"]) for r in trail if r["field"] == "partner_id"]
    assert partners == [("P7", "crm"), ("P9", "alice")]
    stored, _ = store.history("L1")
    assert stored.partner_id == "P9" and stored.attributes == {"country": "PL", "company_size": 40}


def test_capacity_claims_never_exceed_the_places_of_a_day(store: LeadStore) -> None:
    day = 20_000
    first = store.claim_places([(day, "a"), (day, "b"), (day, "c")], 4, forget_before=day)
    assert first == [True, True, True]
    again = store.claim_places([(day, "c"), (day, "d"), (day, "e")], 4, forget_before=day)
    assert again == [True, True, False]  # c keeps its place, d takes the last, e is too late
    assert store.claim_places([(day + 1, "e")], 4, forget_before=day) == [True]  # a new day
    store.claim_places([], 4, forget_before=day + 1)  # day 20,000 is forgotten
    assert store.claim_places([(day, "e")], 4, forget_before=day) == [True]


def test_a_data_folder_round_trips_through_the_store(
    store: LeadStore, sim_dir: Path, tmp_path: Path
) -> None:
    data = load_data(sim_dir)
    small = data.known_at(data.leads["created_at"].sort()[300])  # a few hundred leads
    counts = store.load(small, "load", NOW)
    assert counts == {
        "leads": small.leads.height,
        "events": small.events.height,
        "stages": small.stages.height,
    }
    assert store.load(small, "load", NOW) == {"leads": 0, "events": 0, "stages": 0}
    back = store.read()
    for name in ("leads", "events", "stages"):
        expected, got = getattr(small, name), getattr(back, name)
        order = list(expected.columns[:3])
        assert got.select(expected.columns).sort(order).equals(expected.sort(order)), name
    store.export(tmp_path / "exported")
    exported = load_data(tmp_path / "exported")
    assert exported.events.height == small.events.height
    assert exported.leads.sort("lead_id").equals(small.leads.sort("lead_id"))


def scores(n: int) -> pl.DataFrame:
    """A rescore's scores frame (serving/rescore.py) of n leads, the first one explained."""
    return pl.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n)],
            "as_of": pl.Series([NOW] * n).dt.cast_time_unit("ms"),
            "conversion_version": [3] * n,
            "velocity_version": [2] * n,
            "feature_spec": ["f" * 12] * n,
            "probability": [0.5] * n,
            "score": [50.0] * n,
            "tier": ["B"] * n,
            "route": ["nurturing"] * n,
            "route_reason": ["tier B"] * n,
            "holdout": [i % 2 == 0 for i in range(n)],
            "input_digest": ["d" * 32] * n,
            "reasons": ['{"up": [], "down": [{"feature": "x"}]}'] + [None] * (n - 1),
        }
    )


def test_a_batch_s_decisions_are_kept_when_its_block_ends_and_only_then(store: LeadStore) -> None:
    rows = rescore_decisions(scores(500), HoldoutConfig(), NOW)
    with pytest.raises(RuntimeError), store.recording_decisions(rows):
        raise RuntimeError("publishing failed")
    assert store.count("decisions") == 0
    with store.recording_decisions(rows):
        pass
    assert store.count("decisions") == 500
    broken = rows.with_columns(tier=pl.lit(None, pl.String))  # NOT NULL: the write fails
    with pytest.raises(Exception, match="(?i)null"), store.recording_decisions(broken):
        pass
    assert store.count("decisions") == 500
    first, second = (store.trail(lead)["decisions"] for lead in ("L0", "L1"))
    assert [first[0][k] for k in ("as_of", "scored_at", "conversion_version", "holdout")] == [
        to_us(NOW),
        to_us(NOW),
        3,
        True,
    ]
    assert first[0]["reasons"] == {"up": [], "down": [{"feature": "x"}]}
    assert second[0]["reasons"] == {"up": [], "down": []} and second[0]["holdout"] is False


def test_decisions_past_one_statement_s_rows_are_all_kept_in_order(store: LeadStore) -> None:
    """SQLite takes a multi-row INSERT of at most SQLITE_VARIABLES parameters: 5,000 decisions
    of 16 columns are three statements, the last one short."""
    rows = rescore_decisions(scores(5000), HoldoutConfig(), NOW)
    assert rows.width * 5000 > 2 * SQLITE_VARIABLES
    with store.recording_decisions(rows):
        pass
    assert store.count("decisions") == 5000
    for i in (0, 2046, 2047, 4094, 4095, 4999):
        (decision,) = store.trail(f"L{i}")["decisions"]
        assert (decision["holdout"], decision["score"], decision["tier"]) == (i % 2 == 0, 50.0, "B")


@pytest.mark.parametrize("n", [1, COPY_ROWS - 1, COPY_ROWS])
def test_a_service_s_decisions_are_kept_whichever_way_they_go_in(store: LeadStore, n: int) -> None:
    """A few decisions are one INSERT, more are COPY on PostgreSQL: the same rows come back."""
    frame = rescore_decisions(scores(n), HoldoutConfig(), NOW)
    columns = frame.to_dict(as_series=False)
    columns["reasons"] = [None if r is None else json.loads(r) for r in columns["reasons"]]
    store.record_decisions(columns)
    assert store.count("decisions") == n
    first, last = store.trail("L0")["decisions"][0], store.trail(f"L{n - 1}")["decisions"][0]
    assert first["reasons"] == {"up": [], "down": [{"feature": "x"}]}
    assert (first["holdout"], first["tier"], first["as_of"]) == (True, "B", to_us(NOW))
    assert last["score"] == 50.0 and last["holdout"] == ((n - 1) % 2 == 0)


def test_a_connection_the_server_ended_is_replaced_unseen(postgres: str, tmp_path: Path) -> None:
    """Pooled connections whose sessions the server ended (a restart, an administrator) are
    replaced when taken, for reads and for decisions: no request sees the dead one."""
    store = LeadStore(new_database(postgres, tmp_path.name))
    store.upgrade()
    store.put_lead(lead(), "crm", NOW)
    columns = rescore_decisions(scores(1), HoldoutConfig(), NOW).to_dict(as_series=False)
    columns["reasons"] = [None]
    store.record_decisions(columns)  # both pools now hold a connection
    admin = LeadStore(postgres)
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        ended = connection.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE datname = '{store.engine.url.database}'"
        ).scalar_one()
    admin.close()
    assert ended == 2
    time.sleep(0.2)  # the server's goodbye reaches the idle sockets
    stored, _ = store.history("L1")
    assert stored.partner_id == "P7"
    store.record_decisions(columns)
    assert store.count("decisions") == 2
    store.close()
