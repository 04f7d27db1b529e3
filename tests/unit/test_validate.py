"""`leadscore validate` and `leadscore features` on folders that break the data contract.

Each class of broken data gets a folder that differs from a clean one in that one respect; the
command must name the table, the column and the count on stderr and exit 1.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from features.tables import check_folder, load_data
from leadscore.cli import main

Rows = list[dict[str, object]]
Tables = dict[str, Rows]


def clean_tables() -> Tables:
    """A small funnel that keeps every rule: all values as text, as a CSV export holds them."""
    leads = [
        {"lead_id": "L1", "created_at": "2026-01-01", "source": "web", "employees": "120"},
        {"lead_id": "L2", "created_at": "2026-01-02T08:30:00", "source": "paid", "employees": "8"},
        {"lead_id": "L3", "created_at": "2026-01-03", "source": "partner", "employees": None},
        {"lead_id": "L4", "created_at": "2026-01-04", "source": "web", "employees": "40"},
        {"lead_id": "L5", "created_at": "2026-01-05", "source": "web", "employees": "3"},
        {"lead_id": "L6", "created_at": "2026-01-06", "source": "paid", "employees": "15"},
    ]
    events = [
        {"lead_id": "L1", "ts": "2026-01-01T10:00:00Z", "event_type": "page_view", "value": None},
        {"lead_id": "L1", "ts": "2026-01-02 11:00", "event_type": "pricing_view", "value": None},
        {"lead_id": "L2", "ts": "2026-01-03", "event_type": "form_submit", "value": "1"},
        {"lead_id": "L3", "ts": "2026-01-04", "event_type": "page_view", "value": None},
        {"lead_id": "L4", "ts": "2026-01-05", "event_type": "webinar_attended", "value": "2.5"},
        {"lead_id": "L5", "ts": "2026-01-06", "event_type": "chat_started", "value": None},
        {"lead_id": "L6", "ts": "2026-01-07", "event_type": "email_open", "value": None},
    ]
    stages = [
        {"lead_id": "L1", "ts": "2026-01-02", "stage": "MQL", "mrr": None},
        {"lead_id": "L1", "ts": "2026-01-05", "stage": "SQL", "mrr": None},
        {"lead_id": "L1", "ts": "2026-01-20", "stage": "WON", "mrr": "1200"},
        {"lead_id": "L2", "ts": "2026-01-03", "stage": "MQL", "mrr": None},
        {"lead_id": "L2", "ts": "2026-01-06", "stage": "SQL", "mrr": None},
        {"lead_id": "L2", "ts": "2026-01-21", "stage": "WON", "mrr": "300.5"},
        {"lead_id": "L3", "ts": "2026-01-04", "stage": "MQL", "mrr": None},
        {"lead_id": "L3", "ts": "2026-01-09", "stage": "LOST", "mrr": None},
        {"lead_id": "L4", "ts": "2026-01-05", "stage": "MQL", "mrr": None},
        {"lead_id": "L4", "ts": "2026-01-15", "stage": "NURTURE", "mrr": None},
    ]
    return {"leads": leads, "events": events, "stages": stages}


def write_tables(folder: Path, tables: Tables) -> Path:
    """Every column as text, like a CSV export; None becomes an empty field."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        columns = list(dict.fromkeys(key for row in rows for key in row))
        frame = pl.DataFrame(
            {col: [row.get(col) for row in rows] for col in columns},
            schema={col: pl.String for col in columns},
        )
        frame.write_csv(folder / f"{name}.csv")
    return folder


def validate(folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["validate", str(folder)])
    out, err = capsys.readouterr()
    return code, out, err


def problem_lines(err: str) -> list[str]:
    return [line.removeprefix("  - ") for line in err.splitlines() if line.startswith("  - ")]


# ---- one mutation of the clean tables per class of broken data -----------------------------


def drop_column(table: str, column: str) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        for row in t[table]:
            row.pop(column, None)

    return mutate


def set_values(table: str, column: str, values: dict[int, object]) -> Callable[[Tables], None]:
    """Set `column` of rows (0-based) of `table`."""

    def mutate(t: Tables) -> None:
        for i, value in values.items():
            t[table][i][column] = value

    return mutate


def add_rows(table: str, rows: Rows) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        t[table].extend(rows)

    return mutate


def _duplicate_four(t: Tables) -> None:
    # L1, L2 and L3 twice, L4 three times: 4 duplicated ids over 5 extra rows.
    extra = [t["leads"][i] for i in (0, 1, 2, 3, 3)]
    t["leads"].extend(copy.deepcopy(extra))


def _won_without_sql(t: Tables) -> None:
    # L1 loses its SQL; L2's SQL comes after its WON. Both won without being SQL first.
    t["stages"] = [r for r in t["stages"] if not (r["lead_id"] == "L1" and r["stage"] == "SQL")]
    for row in t["stages"]:
        if row["lead_id"] == "L2" and row["stage"] == "SQL":
            row["ts"] = "2026-01-25"


def _ev(lead: str, ts: str = "2026-01-10", kind: str = "page_view") -> dict[str, object]:
    return {"lead_id": lead, "ts": ts, "event_type": kind, "value": None}


Case = tuple[str, Callable[[Tables], None], str]
BAD_TIMESTAMP: Case = (
    "unparseable timestamp",
    set_values("events", "ts", {2: "2026-13-45", 5: "yesterday"}),
    "events.ts: 2 rows unparseable, first row 3: '2026-13-45'",
)
DUPLICATES: Case = (
    "duplicate ids",
    _duplicate_four,
    "leads.lead_id: 4 duplicates, e.g. 'L1', 'L2', 'L3'",
)
UNKNOWN_STAGE: Case = (
    "unknown stage",
    set_values("stages", "stage", {3: "CHURNED", 6: "won"}),
    "stages.stage: 2 rows not one of MQL, SQL, WON, LOST, NURTURE, first row 4: 'CHURNED'",
)
NEGATIVE_MRR: Case = (
    "negative mrr",
    set_values("stages", "mrr", {2: "-1200", 5: "-1"}),
    "stages.mrr: 2 rows negative, first row 3: -1200.0",
)
UNEARNED_WIN: Case = (
    "WON without SQL",
    _won_without_sql,
    "stages: WON without SQL for 2 leads, e.g. 'L1', 'L2'",
)
BROKEN: list[Case] = [
    ("missing column", drop_column("leads", "created_at"), "leads: missing column created_at"),
    ("missing column", drop_column("events", "event_type"), "events: missing column event_type"),
    ("missing column", drop_column("stages", "stage"), "stages: missing column stage"),
    BAD_TIMESTAMP,
    (
        "unparseable timestamp",
        set_values("leads", "created_at", {4: "05/01/2026"}),
        "leads.created_at: 1 rows unparseable, first row 5: '05/01/2026'",
    ),
    (
        "empty value",
        set_values("leads", "source", {1: None, 3: "  "}),
        "leads.source: 2 rows empty, first row 2",
    ),
    (
        "empty value",
        set_values("events", "event_type", {6: ""}),
        "events.event_type: 1 rows empty, first row 7",
    ),
    ("empty value", set_values("stages", "ts", {3: None}), "stages.ts: 1 rows empty, first row 4"),
    (
        "empty value",
        set_values("events", "lead_id", {0: None, 1: None, 4: None}),
        "events.lead_id: 3 rows empty, first row 1",
    ),
    (
        "not a number",
        set_values("stages", "mrr", {2: "1.200,00"}),
        "stages.mrr: 1 rows not a number, first row 3: '1.200,00'",
    ),
    (
        "not a number",
        set_values("events", "value", {0: "high", 3: "n/a"}),
        "events.value: 2 rows not a number, first row 1: 'high'",
    ),
    (
        "not a number",
        set_values("stages", "mrr", {5: "inf"}),
        "stages.mrr: 1 rows not a number, first row 6: 'inf'",
    ),
    DUPLICATES,
    (
        "unknown lead",
        add_rows("events", [_ev("X1"), _ev("X2"), _ev("X1"), _ev("X3")]),
        "events.lead_id: 3 ids not in leads, e.g. 'X1', 'X2', 'X3'",
    ),
    (
        "unknown lead",
        add_rows("stages", [{"lead_id": "X9", "ts": "2026-01-10", "stage": "MQL", "mrr": None}]),
        "stages.lead_id: 1 ids not in leads, e.g. 'X9'",
    ),
    UNKNOWN_STAGE,
    (
        "WON without mrr",
        set_values("stages", "mrr", {5: None}),
        "stages.mrr: 1 WON rows without mrr, first row 6",
    ),
    (
        "WON without mrr",
        drop_column("stages", "mrr"),
        "stages.mrr: 2 WON rows without mrr, first row 3",
    ),
    NEGATIVE_MRR,
    UNEARNED_WIN,
    (
        "stage before created_at",
        set_values("stages", "ts", {6: "2025-12-31"}),
        "stages.ts: 1 leads with a stage before their created_at, e.g. 'L3'",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=f"{kind}: {e.split(':')[0]}") for kind, m, e in BROKEN],
)
def test_each_broken_class_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mutate, expected: str
) -> None:
    tables = clean_tables()
    mutate(tables)
    folder = write_tables(tmp_path / "data", tables)
    code, out, err = validate(folder, capsys)
    assert code == 1
    assert out == ""
    problems = problem_lines(err)
    assert expected in problems, err
    assert err.splitlines()[0] == f"{folder}: {len(problems)} problems"


def test_clean_folder_is_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_tables(tmp_path / "data", clean_tables())
    code, out, err = validate(folder, capsys)
    assert (code, err) == (0, "")
    assert out.startswith(f"{folder}: OK — 6 leads, 7 events, 10 stage changes")
    assert out.rstrip().endswith("attributes: employees")


def test_every_problem_is_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tables = clean_tables()
    cases = (BAD_TIMESTAMP, DUPLICATES, UNKNOWN_STAGE, NEGATIVE_MRR)
    for _, mutate, _ in cases:
        mutate(tables)
    code, _, err = validate(write_tables(tmp_path / "data", tables), capsys)
    assert code == 1
    assert set(problem_lines(err)) >= {expected for _, _, expected in cases}


def test_missing_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_tables(tmp_path / "data", clean_tables())
    (folder / "stages.csv").unlink()
    code, _, err = validate(folder, capsys)
    assert code == 1
    assert problem_lines(err) == [f"stages: no stages.parquet or stages.csv in {folder}"]


def test_no_leads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_tables(tmp_path / "data", clean_tables())
    (folder / "leads.csv").write_text("lead_id,created_at,source\n")
    code, _, err = validate(folder, capsys)
    assert code == 1
    assert "leads: no rows" in problem_lines(err)


@pytest.mark.parametrize(
    ("file", "content", "expected"),
    [
        ("events.parquet", os.urandom(64), "events: cannot read events.parquet: "),
        ("stages.parquet", b"PAR1" + bytes(range(200)) + b"PAR1", "stages: cannot read "),
        (
            "leads.csv",
            b"lead_id,created_at,source\n\xff\xfe,2026-01-01,web\n",
            "leads: cannot read",
        ),
        ("events.csv", b"", "events: cannot read events.csv: "),
    ],
    ids=["random bytes", "fake parquet", "not utf-8", "empty file"],
)
def test_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], file: str, content: bytes, expected: str
) -> None:
    folder = write_tables(tmp_path / "data", clean_tables())
    (folder / file).write_bytes(content)  # a .parquet is read in preference to the .csv
    code, _, err = validate(folder, capsys)
    assert code == 1
    problems = problem_lines(err)
    assert len(problems) == 1 and problems[0].startswith(expected), err
    assert "Traceback" not in err


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_not_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    target = tmp_path / "nowhere"
    if kind == "file":
        target.write_text("lead_id\n")
    code, out, err = validate(target, capsys)
    assert (code, out) == (1, "")
    assert problem_lines(err) == [f"{target}: no such data folder"]


# ---- Parquet ----------------------------------------------------------------------------------


def _typed(tables: Tables) -> dict[str, pl.DataFrame]:
    """The clean tables as a Parquet writer would hold them: real timestamps and numbers."""
    frames = {}
    for name, rows in tables.items():
        frame = pl.DataFrame(rows, schema={k: pl.String for k in rows[0]})
        time_col = "created_at" if name == "leads" else "ts"
        frame = frame.with_columns(
            pl.col(time_col).str.replace("Z$", "").str.to_datetime(time_zone="UTC")
        )
        numeric = {"leads": "employees", "events": "value", "stages": "mrr"}[name]
        frames[name] = frame.with_columns(pl.col(numeric).cast(pl.Float64))
    return frames


def test_parquet_and_csv_are_read_alike(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_data = load_data(write_tables(tmp_path / "csv", clean_tables()))
    frames = _typed(clean_tables())
    # Other encodings of the same instants and numbers: a Berlin clock, naive UTC, integers.
    berlin = timezone(timedelta(hours=1))
    frames["leads"] = frames["leads"].with_columns(
        pl.col("created_at").dt.convert_time_zone("Europe/Berlin"),
        pl.col("employees").cast(pl.Int64),
    )
    frames["events"] = frames["events"].with_columns(pl.col("ts").dt.replace_time_zone(None))
    folder = tmp_path / "parquet"
    folder.mkdir()
    for name, frame in frames.items():
        frame.write_parquet(folder / f"{name}.parquet")
    code, out, err = validate(folder, capsys)
    assert (code, err) == (0, "")
    assert "OK — 6 leads, 7 events, 10 stage changes" in out
    parquet_data = load_data(folder)
    for name in ("leads", "events", "stages"):
        assert getattr(parquet_data, name).equals(getattr(csv_data, name)), name
    first = parquet_data.leads["created_at"][0]
    assert first == datetime(2026, 1, 1, tzinfo=UTC) == datetime(2026, 1, 1, 1, tzinfo=berlin)


def test_parquet_and_csv_mixed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_tables(tmp_path / "data", clean_tables())
    _typed(clean_tables())["stages"].write_parquet(folder / "stages.parquet")
    (folder / "stages.csv").write_text("garbage that would not pass\n")
    code, out, _ = validate(folder, capsys)
    assert code == 0 and "OK" in out


@pytest.mark.parametrize(
    ("table", "change", "expected"),
    [
        (
            "events",
            pl.when(pl.int_range(pl.len()) == 4)
            .then(pl.lit("2026-13-45"))
            .otherwise(pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%z")),
            "events.ts: 1 rows unparseable, first row 5: '2026-13-45'",
        ),
        (
            "stages",
            pl.when(pl.col("stage") == "WON").then(float("nan")).otherwise(pl.col("mrr")),
            "stages.mrr: 2 rows not a number, first row 3: 'nan'",
        ),
        (
            "stages",
            pl.when(pl.col("stage") == "WON").then(None).otherwise(pl.col("mrr")),
            "stages.mrr: 2 WON rows without mrr, first row 3",
        ),
    ],
    ids=["bad timestamp text", "NaN mrr", "null mrr"],
)
def test_broken_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, change, expected: str
) -> None:
    frames = _typed(clean_tables())
    column = "ts" if table == "events" else "mrr"
    frames[table] = frames[table].with_columns(change.alias(column))
    folder = tmp_path / "data"
    folder.mkdir()
    for name, frame in frames.items():
        frame.write_parquet(folder / f"{name}.parquet")
    code, _, err = validate(folder, capsys)
    assert code == 1
    assert expected in problem_lines(err), err


# ---- `leadscore features` refuses the same folders --------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(m, e, id=e.split(":")[0])
        for _, m, e in (BAD_TIMESTAMP, DUPLICATES, UNEARNED_WIN)
    ],
)
def test_features_reports_the_same_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mutate, expected: str
) -> None:
    tables = clean_tables()
    mutate(tables)
    folder = write_tables(tmp_path / "data", tables)
    _, _, validate_err = validate(folder, capsys)
    out_file = tmp_path / "out" / "features.parquet"
    code = main(
        ["features", "--data", str(folder), "--as-of", "2026-02-01", "--out", str(out_file)]
    )
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert "Traceback" not in err
    first, *rest = err.splitlines()
    assert err.count("error:") == 1 and first.startswith(f"error: data folder {folder} ")
    assert f"({len(problem_lines(validate_err))} problems)" in first
    assert problem_lines(err) == problem_lines(validate_err)
    assert expected in problem_lines(err)
    assert len(rest) == len(problem_lines(err))
    assert not out_file.exists()


def test_features_on_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    out_file = tmp_path / "f.parquet"
    code = main(
        ["features", "--data", str(missing), "--as-of", "2026-02-01", "--out", str(out_file)]
    )
    _, err = capsys.readouterr()
    assert code == 1 and err.count("error:") == 1 and "Traceback" not in err
    assert problem_lines(err) == [f"{missing}: no such data folder"]
    assert not out_file.exists()


def test_check_folder_returns_no_data_when_broken(tmp_path: Path) -> None:
    tables = clean_tables()
    _duplicate_four(tables)
    problems, data = check_folder(write_tables(tmp_path / "data", tables))
    assert data is None and len(problems) == 1


def test_empty_ids_are_reported_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A blank id is an empty value, not also a duplicate or an unknown lead."""
    tables = clean_tables()
    tables["leads"].append({"lead_id": None, "created_at": "2026-01-07", "source": "web"})
    tables["leads"].append({"lead_id": " ", "created_at": "2026-01-08", "source": "web"})
    tables["events"].append(_ev(""))
    code, _, err = validate(write_tables(tmp_path / "data", tables), capsys)
    assert code == 1
    assert problem_lines(err) == [
        "leads.lead_id: 2 rows empty, first row 7",
        "events.lead_id: 1 rows empty, first row 8",
    ]
