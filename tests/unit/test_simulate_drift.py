"""`leadscore simulate --drift`: each scenario changes the world from its month on and not before,
and a run without drift is the run it always was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from features import contract as c
from features.errors import LeadscoreError
from features.tables import check_folder
from leadscore.cli import main
from leadscore.settings import default_config, load_config, validated
from leadscore.simulator.config import SimulationConfig
from leadscore.simulator.simulate import DriftChoice, run_simulation

CONFIG = load_config(default_config("simulate"), SimulationConfig)
MONTHS, PER_MONTH, SEED, FROM = 8, 1_500, 3, 4
START = datetime(CONFIG.start.year, CONFIG.start.month, CONFIG.start.day, tzinfo=UTC)
DRIFT_AT = START.replace(month=START.month + FROM)  # CONFIG starts in January
END = START.replace(month=START.month + MONTHS)
HORIZON = timedelta(days=30)
HALVED = CONFIG.drift.source_conversion_halves.source
Tables = dict[str, pl.DataFrame]


def _simulate(folder: Path, drift: str | None) -> Tables:
    run_simulation(
        CONFIG, folder, MONTHS, PER_MONTH, SEED, DriftChoice(drift, FROM) if drift else None
    )
    return {name: pl.read_parquet(folder / f"{name}.parquet") for name in (*c.TABLES, c.TRUTH)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str | None, Tables]:
    """The run without drift and one per scenario, all at the same seed."""
    scenarios = (None, "source_conversion_halves", "new_source", "event_type_stops")
    return {name: _simulate(tmp_path_factory.mktemp(name or "none"), name) for name in scenarios}


def _sql_within_30_days(t: Tables, of_source: bool, after_drift: bool) -> float:
    """The share of the halved source's leads (or of all others) that reached SQL within 30 days
    of creation, among leads created after the drift or 30 days or more before it (so that the
    window lies before it); leads whose window passes the end are left out."""
    sqls = t[c.STAGES].filter(pl.col(c.STAGE) == c.SQL)
    first = sqls.group_by(c.LEAD_ID).agg(sql=pl.col(c.TS).min())
    created = pl.col(c.CREATED_AT)
    when = (created >= DRIFT_AT) if after_drift else (created < DRIFT_AT - HORIZON)
    which = (pl.col(c.SOURCE) == HALVED) == of_source
    leads = t[c.LEADS].filter(when, which, created < END - HORIZON)
    reached = leads.join(first, on=c.LEAD_ID, how="left").select(
        (pl.col("sql") - created) <= HORIZON
    )
    return reached.to_series().fill_null(False).mean()


def test_source_conversion_halves_from_the_drift_on(runs) -> None:
    base, drifted = runs[None], runs["source_conversion_halves"]

    def ratio(of_source: bool, after_drift: bool) -> float:
        """The 30-day SQL share with drift over that without, at the same seed."""
        shares = [_sql_within_30_days(t, of_source, after_drift) for t in (drifted, base)]
        return shares[0] / shares[1]

    assert 0.3 < ratio(of_source=True, after_drift=True) < 0.7  # 0.5 ± 0.07 (1 sd)
    assert 0.8 < ratio(of_source=False, after_drift=True) < 1.25
    assert 0.75 < ratio(of_source=True, after_drift=False) < 1.33
    assert 0.8 < ratio(of_source=False, after_drift=False) < 1.25
    # Behaviour is what it would have been: the source's pricing views after the drift.
    views = [
        t[c.EVENTS]
        .filter(pl.col(c.EVENT_TYPE) == "pricing_view", pl.col(c.TS) >= DRIFT_AT)
        .join(t[c.LEADS].filter(pl.col(c.SOURCE) == HALVED), on=c.LEAD_ID)
        .height
        for t in (base, drifted)
    ]
    assert abs(views[1] / views[0] - 1) < 0.15
    # The truth is that of the changed hazard: p_sql still predicts who reached SQL.
    reached = drifted[c.TRUTH][c.LEAD_ID].is_in(
        drifted[c.STAGES].filter(pl.col(c.STAGE) == c.SQL)[c.LEAD_ID].implode()
    )
    p_sql = drifted[c.TRUTH]["p_sql"].to_numpy()
    assert abs(reached.sum() - p_sql.sum()) <= 4 * np.sqrt((p_sql * (1 - p_sql)).sum())


def test_new_source_appears_only_among_leads_from_the_drift_month(runs) -> None:
    newcomer = CONFIG.drift.new_source
    leads = runs["new_source"][c.LEADS].with_columns(
        new=pl.col(c.SOURCE) == newcomer.source, after=pl.col(c.CREATED_AT) >= DRIFT_AT
    )
    assert leads.filter(~pl.col("after"))["new"].sum() == 0
    assert abs(leads.filter("after")["new"].mean() - newcomer.share) < 0.03
    assert leads.filter("new")[c.PARTNER_ID].is_null().all()
    truth = runs["new_source"][c.TRUTH].join(leads, on=c.LEAD_ID).filter("after")
    fit = truth.group_by("new").agg(pl.col("hazard_base").log().mean()).sort("new")["hazard_base"]
    assert fit[1] < fit[0]  # its effect on fit is negative


def test_event_type_stops_from_the_drift_moment(runs) -> None:
    stopped = CONFIG.drift.event_type_stops.event_type
    base, drifted = runs[None], runs["event_type_stops"]
    kind = drifted[c.EVENTS].filter(pl.col(c.EVENT_TYPE) == stopped)
    assert kind.filter(pl.col(c.TS) >= DRIFT_AT).is_empty()
    assert kind.filter(pl.col(c.TS) < DRIFT_AT).height > 1_000
    lost = (pl.col(c.EVENT_TYPE) == stopped) & (pl.col(c.TS) >= DRIFT_AT)
    assert drifted[c.EVENTS].equals(base[c.EVENTS].filter(~lost))
    for name in (c.LEADS, c.STAGES, c.TRUTH):  # readiness and stages are untouched
        assert drifted[name].equals(base[name]), name


def test_without_drift_the_cli_writes_the_run_without_drift(tmp_path: Path) -> None:
    argv = ["simulate", "--months", "2", "--leads-per-month", "300", "--seed", "5"]
    assert main([*argv, "--out", str(tmp_path / "cli")]) == 0
    run_simulation(CONFIG, tmp_path / "api", 2, 300, 5, drift=None)
    for name in (*c.TABLES, c.TRUTH):
        path = f"{name}.parquet"
        assert (tmp_path / "cli" / path).read_bytes() == (tmp_path / "api" / path).read_bytes()


def test_cli_says_which_drift_from_when(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data"
    argv = ["simulate", "--out", str(out), "--months", "2", "--leads-per-month", "50"]
    assert main([*argv, "--drift", "new_source", "--drift-from", "1"]) == 0
    assert "drift: new_source from 2024-02-01" in capsys.readouterr().out
    assert check_folder(out)[0] == []


@pytest.mark.parametrize(
    "tail",
    [
        ["--drift", "new_source", "--drift-from", "8"],
        ["--drift", "event_type_stops", "--drift-from", "0"],
        ["--drift", "source_conversion_halves"],  # the config's 18 is past 8 months
        ["--drift-from", "3"],
    ],
)
def test_bad_drift_from_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tail: list[str]
) -> None:
    out = tmp_path / "data"
    assert main(["simulate", "--out", str(out), "--months", "8", *tail]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--drift-from" in err
    assert not out.exists()  # refused before anything was created


@pytest.mark.parametrize(
    ("scenario", "key", "value", "named"),
    [
        ("source_conversion_halves", "source", "organic_serach", "organic_serach"),
        ("new_source", "source", "paid", "new_source.source 'paid'"),
        ("event_type_stops", "event_type", "pricing_veiw", "event_type_stops.event_type:"),
    ],
)
def test_config_names_a_bad_source_or_event_type(
    scenario: str, key: str, value: str, named: str
) -> None:
    raw = CONFIG.model_dump()
    raw["drift"][scenario][key] = value
    with pytest.raises(LeadscoreError, match=f"simulate.yaml: drift.*{named}"):
        validated(SimulationConfig, raw, "simulate.yaml")
