"""The lead-data contract: the three tables a data folder holds and what each column means.

Every package reads data through this contract, so a column name or a stage is spelled in
exactly one place. README's "Data contract" section is the prose version of this module.
"""

from __future__ import annotations

from dataclasses import dataclass

LEADS = "leads"
EVENTS = "events"
STAGES = "stages"
TRUTH = "truth"
TABLES = (LEADS, EVENTS, STAGES)

# leads: identity and provenance columns; every other column is a static attribute.
LEAD_ID = "lead_id"
CREATED_AT = "created_at"
SOURCE = "source"
PARTNER_ID = "partner_id"
OWNER_ID = "owner_id"
LEAD_REQUIRED = (LEAD_ID, CREATED_AT, SOURCE)
LEAD_OPTIONAL = (PARTNER_ID, OWNER_ID)
# owner_id says who works the lead, not what the lead is: it never becomes a feature.
LEAD_NOT_ATTRIBUTES = (LEAD_ID, CREATED_AT, SOURCE, PARTNER_ID, OWNER_ID)

# events: what a lead did, when.
TS = "ts"
EVENT_TYPE = "event_type"
VALUE = "value"
EVENT_REQUIRED = (LEAD_ID, TS, EVENT_TYPE)
EVENT_OPTIONAL = (VALUE,)
KNOWN_EVENT_TYPES = (
    "email_open",
    "email_click",
    "page_view",
    "pricing_view",
    "content_download",
    "form_submit",
    "webinar_registered",
    "webinar_attended",
    "demo_request",
    "trial_signup",
    "sales_call",
    "unsubscribe",
)
OTHER_EVENT = "other"

# stages: where the lead stands in the funnel, when it got there.
STAGE = "stage"
MRR = "mrr"
STAGE_REQUIRED = (LEAD_ID, TS, STAGE)
STAGE_OPTIONAL = (MRR,)
MQL, SQL, WON, LOST, NURTURE = "MQL", "SQL", "WON", "LOST", "NURTURE"
STAGE_VALUES = (MQL, SQL, WON, LOST, NURTURE)
# A lead in one of these stages is being worked by sales or is finished: not "open" for scoring.
CLOSED_STAGES = (WON, LOST)
ENGAGED_STAGES = (SQL, WON, LOST)


@dataclass(frozen=True)
class TableSpec:
    """Required and optional columns of one table, and which of them hold timestamps."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    timestamps: tuple[str, ...]
    numerics: tuple[str, ...] = ()


TABLE_SPECS: dict[str, TableSpec] = {
    LEADS: TableSpec(LEADS, LEAD_REQUIRED, LEAD_OPTIONAL, (CREATED_AT,)),
    EVENTS: TableSpec(EVENTS, EVENT_REQUIRED, EVENT_OPTIONAL, (TS,), (VALUE,)),
    STAGES: TableSpec(STAGES, STAGE_REQUIRED, STAGE_OPTIONAL, (TS,), (MRR,)),
}
