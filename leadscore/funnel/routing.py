"""The value of model routing: what sales would catch by working the model's top leads a day.

Sales can take K new leads a day (configs/routing.yaml: reps × leads per rep). On the newest
(test) period of the champion's own time split, each day's open-lead snapshots are ranked by
the champion, by random order and by a few one-line rules ("attended a webinar", "pricing
view in the last 7 days"); each ranking routes its top K, and we count the SQLs within the
horizon and the contracts those rows went on to. Snapshots are a sample of the open leads
(every `snapshot_every_days`, kept with `snapshot_sample_rate`), so K is scaled the way
training's recall@capacity is (`capacity_per_snapshot_day`).

Ties (every rule, and random order) are broken at random, and we count the *expected*
capture rather than one draw: exact, repeatable and fair to coarse rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import mlflow
import numpy as np
import polars as pl

from features import contract as c
from features.errors import LeadscoreError
from features.tables import LeadData
from leadscore.funnel.figures import FunnelConfig, RoutingRule
from training import registry
from training.config import TrainConfig
from training.dataset import featurize, split_rows
from training.models import ConversionModel
from training.train import capacity_per_snapshot_day


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

    `test_from` is the first snapshot of the test leads: the newest cohort under the usual
    time split, a random share of all leads under `split.mode: random`.
    """

    model_version: int
    split_mode: str
    test_from: datetime
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


def captured(y: np.ndarray, score: np.ndarray, day: np.ndarray, k: int) -> float:
    """Expected sum of `y` over each day's top `k` rows by `score`, ties in random order.

    Per day, whole groups of equal score are taken while they fit; the group that straddles
    the k-th place gives each member the chance (places left) / (group size). With distinct
    scores this is training.metrics.recall_at_capacity's count.
    """
    if y.size == 0:
        return 0.0
    groups = (
        pl.DataFrame({"day": day, "score": score, "y": y.astype(np.float64)})
        .group_by("day", "score")
        .agg(n=pl.len().cast(pl.Int64), y=pl.col("y").sum())  # signed: k - before < 0
        .sort(["day", "score"], descending=[False, True])
        .with_columns(before=(pl.col("n").cum_sum() - pl.col("n")).over("day"))
        .with_columns(take=(k - pl.col("before")).clip(0, pl.col("n")))
    )
    return float((groups["take"] / groups["n"] * groups["y"]).sum())


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


def load_champion(dest: Path) -> tuple[int, ConversionModel] | None:
    """The champion conversion model of the configured MLflow store, or None if there is none."""
    registry.configure()
    try:
        version = registry.version_of(registry.CONVERSION, registry.CHAMPION)
    except LeadscoreError:
        return None
    return version, registry.load_conversion(version, dest)


def trained_until(version: int) -> datetime | None:
    """The end of the data the champion's training run saw (its logged fingerprint)."""
    params = mlflow.get_run(registry.run_of(registry.CONVERSION, version)).data.params
    end = params.get("data.data_end")
    return datetime.fromisoformat(end) if end else None


def routing_value(
    data: LeadData,
    version: int,
    model: ConversionModel,
    train: TrainConfig,
    capacity_per_day: int,
    config: FunnelConfig,
) -> RoutingValue | None:
    """Model vs random vs the best rule on the test period of `data` (already cut at as_of).

    The snapshots, split and horizon are the champion's own (its spec's feature config and
    the train config's split), so this is the period the champion was judged on. None when
    that period holds no snapshot that reached SQL (too little data after as_of's cut).
    """
    features, names = model.spec.config, model.spec.feature_names
    check_rules(config.rules, names)
    train = train.model_copy(update={"capacity_per_day": capacity_per_day})
    rows, _ = split_rows(data, features, train)
    test = rows.filter(pl.col("split") == "test").sort(c.LEAD_ID, "as_of")
    if test.height == 0 or test["converted"].sum() == 0:
        return None
    split = featurize(data, model.spec, test)
    day = test["as_of"].dt.date().to_physical().to_numpy()
    targets = {"sql": split.converted, "contracts": test["event_observed"].to_numpy()}
    per_day = capacity_per_snapshot_day(features, train)
    scores = {f"model v{version}": model.predict(split.X), "random order": np.zeros(test.height)}
    scores |= {rule.name: rule_score(rule, names, split.X) for rule in config.rules}

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
        model_version=version,
        split_mode=train.split.mode,
        test_from=test["as_of"].min(),
        rows=test.height,
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
