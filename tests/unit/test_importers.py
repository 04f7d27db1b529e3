"""`leadscore import` on small hand-made exports: the mapping, the tables, the refusals.

A toy CRM export (deals.csv + an accounts.csv lookup) and its mapping are written per test,
so each test changes one thing and checks that the import maps it, or refuses it with one line
naming the file and the column, leaving no folder behind.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import yaml
from pydantic import ValidationError

from features.config import FeatureConfig
from features.errors import LeadscoreError
from features.tables import check_folder, load_data
from leadscore.cli import main
from leadscore.importers import known_kinds, load_mapping, mapping_path
from leadscore.importers.engine import check_label_timing, training_configs
from leadscore.importers.mapping import CreatedAt, Label, Outcome, RowOrder, Source
from leadscore.importers.timeline import row_order_times
from leadscore.settings import load_config
from training.config import BacktestConfig, TrainConfig
from training.dataset import build_training_set
from training.folds import backtest_folds

HEADER = "id,channel,rep,created,stage,closed,amount,employees,industry,account,notes,internal"
ROWS = [
    "D1,web,ann,2026-01-01,won,2026-01-20,1200,120,SaaS,acme,great call,x",
    "D2,paid,bob,2026-01-02,lost,2026-01-10,0,n/a,retail,beta,no budget,x",
    "D3,,ann,2026-01-03,open,,,8,saas,,,x",
    "D4,web,bob,2026-01-04,won,2026-02-01,300.5,40,retail,acme,,x",
]
ACCOUNTS = "account,region\nacme,EU\nbeta,US\n"
MAPPING: dict = {
    "description": "a toy CRM export",
    "read": {"file": "deals.csv", "missing": ["", "n/a"], "recode": {"industry": {"SaaS": "saas"}}},
    "lead_id": {"column": "id"},
    "source": {"column": "channel"},
    "owner_id": "rep",
    "created_at": {"column": "created"},
    "label": {
        "column": "stage",
        "mrr": "amount",
        "outcomes": {
            "won": {"stages": ["SQL", "WON"], "at": "closed"},
            "lost": {"stages": ["LOST"], "at": "closed"},
            "open": {},
        },
    },
    "attributes": [{"column": "employees", "type": "number"}, {"column": "industry"}],
    "joins": [{"file": "accounts.csv", "key": "account", "attributes": [{"column": "region"}]}],
    "leaky": [
        {"column": "account", "reason": "filled in at close"},
        {"column": "notes", "reason": "written by sales after the call"},
    ],
    "ignore": [{"column": "internal", "reason": "not a lead property"}],
}
Export = Callable[..., tuple[Path, Path]]


@pytest.fixture
def export(tmp_path: Path) -> Export:
    """Factory: export(rows=..., mapping=..., header=...) -> (export folder, mapping file)."""

    def make(
        rows: list[str] = ROWS, mapping: dict | None = None, header: str = HEADER
    ) -> tuple[Path, Path]:
        src = tmp_path / "export"
        src.mkdir(exist_ok=True)
        (src / "deals.csv").write_text("\n".join([header, *rows]) + "\n")
        (src / "accounts.csv").write_text(ACCOUNTS)
        path = tmp_path / "mapping.yaml"
        path.write_text(yaml.safe_dump(MAPPING if mapping is None else mapping))
        return src, path

    return make


def run_import(src: Path, mapping: Path, out: Path, *extra: str) -> int:
    return main(
        ["import", "custom", str(src), "--out", str(out), "--mapping", str(mapping), *extra]
    )


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_import_maps_the_export_into_the_contract(
    export: Export, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, mapping = export()
    out = tmp_path / "data"
    assert run_import(src, mapping, out) == 0
    printed = capsys.readouterr().out
    assert "leaky columns dropped (keep one with --keep-leaky COL):" in printed
    assert "  - account: filled in at close" in printed
    assert "  - region: looked up by account, dropped with it" in printed
    assert "  - internal: not a lead property" in printed
    assert f"next: leadscore train --data {out} --config {out}/train.yaml" in printed
    assert check_folder(out)[0] == []
    data = load_data(out)
    leads = data.leads.sort("lead_id")
    assert leads.columns == ["lead_id", "created_at", "source", "owner_id", "employees", "industry"]
    assert leads["employees"].to_list() == [120.0, None, 8.0, 40.0]  # "n/a" is missing
    assert leads["industry"].to_list() == ["saas", "retail", "saas", "retail"]  # recoded
    assert leads["source"].to_list() == ["web", "paid", "unknown", "web"]
    assert leads["owner_id"].to_list() == ["ann", "bob", "ann", "bob"]
    stages = data.stages.sort("lead_id", "ts", maintain_order=True)
    d1 = stages.filter(pl.col("lead_id") == "D1")
    assert d1["stage"].to_list() == ["MQL", "SQL", "WON"]
    assert d1["ts"].to_list()[1:] == [datetime(2026, 1, 20, tzinfo=UTC)] * 2
    assert d1["mrr"].to_list() == [None, None, 1200.0]
    assert stages.filter(pl.col("lead_id") == "D2")["stage"].to_list() == ["MQL", "LOST"]
    assert stages.filter(pl.col("lead_id") == "D3")["stage"].to_list() == ["MQL"]
    assert data.events.height == 0
    # Tuned parameters live with the data they were tuned on.
    assert load_config(out / "train.yaml", TrainConfig).tuned_params == str(
        out / "tuned_conversion.yaml"
    )
    load_config(out / "features.yaml", FeatureConfig)
    assert (out / "import.json").exists()


def test_keeping_a_leaky_column_takes_the_flag_and_warns(
    export: Export, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, mapping = export()
    assert run_import(src, mapping, tmp_path / "plain") == 0
    assert "warning" not in capsys.readouterr().err
    assert "notes" not in load_data(tmp_path / "plain").leads.columns
    out = tmp_path / "leaky"
    assert run_import(src, mapping, out, "--keep-leaky", "account", "notes") == 0
    err = capsys.readouterr().err
    assert "warning: keeping leaky column 'account' (filled in at close)" in err
    assert "warning: keeping leaky column 'notes'" in err
    leads = load_data(out).leads.sort("lead_id")
    assert leads["region"].to_list() == ["EU", "US", None, "EU"]  # the join comes with its key
    assert leads["notes"].to_list()[:2] == ["great call", "no budget"]


def test_keep_leaky_refuses_a_column_that_is_not_leaky(
    export: Export, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, mapping = export()
    assert run_import(src, mapping, tmp_path / "data", "--keep-leaky", "employees") == 1
    err = one_line_error(capsys)
    assert "--keep-leaky employees: not a leaky column" in err and "account, notes" in err
    assert not (tmp_path / "data").exists()


def test_unknown_kind_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["import", "salesforce", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    err = one_line_error(capsys)
    assert "unknown KIND 'salesforce'" in err and "x-education" in err and "--mapping" in err


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("no_file", "deals.csv: no such file"),
        ("no_column", "deals.csv: missing column 'channel'"),
        ("bad_number", "column employees: 1 rows not a number, first data row 2: 'lots'"),
        ("bad_label", "column stage: 1 rows with a value not in the mapping's label.outcomes"),
        ("bad_date", "column created: 1 rows not a date (ISO 8601), first data row 3: 'soon'"),
        ("no_close_date", "column closed: 1 rows with stage 'won' have no date, first data row 4"),
        ("duplicate_id", "column id: 1 ids repeated, e.g. 'D1'"),
        ("typo", "mapping.yaml: atributes: Extra inputs are not permitted"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(
    change: str,
    expected: str,
    export: Export,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows, header, mapping = list(ROWS), HEADER, dict(MAPPING)
    if change == "no_column":
        header = header.replace("channel", "chanel")
    elif change == "bad_number":
        rows[1] = rows[1].replace("n/a", "lots")
    elif change == "bad_label":
        rows[0] = rows[0].replace(",won,", ",pending,")
    elif change == "bad_date":
        rows[2] = rows[2].replace("2026-01-03", "soon")
    elif change == "no_close_date":
        rows[3] = rows[3].replace("2026-02-01", "")
    elif change == "duplicate_id":
        rows[3] = rows[3].replace("D4", "D1")
    elif change == "typo":
        mapping["atributes"] = mapping.pop("attributes")
    src, path = export(rows, mapping, header)
    if change == "no_file":
        (src / "deals.csv").unlink()
    out = tmp_path / "data"
    assert run_import(src, path, out) == 1
    assert expected in one_line_error(capsys)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".data")]


def test_refuses_to_overwrite_a_folder_it_did_not_write(
    export: Export, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, mapping = export()
    out = tmp_path / "data"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert run_import(src, mapping, out) == 1
    assert "exists and was not written by `leadscore import`" in one_line_error(capsys)
    assert (out / "mine.txt").read_text() == "keep me"
    again = tmp_path / "again"
    assert run_import(src, mapping, again) == 0
    assert run_import(src, mapping, again) == 0  # an earlier import is replaced whole
    assert check_folder(again)[0] == []


@pytest.mark.parametrize(
    ("missing", "leads", "note"),
    [("drop", 3, "1 rows without created dropped"), ("end", 4, "created at the export's last")],
)
def test_rows_without_a_creation_date(
    missing: str,
    leads: int,
    note: str,
    export: Export,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [*ROWS[:2], ROWS[2].replace("2026-01-03", ""), ROWS[3]]
    src, path = export(rows)
    assert run_import(src, path, tmp_path / "refused") == 1
    assert "column created: 1 rows without a date, first data row 3" in one_line_error(capsys)
    mapping = dict(MAPPING, created_at={"column": "created", "missing": missing})
    src, path = export(rows, mapping)
    assert run_import(src, path, tmp_path / missing) == 0
    assert note in capsys.readouterr().out
    data = load_data(tmp_path / missing)
    assert data.leads.height == leads
    if missing == "end":  # the export's last date: D4's close
        d3 = data.leads.filter(pl.col("lead_id") == "D3")["created_at"][0]
        assert d3 == datetime(2026, 2, 1, tzinfo=UTC)


def test_mapping_rules() -> None:
    with pytest.raises(ValidationError, match="YAML boolean: quote the value"):
        Label.model_validate({"column": "y", "outcomes": {True: {}}})
    numbered = Label.model_validate({"column": "y", "outcomes": {1: {}, 0: {}}})
    assert list(numbered.outcomes) == ["1", "0"]  # unquoted numbers mean their text
    with pytest.raises(ValidationError, match="WON must follow SQL"):
        Outcome(stages=("WON",), at="closed")
    with pytest.raises(ValidationError, match="exactly one of at"):
        Outcome(stages=("LOST",))
    with pytest.raises(ValidationError, match="need `mrr`"):
        Label(column="stage", outcomes={"won": Outcome(stages=("SQL", "WON"), at="closed")})
    with pytest.raises(ValidationError, match="exactly one of column, fixed or row_order"):
        CreatedAt(column="created", fixed=datetime(2020, 1, 1).date())
    with pytest.raises(ValidationError, match="exactly one of column or value"):
        Source(column="channel", value="web")


@pytest.mark.parametrize("kind", ["x-education", "bank-marketing", "crm-opportunities"])
def test_shipped_mappings_are_valid(kind: str, tmp_path: Path) -> None:
    assert kind in known_kinds()
    path = mapping_path(kind)
    mapping = load_mapping(path)
    features, train = training_configs(mapping, path, tmp_path)
    check_label_timing(mapping, features, path)
    assert features.snapshot_row_budget >= 100_000  # every snapshot of these sets
    assert train.tuned_params == str(tmp_path / "tuned_conversion.yaml")


def test_outcomes_without_dates_must_give_one_honest_snapshot(tmp_path: Path) -> None:
    mapping = load_mapping(mapping_path("x-education"))
    features, _ = training_configs(mapping, tmp_path, tmp_path / "out")
    with pytest.raises(LeadscoreError, match="below features.snapshot_every_days"):
        check_label_timing(
            mapping, features.model_copy(update={"snapshot_max_age_days": 7}), tmp_path
        )
    with pytest.raises(LeadscoreError, match=r"outcomes\.0\.after_days must be at least"):
        check_label_timing(mapping, features.model_copy(update={"horizon_days": 45}), tmp_path)


def test_row_order_rebuilds_the_calendar() -> None:
    frame = pl.DataFrame(
        {
            "month": ["may", "may", "may", "jun", "dec", "mar", "mar"],
            "day": ["mon", "mon", "tue", "wed", "fri", "mon", "thu"],
        }
    )
    order = RowOrder(first_month="2008-05", month_column="month", weekday_column="day")
    got = row_order_times(frame, order, "test").to_list()
    day = [(t.date().isoformat(), t.second) for t in got]
    assert day == [
        ("2008-05-05", 0),  # the first Monday of May 2008
        ("2008-05-05", 1),  # same day: the row's position in seconds keeps the file order
        ("2008-05-06", 0),
        ("2008-06-04", 0),
        ("2008-12-05", 0),
        ("2009-03-02", 0),  # the month went back: a new year
        ("2009-03-05", 0),
    ]
    evenly = row_order_times(frame, order.model_copy(update={"weekday_column": None}), "t")
    assert evenly.is_sorted() and evenly.dt.month().to_list() == [5, 5, 5, 6, 12, 3, 3]
    with pytest.raises(LeadscoreError, match="first row's month is May, but"):
        row_order_times(frame, order.model_copy(update={"first_month": "2008-04"}), "test")


def _fixed_date_export(export: Export, tmp_path: Path, leads: int = 400) -> Path:
    """An export without any time: every lead on one date, a 0/1 outcome."""
    mapping = {
        "read": {"file": "deals.csv"},
        "lead_id": {"column": "id"},
        "source": {"value": "web"},
        "created_at": {"fixed": "2020-01-01"},
        "label": {
            "column": "won",
            "outcomes": {
                "1": {"stages": ["SQL"], "after_days": 1},
                "0": {"stages": ["LOST"], "after_days": 30},
            },
        },
        "attributes": [{"column": "size", "type": "number"}],
        "features": {"snapshot_max_age_days": 1},
        "train": {"tuned_params": None, "backtest": {"mode": "random"}},
    }
    rows = [f"L{i},{i % 2},{i % 7}" for i in range(leads)]
    src, path = export(rows, mapping, "id,won,size")
    out = tmp_path / "fixed"
    assert run_import(src, path, out) == 0
    return out


def test_random_folds_by_lead_when_all_creation_times_are_equal(
    export: Export, tmp_path: Path
) -> None:
    out = _fixed_date_export(export, tmp_path)
    data = load_data(out)
    features = load_config(out / "features.yaml", FeatureConfig)
    config = load_config(out / "train.yaml", TrainConfig)
    ts = build_training_set(data, features, config.seed)
    assert ts.rows.height == data.leads.height  # one labelled snapshot per lead, none dropped
    assert ts.converted.sum() == data.leads.height // 2
    folds = backtest_folds(ts.rows, config.backtest, features.horizon_days)
    tested = sorted(i for fold in folds for i in fold.test)
    assert tested == list(range(ts.rows.height))  # every lead tested once
    shares = [len(fold.test) / ts.rows.height for fold in folds]
    assert all(abs(share - 1 / len(folds)) < 0.08 for share in shares)
    # rolling origin cannot split equal creation times: no fold has a row to train on
    timed = config.backtest.model_copy(update={"mode": "time"})
    assert all(len(f.train) == 0 for f in backtest_folds(ts.rows, timed, features.horizon_days))


def test_random_folds_depend_on_the_lead_and_the_seed_only() -> None:
    ids = [f"lead-{i}" for i in range(2_000)]
    config = BacktestConfig(mode="random")

    def fold_of(lead_ids: list[str], backtest: BacktestConfig) -> dict[str, int]:
        rows = pl.DataFrame({"lead_id": lead_ids, "as_of": [datetime(2020, 1, 1)] * len(lead_ids)})
        folds = backtest_folds(rows, backtest, horizon_days=30)
        return {lead_ids[i]: fold.number for fold in folds for i in fold.test}

    full = fold_of(ids, config)
    part = ids[::3]
    assert all(full[i] == k for i, k in fold_of(part, config).items())
    other = fold_of(ids, config.model_copy(update={"seed": 1}))
    assert sum(full[i] != other[i] for i in ids) > 500
