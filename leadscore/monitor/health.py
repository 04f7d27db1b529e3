"""Data health: do the newest period's leads and events still look like training's?

Sources and categories training never saw, attributes gone missing, event types the features
ignore or that stopped arriving — each a breach past configs/monitor.yaml's data_health.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from features import contract as c
from features.profile import psi
from features.spec import FeatureSpec
from features.tables import LeadData
from leadscore.monitor.config import MonitorConfig
from leadscore.monitor.findings import Breach, Health
from training.reference import Reference, missing_shares, shares

NAN = float("nan")


def health(
    data: LeadData, spec: FeatureSpec, reference: Reference, start: datetime, end: datetime
) -> Health:
    """Data health of the leads created and the events recorded in [start, end)."""
    leads = data.leads.filter(pl.col(c.CREATED_AT).is_between(start, end, closed="left"))
    events = data.events.filter(pl.col(c.TS).is_between(start, end, closed="left"))
    mix = shares(leads[c.SOURCE])
    unseen: dict[str, dict[str, float]] = {}
    for name, known in spec.categories.items():
        if name not in leads.columns or not leads.height:
            continue
        values = leads[name].drop_nulls().cast(pl.String)
        new = values.filter(~values.is_in(list(known)))
        if new.len():
            unseen[name] = {
                str(k): n / leads.height
                for k, n in new.value_counts(sort=True, name="n").iter_rows()
            }
    types = shares(events[c.EVENT_TYPE])
    configured = set(spec.config.event_types)
    return Health(
        period=start,
        new_leads=leads.height,
        source_psi=psi(reference.sources, mix) if mix else NAN,
        sources=mix,
        unseen=unseen,
        missing=missing_shares(spec, leads) if leads.height else {},
        events=events.height,
        unknown_event_share=sum(v for k, v in types.items() if k not in configured),
        stopped_event_types=[
            k for k in reference.event_types if k in configured and k not in types
        ],
    )


def health_breaches(state: Health, reference: Reference, config: MonitorConfig) -> list[Breach]:
    health_config, out = config.data_health, []
    when = f"{state.period:%Y-%m-%d}"
    if state.new_leads >= health_config.min_new_leads:
        if state.source_psi > health_config.max_source_psi:
            out.append(Breach("data_health", "source mix", when, f"PSI {state.source_psi:.3f}"))
        for name, values in state.unseen.items():
            for value, share in values.items():
                if share > health_config.max_unseen_share:
                    out.append(
                        Breach(
                            "data_health",
                            f"{name}={value}",
                            when,
                            f"unknown to the model (unseen or rare in training), {share:.1%} "
                            "of new leads",
                        )
                    )
        for name, share in state.missing.items():
            before = reference.missing.get(name, 0.0)
            if share - before > health_config.max_missing_increase:
                out.append(
                    Breach(
                        "data_health",
                        name,
                        when,
                        f"missing in {share:.1%} of new leads against {before:.1%} in training",
                    )
                )
    if state.events and state.unknown_event_share > health_config.max_unknown_event_share:
        out.append(
            Breach(
                "data_health",
                "event types",
                when,
                f"{state.unknown_event_share:.1%} of events have a type the features ignore",
            )
        )
    for kind in state.stopped_event_types:
        share = reference.event_types[kind]
        if share >= health_config.min_event_share and state.events >= config.drift.min_rows:
            out.append(
                Breach(
                    "data_health",
                    f"event_type={kind}",
                    when,
                    f"stopped arriving ({share:.1%} of events in training, none of "
                    f"{state.events} now)",
                )
            )
    return out
