"""The monitor's figures, period by period, and the breaches among them: each defined once.

Four checks, each judged on the newest period that can answer it (older periods in the window
are context):
- drift: PSI of every model input and of the score against the training reference, on the
  newest complete period;
- calibration: predicted against observed P(SQL within the horizon), overall and by source,
  with Wilson intervals wide enough for the number of groups (Bonferroni), on the newest
  period whose labels have all matured; the AUC there;
  the velocity model's P(contract within 90 days) against Kaplan-Meier once 90 days have
  passed;
- the model against the rule: on every matured row of the window, the SQL rate of the leads
  the tiers send to sales against the same number picked by the best one-line rule (a breach
  when the rule beats the model's whole interval);
- data health (leadscore/monitor/health.py): the newest period's new leads and events.
A breach needs both a significant and a material difference (configs/monitor.yaml), so a
large sample does not alarm on a trivial gap, nor a small one on noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from features import contract as c
from features.profile import psi
from features.spec import FeatureSpec
from leadscore.funnel.facts import Rate, wilson
from leadscore.funnel.figures import RoutingRule
from leadscore.funnel.routing import check_rules, rule_score
from leadscore.monitor.config import MonitorConfig
from leadscore.monitor.findings import (
    Breach,
    Calibration,
    Health,
    PeriodFigures,
    RuleComparison,
)
from leadscore.monitor.health import health_breaches
from leadscore.monitor.population import VELOCITY_DAYS, Population, Window
from training.metrics import captured, expected_calibration_error, kaplan_meier_share
from training.reference import Reference

NAN = float("nan")


@dataclass(frozen=True)
class Scored:
    """A population the champion scored, and what it is judged against."""

    pop: Population
    spec: FeatureSpec
    reference: Reference
    config: MonitorConfig
    as_of: datetime


def calibration(group: str, y: np.ndarray, p: np.ndarray, level: float) -> Calibration:
    observed = wilson(int(y.sum()), len(y), level)
    predicted = float(p.mean()) if len(p) else NAN
    ratio = observed.rate / predicted if predicted > 0 else NAN
    return Calibration(group, len(y), predicted, observed, ratio)


def miscalibrated(cal: Calibration, max_ratio: float, level: float) -> Rate | None:
    """The observed rate's interval at `level` when it misses the prediction and the two
    differ by more than max_ratio; None when the group is calibrated."""
    observed = wilson(cal.observed.hits, cal.observed.total, level)
    outside = not (observed.low <= cal.predicted <= observed.high)
    return observed if outside and not (1 / max_ratio <= cal.ratio <= max_ratio) else None


def family_level(level: float, tests: int) -> float:
    """The level of each of `tests` intervals that keeps the chance of any false alarm among
    them at 1 − level (Bonferroni): a check of every source is one check, not nine."""
    return 1 - (1 - level) / max(tests, 1)


def drift_of(X: np.ndarray, spec: FeatureSpec, reference: Reference) -> dict[str, float]:
    """PSI of every model input against its reference histogram."""
    return {
        name: psi(reference.features[name].shares, reference.features[name].shares_of(X[:, j]))
        for j, name in enumerate(spec.feature_names)
        if name in reference.features
    }


def _period_figures(
    scored: Scored, start: datetime, next_start: datetime, members: np.ndarray, new_leads: int
) -> PeriodFigures:
    pop, config = scored.pop, scored.config
    rows = pop.rows[members]
    p = pop.p[members]
    feature_psi = drift_of(pop.X[members], scored.spec, scored.reference)
    top = dict(sorted(feature_psi.items(), key=lambda kv: -kv[1])[:5])
    labels = rows["converted"].to_numpy()
    known = ~np.isnan(labels.astype(np.float64))
    y = labels[known].astype(np.float64)
    cal = calibration("all", y, p[known], config.calibration.level) if known.any() else None
    both = 0 < y.sum() < len(y)
    remaining = rows["remaining_days"].to_numpy()
    observed = rows["event_observed"].to_numpy()
    horizon = timedelta(days=scored.spec.config.horizon_days)
    score = scored.reference.score
    return PeriodFigures(
        start=start,
        rows=members.size,
        score_psi=psi(score.shares, score.shares_of(p)),
        max_feature_psi=max(feature_psi.values(), default=NAN),
        top_features=top,
        labelled=int(known.sum()),
        matured=next_start + horizon <= scored.as_of,
        calibration=cal,
        ece=expected_calibration_error(y, p[known]) if known.any() else NAN,
        auc=float(roc_auc_score(y, p[known])) if both else NAN,
        velocity_predicted=float(pop.p_contract[members].mean()),
        velocity_kaplan_meier=kaplan_meier_share(remaining, observed, VELOCITY_DAYS),
        velocity_matured=next_start + timedelta(days=VELOCITY_DAYS) <= scored.as_of,
        new_leads=new_leads,
    )


def period_figures(
    scored: Scored, span: Window, new_leads: dict[datetime, int]
) -> list[PeriodFigures]:
    """Figures of every period of the window that holds scored rows."""
    period = scored.pop.rows["period"].to_numpy()
    bounds = [*span.starts, span.end]
    out = []
    for start, next_start in zip(bounds, bounds[1:], strict=False):
        members = np.flatnonzero(period == np.datetime64(start.replace(tzinfo=None), "us"))
        if members.size:
            out.append(_period_figures(scored, start, next_start, members, new_leads.get(start, 0)))
    return out


def by_source(pop: Population, start: datetime, config: MonitorConfig) -> list[Calibration]:
    """Calibration of each source's matured rows in the period starting at `start`."""
    rows = pop.rows.with_row_index("_i").filter(
        (pl.col("period") == start) & pl.col("converted").is_not_null()
    )
    out = []
    for (source,), part in rows.group_by(c.SOURCE, maintain_order=True):
        i = part["_i"].to_numpy()
        y = part["converted"].to_numpy().astype(np.float64)
        out.append(calibration(str(source), y, pop.p[i], config.calibration.level))
    return sorted(out, key=lambda cal: -cal.labelled)


def model_vs_rule(
    pop: Population,
    spec: FeatureSpec,
    active_min_score: float,
    rules: tuple[RoutingRule, ...],
    level: float,
) -> RuleComparison | None:
    """On every matured row: SQL rate of the rows the tiers send to active sales (with a
    Wilson interval at `level`), against the expected SQL rate of as many rows picked by each
    rule (ties in random order)."""
    known = pop.rows["converted"].is_not_null().to_numpy()
    if not known.any():
        return None
    y = pop.rows["converted"].to_numpy()[known].astype(np.float64)
    routed = 100 * pop.p[known] >= active_min_score
    n = int(routed.sum())
    model = wilson(int(y[routed].sum()), n, level)
    names = spec.feature_names
    check_rules(rules, names)
    one_day = np.zeros(len(y))
    caught = {
        rule.name: captured(y, rule_score(rule, names, pop.X[known]), one_day, n) for rule in rules
    }
    best = max(caught, key=lambda name: caught[name], default=None)
    rate = caught[best] / n if best is not None and n else NAN
    return RuleComparison(n, model, best, rate)


def breaches(
    periods: list[PeriodFigures],
    sources: list[Calibration],
    rule: RuleComparison | None,
    state: Health | None,
    reference: Reference,
    config: MonitorConfig,
) -> list[Breach]:
    """Every threshold of configs/monitor.yaml crossed in the periods each check judges."""
    out: list[Breach] = []
    newest = periods[-1] if periods else None
    if newest is not None and newest.rows >= config.drift.min_rows:
        when = f"{newest.start:%Y-%m-%d}"
        if newest.score_psi > config.drift.max_score_psi:
            out.append(Breach("drift", "score", when, f"PSI {newest.score_psi:.3f}"))
        for name, value in newest.top_features.items():
            if value > config.drift.max_feature_psi:
                out.append(Breach("drift", name, when, f"PSI {value:.3f}"))
    judged = next((f for f in reversed(periods) if f.matured), None)
    cal_config = config.calibration
    if judged is not None and judged.calibration is not None:
        when = f"{judged.start:%Y-%m-%d}"
        tested = [
            cal for cal in (judged.calibration, *sources) if cal.labelled >= cal_config.min_labelled
        ]
        level = family_level(cal_config.level, len(tested))
        for cal in tested:
            if (interval := miscalibrated(cal, cal_config.max_ratio, level)) is not None:
                subject = "all leads" if cal.group == "all" else f"source={cal.group}"
                out.append(Breach("calibration", subject, when, _calibration_line(cal, interval)))
        floor = reference.backtest_auc - cal_config.max_auc_drop
        if judged.labelled >= cal_config.min_labelled and judged.auc < floor:
            out.append(
                Breach(
                    "calibration",
                    "AUC",
                    when,
                    f"{judged.auc:.3f} against {reference.backtest_auc:.3f} in the backtests",
                )
            )
    velocity = next((f for f in reversed(periods) if f.velocity_matured), None)
    if (
        velocity is not None
        and velocity.rows >= cal_config.min_labelled
        and not math.isnan(velocity.velocity_predicted)  # NaN: no velocity model
    ):
        ratio = velocity.velocity_kaplan_meier / max(velocity.velocity_predicted, 1e-9)
        km = wilson(
            round(velocity.velocity_kaplan_meier * velocity.rows), velocity.rows, cal_config.level
        )
        outside = not (km.low <= velocity.velocity_predicted <= km.high)
        if outside and not (1 / cal_config.max_ratio <= ratio <= cal_config.max_ratio):
            out.append(
                Breach(
                    "calibration",
                    f"P(contract within {VELOCITY_DAYS} days)",
                    f"{velocity.start:%Y-%m-%d}",
                    f"Kaplan-Meier {velocity.velocity_kaplan_meier:.3f} against predicted "
                    f"{velocity.velocity_predicted:.3f}",
                )
            )
    if (
        rule is not None
        and rule.best_rule is not None
        and rule.routed >= config.model_vs_rule.min_routed
        and rule.model.high < rule.rule_sql_rate
    ):
        out.append(
            Breach(
                "model_vs_rule",
                rule.best_rule,
                "window",
                f"the tiers' {rule.routed} sales leads reached SQL at {rule.model.rate:.3f} "
                f"[{rule.model.low:.3f}, {rule.model.high:.3f}], the rule's pick of as many at "
                f"{rule.rule_sql_rate:.3f}",
            )
        )
    if state is not None:
        out += health_breaches(state, reference, config)
    return out


def _calibration_line(cal: Calibration, interval: Rate) -> str:
    return (
        f"observed {interval.rate:.3f} [{interval.low:.3f}, {interval.high:.3f}] against "
        f"predicted {cal.predicted:.3f} on {cal.labelled} matured rows"
    )


def _calibration_line(cal: Calibration, interval: Rate) -> str:
    return (
        f"observed {interval.rate:.3f} [{interval.low:.3f}, {interval.high:.3f}] against "
        f"predicted {cal.predicted:.3f} on {cal.labelled} matured rows"
    )
