"""The contract's tables in and out of the store's rows: one translation, both directions.

A data folder's events have no ids; each loaded event gets `load:<lead>:<µs>:<type>:<rank>`,
its rank among identical (lead, time, type) rows, so loading the same folder twice stores
nothing new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import polars as pl

from features import contract as c
from features.store.database import CHUNK
from features.store.records import to_us

ATTRIBUTION_FIELDS = (c.SOURCE, c.PARTNER_ID, c.OWNER_ID)
LEAD_COLUMNS = {
    c.LEAD_ID: pl.String,
    c.CREATED_AT: pl.Int64,
    c.SOURCE: pl.String,
    c.PARTNER_ID: pl.String,
    c.OWNER_ID: pl.String,
    "attributes": pl.String,
}
EVENT_COLUMNS = {c.LEAD_ID: pl.String, c.TS: pl.Int64, c.EVENT_TYPE: pl.String, c.VALUE: pl.Float64}
STAGE_COLUMNS = {c.LEAD_ID: pl.String, c.TS: pl.Int64, c.STAGE: pl.String, c.MRR: pl.Float64}
_ATTRIBUTES = msgspec.json.Decoder(dict[str, Any])


def lead_rows(data_leads: pl.DataFrame, attributes: Sequence[str], stamp: int) -> list[dict]:
    """A folder's leads as store rows; static attributes go into one JSON column."""
    return [
        {
            "lead_id": row[c.LEAD_ID],
            "created_at": to_us(row[c.CREATED_AT]),
            "source": row[c.SOURCE],
            "partner_id": row.get(c.PARTNER_ID),
            "owner_id": row.get(c.OWNER_ID),
            "attributes": {a: row[a] for a in attributes if row[a] is not None},
            "updated_at": stamp,
        }
        for row in data_leads.iter_rows(named=True)
    ]


def event_chunks(events: pl.DataFrame, stamp: int) -> Iterable[list[dict[str, Any]]]:
    """A folder's events as store rows, a chunk at a time (millions do not fit as dicts)."""
    frame = events.select(
        c.LEAD_ID, pl.col(c.TS).dt.epoch("us"), c.EVENT_TYPE, _optional(events, c.VALUE)
    ).with_columns(
        event_id=pl.concat_str(
            pl.lit("load"),
            c.LEAD_ID,
            pl.col(c.TS).cast(pl.String),
            c.EVENT_TYPE,
            pl.int_range(pl.len()).over(c.LEAD_ID, c.TS, c.EVENT_TYPE).cast(pl.String),
            separator=":",
        ),
        received_at=pl.lit(stamp, pl.Int64),
    )
    for part in frame.iter_slices(CHUNK):
        yield part.to_dicts()


def stage_rows(stages: pl.DataFrame, stamp: int) -> list[dict[str, Any]]:
    frame = stages.select(
        c.LEAD_ID, pl.col(c.TS).dt.epoch("us"), c.STAGE, _optional(stages, c.MRR)
    ).with_columns(received_at=pl.lit(stamp, pl.Int64))
    return frame.to_dicts()


def leads_frame(stored: pl.DataFrame) -> pl.DataFrame:
    """Stored leads (LEAD_COLUMNS, attributes as JSON text) as the contract's leads table, one
    column per attribute."""
    decoded = [_ATTRIBUTES.decode(text) for text in stored["attributes"].to_list()]
    names = dict.fromkeys(name for attributes in decoded for name in attributes)
    return stored.drop("attributes").with_columns(
        _moment(c.CREATED_AT),
        *(
            pl.Series(name, [_text_or_number(a.get(name)) for a in decoded], dtype=pl.String)
            for name in names
        ),
    )


def moments(frame: pl.DataFrame) -> pl.DataFrame:
    """Stored microseconds back to the UTC timestamps the feature code reads."""
    return frame.with_columns(_moment(c.TS))


def _moment(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Datetime("us", "UTC"))


def _optional(frame: pl.DataFrame, column: str) -> pl.Expr:
    return pl.col(column) if column in frame.columns else pl.lit(None, pl.Float64).alias(column)


def _text_or_number(value: Any) -> Any:
    """Attribute values as the contract reads them from a file: text (numbers as text)."""
    return None if value is None else str(value)
