"""The value of model routing: what sales would catch by working the model's top leads a day.

Sales can take K new leads a day (configs/routing.yaml: reps × leads per rep). On the
champion's backtest periods, each day's open-lead snapshots are ranked by the champion's
out-of-fold predictions (its training run logged them: scores of a model that had not seen
those periods), by random order and by a few one-line rules ("attended a webinar", "pricing
view in the last 7 days"); each ranking routes its top K, and we count the SQLs within the
horizon and the contracts those rows went on to. Snapshots are a sample of the open leads
(every `snapshot_every_days`, within the row budget), so K is scaled the way training's
recall@capacity is, and each ranking's catch is counted as training counts recall@capacity
(training/evaluation.py `capacity_per_snapshot_day`, training/metrics.py `captured`): ties
(every rule, and random order) are broken at random, and the *expected* capture is counted
rather than one draw — exact, repeatable and fair to coarse rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from features import contract as c
from features.errors import LeadscoreError
from features.tables import LeadData
from features.vectors import table_features, to_matrix
from leadscore.funnel.figures import FunnelConfig, RoutingRule
from training.evaluation import capacity_per_snapshot_day
from training.metrics import captured
from training.models import ConversionModel
from training.pair import CONVERSION
from training.registry import CHAMPION, PREDICTIONS, Registry


@dataclass(frozen=True)
class Capture:
    """What one ranking routes to sales at capacity: expected SQLs and contracts caught."""

    strategy: str
    sql: float
    contracts: float
    sql_share: float
    contract_share: float


@dataclass(frozen=True)
class CurvePoint:
    """Share of the period's SQLs caught at a multiple of the sales capacity."""

    capacity_per_day: float
    leads_per_snapshot_day: int
    model: float
    random: float
    best_rule: float


@dataclass(frozen=True)
class RoutingValue:
    """Model, random order and each rule at the sales capacity, and the capture curve.

    `period_from` is the first snapshot of the champion's backtest periods that the report's
    data can judge (its label known by the data's end).
    """

    model_version: int
    period_from: datetime
    rows: int
    days: int
    horizon_days: int
    capacity_per_day: int
    leads_per_snapshot_day: int
    sqls: int
    contracts: int
    model: Capture
    random: Capture
    rules: tuple[Capture, ...]
    best_rule: str | None
    curve: tuple[CurvePoint, ...]


def check_rules(rules: tuple[RoutingRule, ...], names: list[str]) -> None:
    """Refuse a rule on a feature the champion does not have, naming similar ones."""
    for rule in rules:
        if rule.feature not in names:
            stem = rule.feature.split("_")[0]
            similar = ", ".join(n for n in names if n.startswith(stem))[:200]
            raise LeadscoreError(
                f"funnel rule {rule.name!r}: the champion has no feature {rule.feature!r}"
                + (f" (similar: {similar})" if similar else "")
            )


def rule_score(rule: RoutingRule, names: list[str], X: np.ndarray) -> np.ndarray:
    """The rule as a ranking score: a 0/1 flag with min_value, else the feature itself."""
    values = X[:, names.index(rule.feature)]
    if rule.min_value is None:
        return np.where(np.isnan(values), -np.inf, values)
    return (np.nan_to_num(values, nan=-np.inf) >= rule.min_value).astype(np.float64)


@dataclass(frozen=True)
class Champion:
    """The champion conversion model and its backtests' out-of-fold predictions."""

    version: int
    model: ConversionModel
    predictions: pl.DataFrame  # lead_id, as_of, converted, event_observed, p
    sample_rate: float  # the share of all snapshots its training rows were


def load_champion(registry: Registry, dest: Path) -> Champion | None:
    """The champion of the store, or None if there is none."""
    try:
        version = registry.version_of(CONVERSION, CHAMPION)
    except LeadscoreError:
        return None
    run_id = registry.run_of(CONVERSION, version)
    facts = registry.run_dict(run_id, "data_fingerprint.json") or {}
    return Champion(
        version,
        registry.load_conversion(version, dest),
        registry.run_table(run_id, PREDICTIONS, dest),
        float(facts.get("snapshot_sample_rate", 1.0)),
    )


def routing_value(
    data: LeadData, champion: Champion, capacity_per_day: int, config: FunnelConfig
) -> RoutingValue | None:
    """Model vs random vs the best rule on the champion's backtest rows that `data` (already
    cut at as_of) can judge. None when those rows hold no SQL."""
    model = champion.model
    features, names = model.spec.config, model.spec.feature_names
    check_rules(config.rules, names)
    horizon = pl.duration(days=features.horizon_days)
    rows = champion.predictions.filter(
        (pl.col("as_of") + horizon <= data.end)
        & pl.col(c.LEAD_ID).is_in(data.leads[c.LEAD_ID].implode())
    ).sort(c.LEAD_ID, "as_of")
    if rows.height == 0 or rows["converted"].sum() == 0:
        return None
    X = to_matrix(
        model.spec,
        table_features(
            data, model.spec, rows[c.LEAD_ID].to_list(), rows["as_of"].dt.epoch("ms").to_numpy()
        ),
    )
    day = rows["as_of"].dt.date().to_physical().to_numpy()
    targets = {
        "sql": rows["converted"].to_numpy().astype(np.float64),
        "contracts": rows["event_observed"].to_numpy(),
    }
    per_day = capacity_per_snapshot_day(
        capacity_per_day, champion.sample_rate, features.snapshot_every_days
    )
    scores = {
        f"model v{champion.version}": rows["p"].to_numpy(),
        "random order": np.zeros(rows.height),
    }
    scores |= {rule.name: rule_score(rule, names, X) for rule in config.rules}

    def capture(name: str, k: int) -> Capture:
        hits = {t: captured(y, scores[name], day, k) for t, y in targets.items()}
        totals = {t: max(float(y.sum()), 1.0) for t, y in targets.items()}
        return Capture(
            name, hits["sql"], hits["contracts"], *(hits[t] / totals[t] for t in targets)
        )

    k = max(1, round(per_day))
    model_name, random_name, *rule_names = scores
    rules = tuple(capture(name, k) for name in rule_names)
    best = max(rules, key=lambda r: r.sql, default=None)
    curve = []
    for multiple in config.capacity_multiples:
        k_m = max(1, round(per_day * multiple))
        shares = [
            capture(name, k_m).sql_share if name else float("nan")
            for name in (model_name, random_name, best.strategy if best else None)
        ]
        curve.append(CurvePoint(capacity_per_day * multiple, k_m, *shares))
    return RoutingValue(
        model_version=champion.version,
        period_from=rows["as_of"].min(),
        rows=rows.height,
        days=int(np.unique(day).size),
        horizon_days=features.horizon_days,
        capacity_per_day=capacity_per_day,
        leads_per_snapshot_day=k,
        sqls=int(targets["sql"].sum()),
        contracts=int(targets["contracts"].sum()),
        model=capture(model_name, k),
        random=capture(random_name, k),
        rules=rules,
        best_rule=best.strategy if best else None,
        curve=tuple(curve),
    )
