"""Reports a batch command leaves in the store, for the service's pages to show.

`leadscore funnel` and `leadscore monitor` read the whole store and take seconds to minutes;
a page must answer in well under a second and may not call them (the service sits below
`leadscore/`). So a command run on a store URL keeps its JSON result here, as it wrote it,
and the pages show the newest of each kind with the moment it describes. Rows are only ever
added: an older report stays as the record of its day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select

from features.store import schema as s
from features.store.records import from_us, to_us

FUNNEL, MONITOR = "funnel", "monitor"


@dataclass(frozen=True)
class Report:
    """One kept result: what made it, when, the moment its data ends, and its JSON text."""

    kind: str
    created_at: datetime
    as_of: datetime
    body: str


def save_report(url: str, report: Report) -> None:
    """Keep a report in the store at `url` (refused, saying what to run, unless the store is
    at this code's schema)."""
    from features.store.lead_store import LeadStore

    store = LeadStore(url)
    store.check()
    row = {
        "kind": report.kind,
        "created_at": to_us(report.created_at),
        "as_of": to_us(report.as_of),
        "body": report.body,
    }
    with store.engine.begin() as connection:
        connection.execute(insert(s.reports), [row])
    store.engine.dispose()


def latest_report(engine: Engine, kind: str) -> Report | None:
    """The newest report of `kind` (the last saved wins a tie), or None if none was saved."""
    table = s.reports
    query = (
        select(table.c.created_at, table.c.as_of, table.c.body)
        .where(table.c.kind == kind)
        .order_by(table.c.created_at.desc(), table.c.report_id.desc())
        .limit(1)
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    return Report(kind, from_us(row.created_at), from_us(row.as_of), row.body)
