"""Point-in-time correctness, as properties over generated funnels.

Whatever happens at or after `as_of` (events added, removed, moved, retyped) must leave every
feature as it was; so must the order events arrive in. An event strictly before `as_of` must
change something, so that these properties could fail. A lead created after `as_of` is never
scored. Both entry points are held to this: `table_features` (the tables of a data folder) and
`record_features` (leads that bring their own events).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from features.config import FeatureConfig
from features.spec import FeatureSpec
from features.tables import LeadData, load_data
from features.vectors import (
    LeadRecord,
    open_leads,
    record_features,
    table_features,
    to_matrix,
    to_ms,
)
from leadscore.cli import main

BASE = datetime(2026, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000
SPAN_US = 60 * DAY_US
# Known types, the three flag types and one the config does not know ("other").
TYPES = ("page_view", "pricing_view", "webinar_registered", "webinar_attended", "unsubscribe")
TYPES += ("demo_request", "chat_started")
# Valid stage paths (each stage later than the one before, WON after SQL, with mrr).
PATHS = ((), ("MQL",), ("MQL", "SQL"), ("MQL", "SQL", "WON"), ("MQL", "SQL", "LOST"))
PATHS += (("MQL", "LOST"), ("MQL", "NURTURE"), ("MQL", "SQL", "LOST", "NURTURE"))
CONFIG = FeatureConfig(min_category_count=1)
SETTINGS = settings(max_examples=80, deadline=None)

Event = tuple[str, datetime, str]  # lead_id, ts, event_type


def at(us: int) -> datetime:
    return BASE + timedelta(microseconds=us)


@dataclass(frozen=True)
class Funnel:
    leads: list[dict[str, object]]
    events: list[Event]
    stages: list[tuple[str, datetime, str, float | None]]
    as_of: datetime

    @property
    def as_of_ms(self) -> int:
        return to_ms(self.as_of)


@st.composite
def stage_times(draw: st.DrawFn, size: int, created_us: int, as_of_us: int) -> list[int]:
    """Increasing times after creation; often one of them exactly at as_of (not yet known)."""
    pin = None
    if size and as_of_us - created_us > size:
        pin = draw(st.one_of(st.none(), st.integers(0, size - 1)))
    if pin is None:
        times = st.integers(created_us + 1, created_us + 30 * DAY_US)
        return sorted(draw(st.lists(times, min_size=size, max_size=size, unique=True)))
    before = st.integers(created_us + 1, as_of_us - 1)
    after = st.integers(as_of_us + 1, as_of_us + 30 * DAY_US)
    first = draw(st.lists(before, min_size=pin, max_size=pin, unique=True))
    rest = draw(st.lists(after, min_size=size - pin - 1, max_size=size - pin - 1, unique=True))
    return [*sorted(first), as_of_us, *sorted(rest)]


@st.composite
def funnels(draw: st.DrawFn, max_leads: int = 4) -> Funnel:
    as_of_us = draw(st.integers(0, SPAN_US))
    # Times anywhere in the span, or right around as_of (its microsecond, millisecond, second).
    near = st.sampled_from([-1_000_000, -1001, -1000, -999, -1, 0, 1, 999, 1000, 1_000_000])
    moment = st.one_of(st.integers(0, SPAN_US), near.map(lambda d: max(0, as_of_us + d)))
    leads, events, stages = [], [], []
    for i in range(draw(st.integers(1, max_leads))):
        lead_id = f"L{i}"
        created_us = draw(moment)
        leads.append(
            {
                "lead_id": lead_id,
                "created_at": at(created_us),
                "source": draw(st.sampled_from(["web", "paid", "partner"])),
                "industry": draw(st.sampled_from(["saas", "retail", None])),
                "employees": draw(st.sampled_from([3.0, 40.0, 1200.0, None])),
            }
        )
        for ts_us, kind in draw(st.lists(st.tuples(moment, st.sampled_from(TYPES)), max_size=8)):
            events.append((lead_id, at(ts_us), kind))
        path = draw(st.sampled_from(PATHS))
        stage_us = draw(stage_times(len(path), created_us, as_of_us))
        for stage, ts_us in zip(path, stage_us, strict=True):
            stages.append((lead_id, at(ts_us), stage, 900.0 if stage == "WON" else None))
    return Funnel(leads, events, stages, at(as_of_us))


def lead_data(f: Funnel) -> LeadData:
    """The frames load_data would return for this funnel (checked in test_in_memory_...)."""
    utc = pl.Datetime("us", "UTC")
    leads = pl.DataFrame(
        f.leads,
        schema={
            "lead_id": pl.String,
            "created_at": utc,
            "source": pl.String,
            "industry": pl.String,
            "employees": pl.Float64,
        },
    )
    events = pl.DataFrame(
        f.events, schema={"lead_id": pl.String, "ts": utc, "event_type": pl.String}, orient="row"
    )
    stages = pl.DataFrame(
        f.stages,
        schema={"lead_id": pl.String, "ts": utc, "stage": pl.String, "mrr": pl.Float64},
        orient="row",
    )
    return LeadData(leads, events, stages)


def records(f: Funnel) -> list[LeadRecord]:
    return [
        LeadRecord(
            lead_id=str(lead["lead_id"]),
            created_at=lead["created_at"],  # type: ignore[arg-type]
            source=str(lead["source"]),
            attributes={"industry": lead["industry"], "employees": lead["employees"]},
            events=[(ts, kind) for lid, ts, kind in f.events if lid == lead["lead_id"]],
        )
        for lead in f.leads
    ]


def spec_of(f: Funnel) -> FeatureSpec:
    return FeatureSpec.fit(CONFIG, lead_data(f).leads)


def by_table(f: Funnel, spec: FeatureSpec) -> np.ndarray:
    ids = [str(lead["lead_id"]) for lead in f.leads]
    block = table_features(lead_data(f), spec, ids, np.full(len(ids), f.as_of_ms))
    return to_matrix(spec, block)


def by_record(f: Funnel, spec: FeatureSpec) -> np.ndarray:
    block = record_features(spec, records(f), [f.as_of] * len(f.leads))
    return to_matrix(spec, block)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def both_paths(f: Funnel, spec: FeatureSpec) -> np.ndarray:
    table, record = by_table(f, spec), by_record(f, spec)
    assert same(table, record)
    return table


@st.composite
def funnel_and_future(draw: st.DrawFn) -> tuple[Funnel, list[Event], list[Event]]:
    """A funnel, events to add at or after as_of, and its events after as_of changed."""
    f = draw(funnels())
    as_of_us = (f.as_of - BASE) // timedelta(microseconds=1)
    later = st.integers(as_of_us, as_of_us + SPAN_US).map(at)
    ids = [str(lead["lead_id"]) for lead in f.leads]
    added = draw(st.lists(st.tuples(st.sampled_from(ids), later, st.sampled_from(TYPES))))
    changed = [
        (lid, draw(later), draw(st.sampled_from(TYPES))) if ts >= f.as_of else (lid, ts, kind)
        for lid, ts, kind in f.events
    ]
    return f, added, changed


@SETTINGS
@given(funnel_and_future())
def test_events_at_or_after_as_of_change_nothing(case) -> None:
    f, added, changed = case
    spec = spec_of(f)
    before = both_paths(f, spec)
    past = [e for e in f.events if e[1] < f.as_of]
    for events in (past, f.events + added, changed, past + added):
        assert same(both_paths(replace(f, events=events), spec), before)


@SETTINGS
@given(st.data())
def test_event_order_changes_nothing(data: st.DataObject) -> None:
    f = data.draw(funnels())
    shuffled = data.draw(st.permutations(f.events))
    spec = spec_of(f)
    assert same(both_paths(replace(f, events=list(shuffled)), spec), both_paths(f, spec))


@SETTINGS
@given(st.data())
def test_an_earlier_event_changes_its_lead(data: st.DataObject) -> None:
    f = data.draw(funnels())
    # Known at as_of means: in a millisecond strictly before as_of's millisecond.
    last_known_us = (f.as_of_ms - to_ms(BASE)) * 1000 - 1
    if last_known_us < 0:
        f = replace(f, as_of=f.as_of + timedelta(days=1))
        last_known_us = (f.as_of_ms - to_ms(BASE)) * 1000 - 1
    row = data.draw(st.integers(0, len(f.leads) - 1))
    lead_id = str(f.leads[row]["lead_id"])
    extra = (
        lead_id,
        at(data.draw(st.integers(0, last_known_us))),
        data.draw(st.sampled_from(TYPES)),
    )
    spec = spec_of(f)
    before = both_paths(f, spec)
    after = both_paths(replace(f, events=[*f.events, extra]), spec)
    others = [i for i in range(len(f.leads)) if i != row]
    assert not same(after[row], before[row])
    assert same(after[others], before[others])


def expected_open(f: Funnel) -> set[str]:
    """Created strictly before as_of, and not WON or LOST by its last stage before as_of."""
    last_stage: dict[str, str] = {}
    for lead_id, ts, stage, _ in sorted(f.stages, key=lambda s: s[1]):
        if ts < f.as_of:
            last_stage[lead_id] = stage
    return {
        str(lead["lead_id"])
        for lead in f.leads
        if lead["created_at"] < f.as_of
        and last_stage.get(str(lead["lead_id"])) not in {"WON", "LOST"}
    }


@settings(max_examples=200, deadline=None)  # cheap: no features computed
@given(funnels(max_leads=6))
def test_leads_created_after_as_of_are_never_scored(f: Funnel) -> None:
    scored = open_leads(lead_data(f), f.as_of)
    assert len(scored) == len(set(scored))
    assert set(scored) == expected_open(f)
    created = {lead["lead_id"]: lead["created_at"] for lead in f.leads}
    assert all(created[lead_id] < f.as_of for lead_id in scored)


def write_parquet(f: Funnel, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = lead_data(f)
    for name in ("leads", "events", "stages"):
        getattr(data, name).write_parquet(folder / f"{name}.parquet")
    return folder


@settings(max_examples=25, deadline=None)
@given(funnels(max_leads=6))
def test_cli_features_scores_only_open_leads(f: Funnel) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_parquet(f, Path(tmp) / "data")
        out = Path(tmp) / "features.parquet"
        as_of = f.as_of.isoformat()
        assert main(["features", "--data", str(folder), "--as-of", as_of, "--out", str(out)]) == 0
        written = pl.read_parquet(out)
    assert set(written["lead_id"]) == expected_open(f)
    assert written.height == len(expected_open(f))
    # And what it wrote is what table_features computes for those leads at that moment.
    spec = FeatureSpec.fit(CONFIG, lead_data(f).leads)
    ids = written["lead_id"].to_list()
    block = table_features(lead_data(f), spec, ids, np.full(len(ids), f.as_of_ms))
    behaviour = written.select(spec.behaviour_names).to_numpy()
    assert np.array_equal(behaviour, block.behaviour, equal_nan=True)


@settings(max_examples=10, deadline=None)
@given(funnels())
def test_in_memory_tables_match_a_loaded_folder(f: Funnel) -> None:
    """The frames these properties use are exactly what load_data makes of the same tables."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        folder.mkdir()
        data = lead_data(f)
        data.leads.write_csv(folder / "leads.csv")
        data.events.write_csv(folder / "events.csv")
        data.stages.write_csv(folder / "stages.csv")
        loaded = load_data(folder)
    spec = spec_of(f)
    ids = [str(lead["lead_id"]) for lead in f.leads]
    as_of = np.full(len(ids), f.as_of_ms)
    from_folder = to_matrix(spec, table_features(loaded, spec, ids, as_of))
    assert same(from_folder, both_paths(f, spec))
