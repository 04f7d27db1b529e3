"""`leadscore funnel`'s outputs: terminal tables, JSON, a self-contained HTML page, MLflow.

The figures come from `leadscore/funnel/figures.py` (and the champion comparison from
`leadscore/funnel/routing.py`); this module assembles and delivers them. The tables of
`leadscore/funnel/tables.py` are rendered twice, by rich and as HTML, so the two agree. The
HTML opens offline: no scripts, no links out, images inlined as data: URIs.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import tempfile
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table as RichTable

from features.tables import LeadData
from leadscore.funnel import plots
from leadscore.funnel.figures import FunnelConfig, FunnelFigures, funnel_figures
from leadscore.funnel.routing import RoutingValue, load_champion, routing_value
from leadscore.funnel.tables import tables
from training.pair import CONVERSION
from training.policy import Policy
from training.registry import CHAMPION, Registry
from training.report import figure_png


@dataclass(frozen=True)
class FunnelReport:
    figures: FunnelFigures
    routing: RoutingValue | None
    notes: tuple[str, ...]


def build_report(
    data: LeadData,
    as_of: datetime | None,
    config: FunnelConfig,
    policy: Policy,
    registry: Registry,
) -> FunnelReport:
    """The funnel figures, and the value of model routing when a champion exists."""
    figures = funnel_figures(data, as_of, config, policy.economics)
    notes: list[str] = []
    value = _model_routing(data.as_of(as_of)[0], config, policy, registry, notes)
    return FunnelReport(figures, value, tuple(notes))


def _model_routing(
    data: LeadData, config: FunnelConfig, policy: Policy, registry: Registry, notes: list[str]
) -> RoutingValue | None:
    """The champion's routing value, or None with a note saying why there is none."""
    capacity = policy.capacity_per_day
    if capacity is None:
        notes.append(
            "the routing config sets no sales capacity: model routing, which is judged at "
            "that capacity, skipped"
        )
        return None
    with tempfile.TemporaryDirectory() as tmp:
        champion = load_champion(registry, Path(tmp))
        if champion is None:
            notes.append(
                f"no {CONVERSION}@{CHAMPION} in {registry.uri}: "
                "model routing skipped (run `leadscore train` first)"
            )
            return None
        value = routing_value(data, champion, capacity, config)
    if value is None:
        notes.append(
            "model routing skipped: the champion's backtest periods hold no SQL this data can "
            "judge (as of before them, or other data)"
        )
    return value


def print_report(report: FunnelReport, console: Console) -> None:
    """The tables for the terminal (first column left, figures right-aligned), then notes."""
    for table in tables(report.figures, report.routing):
        shown = RichTable(title=table.title, title_justify="left")
        for i, header in enumerate(table.headers):
            shown.add_column(header, justify="left" if i == 0 else "right")
        for row in table.rows:
            shown.add_row(*row)
        console.print(shown)
    for note in report.notes:
        console.print(f"note: {note}")


def plain(value: Any) -> Any:
    """Results as JSON values: dataclasses as objects, non-finite floats as null."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def to_json(report: FunnelReport) -> str:
    """Every figure, unrounded, for other tools: the funnel's fields, model_routing, notes."""
    body = plain(report.figures) | {
        "model_routing": plain(report.routing),
        "notes": list(report.notes),
    }
    return json.dumps(body, indent=1, ensure_ascii=False, allow_nan=False)


def pictures(report: FunnelReport) -> dict[str, bytes]:
    """The report's figures as PNG bytes, by name (the names caption them in the HTML)."""
    f = report.figures
    figs = {
        "funnel": plots.funnel(f),
        "conversion_by_source": plots.by_source(f),
        "monthly_cohorts": plots.cohorts(f),
        "deal_velocity": plots.velocity(f.velocity),
        "nurture_pool_age": plots.nurture_ages(f),
    }
    if report.routing is not None:
        figs["capture_vs_capacity"] = plots.capture_curve(report.routing)
    return {name: figure_png(fig) for name, fig in figs.items()}


def to_html(report: FunnelReport, images: dict[str, bytes]) -> str:
    """The page: tables, notes, then the figures (training/report.py's layout and style)."""

    def cells(tag: str, row: tuple[str, ...]) -> str:
        return "".join(f"<{tag}>{html.escape(cell)}</{tag}>" for cell in row)

    body = "".join(
        f"<h2>{html.escape(t.title)}</h2><table><tr>{cells('th', t.headers)}</tr>"
        + "".join(f"<tr>{cells('td', row)}</tr>" for row in t.rows)
        + "</table>"
        for t in tables(report.figures, report.routing)
    )
    body += "".join(f"<p>note: {html.escape(note)}</p>" for note in report.notes)
    body += "".join(
        f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,"
        f"{base64.b64encode(png).decode()}'><figcaption>{html.escape(name)}</figcaption></figure>"
        for name, png in images.items()
    )
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;margin-bottom:1em}"
        "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}"
        "figure{display:inline-block;margin:0.5em}img{max-width:560px}"
    )
    title = f"leadscore funnel report — as of {report.figures.as_of:%Y-%m-%d %H:%M} UTC"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _key(text: str) -> str:
    """A metric-name-safe version of a step, source or strategy name."""
    text = text.replace(" → ", "_to_").lower()
    return re.sub(r"[^a-z0-9_.-]+", "_", text).strip("_")


def metrics(report: FunnelReport) -> dict[str, float]:
    """The headline figures as MLflow metrics (non-finite ones left out)."""
    f = report.figures
    out: dict[str, float] = {"leads": float(f.leads)}
    out |= {_key(s.name): s.rate.rate for s in (*f.steps, *f.webinar)}
    money = f.economics
    for name in ("mrr_mean_pln", "clv_pln", "allowable_acquisition_cost_pln"):
        out[name] = getattr(money, name)
    out["value_per_lead_pln"] = money.value_per_lead_pln
    for s in f.sources:
        out[f"source.{_key(s.group.key)}.lead_to_contract"] = s.group.contract.rate
        out[f"source.{_key(s.group.key)}.value_per_lead_pln"] = s.value_per_lead_pln
    v, n = f.velocity, f.nurture
    out |= {"velocity_median_days": v.median_days, "velocity_km_median_days": v.km_median_days}
    out |= {"nurture_pool": float(n.pool), "nurture_share": n.share_of_leads}
    out["recycled_signed_rate"] = n.recycled_signed.rate
    if report.routing is not None:
        r = report.routing
        out["routing_model_sql_share"] = r.model.sql_share
        out["routing_random_sql_share"] = r.random.sql_share
        out["routing_model_contract_share"] = r.model.contract_share
        if r.best_rule:
            best = next(c for c in r.rules if c.strategy == r.best_rule)
            out["routing_best_rule_sql_share"] = best.sql_share
    return {k: float(v) for k, v in out.items() if math.isfinite(v)}


@dataclass(frozen=True)
class Outputs:
    """Where the report goes besides the terminal and the registry."""

    html: Path | None = None
    json: Path | None = None


def run_funnel(
    data: LeadData,
    as_of: datetime | None,
    config: FunnelConfig,
    policy: Policy,
    registry: Registry,
    outputs: Outputs = Outputs(),
) -> tuple[FunnelReport, str]:
    """Build, print, write and record the report as a run named "funnel"."""
    report = build_report(data, as_of, config, policy, registry)
    print_report(report, Console())
    text, page = to_json(report), to_html(report, pictures(report))
    for path, content in ((outputs.json, text), (outputs.html, page)):
        if path is not None:
            write_report(path, content)
    with registry.run("funnel") as run:
        run.params(
            {
                "as_of": report.figures.as_of.isoformat(),
                "margin": policy.economics.margin,
                "ci_level": config.ci_level,
                "lifetime_months": policy.economics.lifetime_months,
                "champion_version": report.routing.model_version if report.routing else None,
            }
        )
        run.metrics(metrics(report))
        run.text(text, "funnel.json")
        run.text(page, "funnel_report.html")
    return report, run.id


def write_report(path: Path, content: str) -> None:
    """Through a temporary name renamed at the end: no half-written report looks complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(content, encoding="utf-8")
    partial.replace(path)
