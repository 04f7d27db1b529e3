"""`leadscore monitor`'s run: the champion and its reference, the checks, and their outputs
(terminal, JSON, an offline HTML page, an MLflow run named monitor)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import polars as pl
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from features import contract as c
from features.errors import LeadscoreError
from features.tables import LeadData
from leadscore.funnel.figures import RoutingRule
from leadscore.funnel.report import Outputs, plain, write_report
from leadscore.monitor.checks import Scored, breaches, by_source, model_vs_rule, period_figures
from leadscore.monitor.config import MonitorConfig
from leadscore.monitor.findings import Findings, PeriodFigures
from leadscore.monitor.health import health
from leadscore.monitor.population import Monitored, period_of, scored_population, window
from training.pair import CONVERSION, VELOCITY
from training.policy import ACTIVE_SALES, Policy
from training.reference import REFERENCE, Reference
from training.registry import CHAMPION, Registry
from training.report import figure_png, render


@dataclass(frozen=True)
class Judging:
    """What a run judges by: the monitor's thresholds, the routing policy whose tiers send
    leads to sales, and the one-line rules the model must beat (configs/funnel.yaml)."""

    config: MonitorConfig
    policy: Policy
    rules: tuple[RoutingRule, ...]


def load_monitored(registry: Registry) -> Monitored:
    """The champions (velocity where the data could train one) and the reference the
    conversion model's training run recorded."""
    conversion = registry.version_of(CONVERSION, CHAMPION)
    raw = registry.run_dict(registry.run_of(CONVERSION, conversion), REFERENCE)
    if raw is None:
        raise LeadscoreError(
            f"{CONVERSION} v{conversion} was trained before training runs recorded the "
            f"reference the monitor compares with ({REFERENCE}): retrain it with this code"
        )
    try:
        velocity: int | None = registry.version_of(VELOCITY, CHAMPION)
    except LeadscoreError:
        velocity = None  # no signed contracts with dates to train one on
    with tempfile.TemporaryDirectory(prefix="leadscore-monitor-") as tmp:
        return Monitored(
            registry.load_conversion(conversion, Path(tmp) / "conversion"),
            conversion,
            registry.load_velocity(velocity, Path(tmp) / "velocity") if velocity else None,
            velocity,
            Reference.from_dict(raw),
        )


def monitor(
    data: LeadData, as_of: datetime | None, champion: Monitored, judging: Judging
) -> Findings:
    """Every check on the champion's recent periods as of `as_of` (default: the data's end)."""
    config = judging.config
    data, moment = data.as_of(as_of)
    reference, spec = champion.reference, champion.conversion.spec
    span = window(moment, reference.data_end, config)
    if span.since >= span.end:
        raise LeadscoreError(
            f"--as-of {moment:%Y-%m-%d %H:%M}: no complete {config.period} since the champion's "
            f"training data ended ({reference.data_end:%Y-%m-%d %H:%M}); nothing to monitor yet"
        )
    pop = scored_population(data, champion, span, config)
    created = data.leads.filter(pl.col(c.CREATED_AT).is_between(span.since, span.end, "left"))
    new_leads = dict(
        created.group_by(period_of(pl.col(c.CREATED_AT), config).alias("p")).len().iter_rows()
    )
    periods = period_figures(Scored(pop, spec, reference, config, moment), span, new_leads)
    judged = next((f.start for f in reversed(periods) if f.matured), None)
    sources = by_source(pop, judged, config) if judged is not None else []
    active = min(
        (t.min_score for t in judging.policy.routing.tiers if t.route == ACTIVE_SALES),
        default=None,
    )
    rule = (
        model_vs_rule(pop, spec, active, judging.rules, config.calibration.level)
        if active is not None
        else None
    )
    state = health(data, spec, reference, span.starts[-1], span.end)
    found = breaches(periods, sources, rule, state, reference, config)
    return Findings(moment, span, periods, sources, judged, rule, state, found)


def print_findings(findings: Findings, console: Console) -> None:
    table = Table(title=f"champion health by period, as of {findings.as_of:%Y-%m-%d %H:%M}")
    for header in (
        "period", "rows", "score PSI", "max feature PSI", "labelled", "predicted",
        "observed [interval]", "AUC",
    ):  # fmt: skip
        table.add_column(header, justify="left" if header == "period" else "right")
    for f in findings.periods:
        cal = f.calibration
        table.add_row(
            f"{f.start:%Y-%m-%d}",
            f"{f.rows:,}",
            f"{f.score_psi:.3f}",
            f"{f.max_feature_psi:.3f}",
            f"{f.labelled:,}" + ("" if f.matured else " (maturing)"),
            f"{cal.predicted:.3f}" if cal else "",
            f"{cal.observed.rate:.3f} [{cal.observed.low:.3f}, {cal.observed.high:.3f}]"
            if cal
            else "",
            f"{f.auc:.3f}",
        )
    console.print(table)
    if findings.rule is not None and findings.rule.best_rule is not None:
        r = findings.rule
        console.print(
            f"model against the rule (matured rows): the tiers sent {r.routed:,} to sales, SQL "
            f"rate {r.model.rate:.3f}; {r.best_rule!r} picking as many: {r.rule_sql_rate:.3f}"
        )
    for breach in findings.breaches:
        console.print(f"BREACH {breach.line()}", highlight=False)
    if not findings.breaches:
        console.print("healthy: no threshold of the monitor config crossed")


def to_json(findings: Findings) -> str:
    body = plain(findings) | {"healthy": not findings.breaches}
    return json.dumps(body, indent=1, ensure_ascii=False, allow_nan=False)


def pictures(periods: list[PeriodFigures]) -> dict[str, Figure]:
    """Calibration by period (observed with its interval) and drift by period."""
    calibration, ax = plt.subplots(figsize=(6, 4))
    shown = [f for f in periods if f.calibration is not None]
    when = [f.start for f in shown]
    observed = [f.calibration.observed for f in shown]
    ax.plot(when, [f.calibration.predicted for f in shown], "o-", label="predicted")
    ax.errorbar(
        when,
        [o.rate for o in observed],
        yerr=[[o.rate - o.low for o in observed], [o.high - o.rate for o in observed]],
        fmt="s",
        label="observed (matured labels)",
    )
    ax.set(title="P(SQL within the horizon) by period", ylabel="rate")
    ax.legend()
    calibration.autofmt_xdate()
    drift, ax = plt.subplots(figsize=(6, 4))
    starts = [f.start for f in periods]
    ax.plot(starts, [f.score_psi for f in periods], "o-", label="score")
    ax.plot(starts, [f.max_feature_psi for f in periods], "s--", label="largest feature PSI")
    ax.set(title="Drift against the training reference (PSI)", ylabel="PSI")
    ax.legend()
    drift.autofmt_xdate()
    return {"calibration_by_period": calibration, "drift_by_period": drift}


def to_html(findings: Findings) -> str:
    sections = {
        "breaches": {b.line(): "breach" for b in findings.breaches} or {"none": "healthy"},
        "periods": {
            f"{f.start:%Y-%m-%d}": json.dumps(plain(f), ensure_ascii=False)
            for f in findings.periods
        },
        "calibration by source (judged period)": {
            cal.group: json.dumps(plain(cal)) for cal in findings.by_source
        },
        "model against the rule": {"figures": json.dumps(plain(findings.rule))},
        "data health (newest period)": {"figures": json.dumps(plain(findings.health))},
    }
    images = {name: figure_png(fig) for name, fig in pictures(findings.periods).items()}
    return render(
        f"leadscore monitor — as of {findings.as_of:%Y-%m-%d %H:%M} UTC", sections, images
    )


def metrics(findings: Findings) -> dict[str, float]:
    out = {"breaches": float(len(findings.breaches))}
    if findings.periods:
        newest = findings.periods[-1]
        out |= {"score_psi": newest.score_psi, "max_feature_psi": newest.max_feature_psi}
    judged = next((f for f in reversed(findings.periods) if f.matured and f.calibration), None)
    if judged is not None:
        out |= {"observed_rate": judged.calibration.observed.rate, "auc": judged.auc}
        out |= {"predicted_rate": judged.calibration.predicted, "ece": judged.ece}
    return {k: v for k, v in out.items() if v == v}


def run_monitor(
    data: LeadData,
    as_of: datetime | None,
    judging: Judging,
    registry: Registry,
    outputs: Outputs | None = None,
) -> tuple[Findings, str]:
    """Check, print, write and record the champion's health as a run named "monitor"."""
    champion = load_monitored(registry)
    findings = monitor(data, as_of, champion, judging)
    config = judging.config
    print_findings(findings, Console())
    text, page = to_json(findings), to_html(findings)
    outputs = outputs or Outputs()
    for path, content in ((outputs.json, text), (outputs.html, page)):
        if path is not None:
            write_report(Path(path), content)
    with registry.run("monitor") as run:
        run.params(
            {
                "as_of": findings.as_of.isoformat(),
                "conversion_version": champion.conversion_version,
                "velocity_version": champion.velocity_version,
                "period": config.period,
                "lookback_periods": config.lookback_periods,
            }
        )
        run.metrics(metrics(findings))
        run.text(text, "monitor.json")
        run.text(page, "monitor_report.html")
    return findings, run.id
