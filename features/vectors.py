"""Feature vectors for (lead, as_of) rows: from a data folder, or from leads in a request.

Both entry points turn their input into the same arrays (lead row, event type code, epoch ms)
and compute the spec's behaviour table from them — one code path; only the unpacking differs.
A `FeatureBlock` keeps static attributes raw (strings stay strings) so that `leadscore
features` writes readable values; `to_matrix` encodes them with a fitted spec into what
LightGBM reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from features import contract as c
from features.behaviour import EventIndex, event_type_codes
from features.errors import LeadscoreError
from features.spec import FeatureSpec
from features.store.records import to_us
from features.tables import LeadData
from features.threads import map_rows

CHUNK_ROWS = 25_000  # rows per piece of the behaviour table: bounded memory, spread over threads


@dataclass(frozen=True)
class LeadRecord:
    """One lead as a caller holds it: identity, static attributes and its event history."""

    lead_id: str
    created_at: datetime
    source: str
    partner_id: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: Sequence[tuple[datetime, str]] = ()


@dataclass(frozen=True)
class FeatureBlock:
    """Features of rows: behaviour as floats, static attributes as raw values."""

    lead_ids: list[str]
    as_of_ms: np.ndarray
    behaviour: np.ndarray
    static: dict[str, list[Any]]

    def take(self, rows: np.ndarray | slice) -> FeatureBlock:
        """The block of the given row positions (or slice), in that order."""
        return FeatureBlock(
            pick(self.lead_ids, rows),
            self.as_of_ms[rows],
            self.behaviour[rows],
            {name: pick(values, rows) for name, values in self.static.items()},
        )


def pick(values: list[Any], rows: np.ndarray | slice) -> list[Any]:
    """The values at these positions, or in this slice: a slice copies no values one by one
    (the nightly batch's chunks of 50,000 rows, 0.16 s each as positions)."""
    return values[rows] if isinstance(rows, slice) else [values[i] for i in rows]


def concat_blocks(blocks: Sequence[FeatureBlock]) -> FeatureBlock:
    """The rows of `blocks`, one after the other (partitions' blocks gathered together)."""
    return FeatureBlock(
        [lead for block in blocks for lead in block.lead_ids],
        np.concatenate([block.as_of_ms for block in blocks]),
        np.vstack([block.behaviour for block in blocks]),
        {
            name: [value for block in blocks for value in block.static[name]]
            for name in blocks[0].static
        },
    )


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds, floored, exactly as polars' `dt.epoch("ms")` computes them; a naive
    moment is UTC."""
    return to_us(moment) // 1000


def to_matrix(spec: FeatureSpec, block: FeatureBlock) -> np.ndarray:
    """The model input: behaviour columns, then static columns encoded by the spec."""
    static = spec.encode_static(block.static, len(block.lead_ids))
    return np.hstack([block.behaviour, static])


def table_features(
    data: LeadData, spec: FeatureSpec, lead_ids: Sequence[str], as_of_ms: np.ndarray
) -> FeatureBlock:
    """Features of rows (lead_ids[i], as_of_ms[i]) from a data folder's tables."""
    leads = data.leads.with_row_index("_row")
    wanted = pl.DataFrame({c.LEAD_ID: list(lead_ids)}, schema={c.LEAD_ID: pl.String})
    rows = wanted.join(leads, on=c.LEAD_ID, how="left", maintain_order="left")
    unknown = rows.filter(pl.col("_row").is_null())[c.LEAD_ID]
    if len(unknown):
        raise LeadscoreError(
            f"leads.lead_id: {len(unknown)} requested ids not in leads, "
            f"e.g. {unknown.head(3).to_list()}"
        )
    codes = event_type_codes(spec.config)
    # Each event's lead row: lead ids are unique, so as an Enum's categories their codes are
    # the rows (a third of a join's time on 12M events); ids not in leads become null.
    row_of = pl.Enum(data.leads[c.LEAD_ID])
    events = data.events.select(
        pl.col(c.LEAD_ID).cast(row_of, strict=False).to_physical().cast(pl.Int64).alias("_row"),
        pl.col(c.EVENT_TYPE).replace_strict(
            codes, default=codes[c.OTHER_EVENT], return_dtype=pl.Int64
        ),
        pl.col(c.TS).dt.epoch("ms"),
    ).drop_nulls("_row")
    index = EventIndex.build(
        events["_row"].to_numpy(),
        events[c.EVENT_TYPE].to_numpy(),
        events[c.TS].to_numpy(),
        len(codes),
    )
    lead_rows = rows["_row"].cast(pl.Int64).to_numpy()
    created = rows[c.CREATED_AT].dt.epoch("ms").to_numpy()
    as_of_ms = np.asarray(as_of_ms, dtype=np.int64)
    behaviour = np.vstack(
        map_rows(
            lambda rows: spec.behaviour_plan.matrix(
                index, lead_rows[rows], as_of_ms[rows], created[rows]
            ),
            len(lead_rows),
            CHUNK_ROWS,
        )
    )
    static = {
        name: rows[name].to_list() if name in rows.columns else [None] * rows.height
        for name in spec.static_names
    }
    return FeatureBlock(list(lead_ids), as_of_ms, behaviour, static)


def record_features(
    spec: FeatureSpec, leads: Sequence[LeadRecord], as_of: Sequence[datetime]
) -> FeatureBlock:
    """Features of leads that arrive with their own events (the endpoint, one or a batch)."""
    codes = event_type_codes(spec.config)
    other = codes[c.OTHER_EVENT]
    lead_rows = np.repeat(np.arange(len(leads)), [len(lead.events) for lead in leads])
    type_codes = [codes.get(kind, other) for lead in leads for _, kind in lead.events]
    ts_ms = [to_ms(ts) for lead in leads for ts, _ in lead.events]
    index = EventIndex.build(
        lead_rows,
        np.array(type_codes, dtype=np.int64),
        np.array(ts_ms, dtype=np.int64),
        len(codes),
    )
    as_of_ms = np.array([to_ms(t) for t in as_of], dtype=np.int64)
    created = np.array([to_ms(lead.created_at) for lead in leads], dtype=np.int64)
    behaviour = spec.behaviour_plan.matrix(index, np.arange(len(leads)), as_of_ms, created)
    static = {name: [_static_value(lead, name) for lead in leads] for name in spec.static_names}
    return FeatureBlock([lead.lead_id for lead in leads], as_of_ms, behaviour, static)


def _static_value(lead: LeadRecord, name: str) -> Any:
    if name == c.SOURCE:
        return lead.source
    if name == c.PARTNER_ID:
        return lead.partner_id
    return lead.attributes.get(name)


def leads_at(data: LeadData, as_of: datetime) -> pl.DataFrame:
    """Leads created before `as_of`, each with its latest stage then (null: none yet).

    Stages at the same instant keep their file order, the later row winning.
    """
    moment = pl.lit(as_of).cast(pl.Datetime("us", "UTC"))
    created = data.leads.filter(pl.col(c.CREATED_AT) < moment).select(c.LEAD_ID)
    latest = (
        data.stages.filter(pl.col(c.TS) < moment)
        .sort(c.TS, maintain_order=True)
        .group_by(c.LEAD_ID)
        .agg(pl.col(c.STAGE).last())
    )
    return created.join(latest, on=c.LEAD_ID, how="left", maintain_order="left")


def open_leads(data: LeadData, as_of: datetime) -> list[str]:
    """Leads created before `as_of` that are not WON or LOST at `as_of` (their last stage)."""
    stage = pl.col(c.STAGE)
    leads = leads_at(data, as_of).filter(stage.is_null() | ~stage.is_in(c.CLOSED_STAGES))
    return leads[c.LEAD_ID].to_list()


def block_frame(spec: FeatureSpec, block: FeatureBlock) -> pl.DataFrame:
    """The readable frame `leadscore features` writes: lead_id, as_of, features."""
    columns: dict[str, Any] = {
        c.LEAD_ID: pl.Series(block.lead_ids, dtype=pl.String),  # typed even when empty
        "as_of": pl.Series(block.as_of_ms, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")),
    }
    for j, name in enumerate(spec.behaviour_names):
        columns[name] = block.behaviour[:, j]
    for name in spec.categories:
        columns[name] = pl.Series(name, block.static[name], dtype=pl.String, strict=False)
    for name in spec.numeric:
        columns[name] = pl.Series(name, block.static[name], dtype=pl.Float64, strict=False)
    return pl.DataFrame(columns)
