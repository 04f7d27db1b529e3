"""From an export's rows to the three contract tables: leads, events, stages.

Leads get their id, source, owner, creation time and typed attributes; the label becomes
stages (MQL at creation for every lead, then what the label's value says, when it says).
Events stay empty: none of the exports we know has dated behaviour, and inventing dates for an
aggregate like "TotalVisits" would put behaviour where the model's point-in-time features
would read it as history. Aggregates are lead attributes instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from features import contract as c
from features.errors import LeadscoreError
from features.tables import UTC_US
from leadscore.importers.mapping import Column, ImportMapping
from leadscore.importers.timeline import fixed_times, parse_dates, row_order_times


@dataclass(frozen=True)
class Tables:
    """The contract tables of one import, and what the user should know about them."""

    leads: pl.DataFrame
    events: pl.DataFrame
    stages: pl.DataFrame
    notes: list[str]


def build_tables(
    frame: pl.DataFrame, mapping: ImportMapping, columns: Sequence[Column], where: str
) -> Tables:
    """Contract tables of `frame`; `columns` are the attributes to import, in order."""
    created, frame, notes = _created(frame, mapping, where)
    leads = pl.DataFrame(
        {
            c.LEAD_ID: _lead_ids(frame, mapping, where),
            c.CREATED_AT: created,
            c.SOURCE: _sources(frame, mapping),
        }
    )
    extra = {c.OWNER_ID: mapping.owner_id, c.PARTNER_ID: mapping.partner_id}
    leads = leads.with_columns(
        frame[col].alias(name) for name, col in extra.items() if col is not None
    )
    leads = leads.with_columns(_attribute(frame, col, where) for col in columns)
    leads = leads.with_columns(
        _calendar_change(leads, col) for col in columns if col.change_over_days
    )
    stages = _stages(frame, leads, mapping, where)
    events = pl.DataFrame(
        schema={c.LEAD_ID: pl.String, c.TS: UTC_US, c.EVENT_TYPE: pl.String, c.VALUE: pl.Float64}
    )
    return Tables(leads, events, stages, notes)


def _created(
    frame: pl.DataFrame, mapping: ImportMapping, where: str
) -> tuple[pl.Series, pl.DataFrame, list[str]]:
    """Creation times, the rows kept (rows without a date may be dropped), and notes."""
    rule = mapping.created_at
    notes = [f"created_at: {rule.note}"] if rule.note else []
    if rule.fixed is not None:
        return fixed_times(rule.fixed, frame.height), frame, notes
    if rule.row_order is not None:
        return row_order_times(frame, rule.row_order, where), frame, notes
    assert rule.column is not None
    fmt = mapping.read.date_format
    created = parse_dates(frame[rule.column], fmt, f"{where}: column {rule.column}")
    empty = created.is_null()
    if not empty.any():
        return created.alias(c.CREATED_AT), frame, notes
    count, first = int(empty.sum()), int(empty.arg_true()[0]) + 1
    if rule.missing == "error":
        raise LeadscoreError(
            f"{where}: column {rule.column}: {count} rows without a date, first data row "
            f"{first} (set created_at.missing to drop or end in the mapping)"
        )
    if rule.missing == "drop":
        notes.append(f"{count} rows without {rule.column} dropped")
        keep = ~empty
        return created.filter(keep).alias(c.CREATED_AT), frame.filter(keep), notes
    end = _export_end(frame, mapping, created, where)
    notes.append(
        f"{count} rows without {rule.column} are created at the export's last date "
        f"({end.date().isoformat()}): open leads to score, with no history to learn from"
    )
    return created.fill_null(end).alias(c.CREATED_AT), frame, notes


def _export_end(
    frame: pl.DataFrame, mapping: ImportMapping, created: pl.Series, where: str
) -> datetime:
    """The last date the export knows: the latest creation or outcome date."""
    dates = [created.max()]
    for column in {o.at for o in mapping.label.outcomes.values() if o.at}:
        dates.append(parse_dates(frame[column], mapping.read.date_format, where).max())
    known = [d for d in dates if d is not None]
    if not known:
        raise LeadscoreError(f"{where}: no dates at all in column {mapping.created_at.column}")
    return max(known)  # type: ignore[type-var]


def _lead_ids(frame: pl.DataFrame, mapping: ImportMapping, where: str) -> pl.Series:
    spec = mapping.lead_id
    if spec.column is None:
        numbers = pl.Series(range(1, frame.height + 1)).cast(pl.String)
        return (spec.prefix + numbers.str.zfill(len(str(frame.height)))).alias(c.LEAD_ID)
    ids = frame[spec.column]
    if ids.null_count():
        first = int(ids.is_null().arg_true()[0]) + 1
        raise LeadscoreError(
            f"{where}: column {spec.column}: {ids.null_count()} rows without an id, "
            f"first data row {first}"
        )
    dupes = ids.filter(ids.is_duplicated()).unique(maintain_order=True)
    if len(dupes):
        raise LeadscoreError(
            f"{where}: column {spec.column}: {len(dupes)} ids repeated, e.g. {dupes[0]!r}"
        )
    return (spec.prefix + ids).alias(c.LEAD_ID)


def _sources(frame: pl.DataFrame, mapping: ImportMapping) -> pl.Series:
    spec = mapping.source
    if spec.column is None:
        return pl.Series(c.SOURCE, [spec.value] * frame.height, dtype=pl.String)
    return frame[spec.column].fill_null(spec.missing).alias(c.SOURCE)


def _attribute(frame: pl.DataFrame, col: Column, where: str) -> pl.Series:
    """One attribute column, typed as the mapping says; a bad number names its row."""
    values = frame[col.column]
    if col.missing:
        values = values.replace(list(col.missing), None)
    if col.type == "category":
        return values.alias(col.target)
    numbers = values.str.replace_all(",", "").cast(pl.Float64, strict=False)
    bad = numbers.is_null() & values.is_not_null()
    if bad.any():
        rows = bad.arg_true()
        raise LeadscoreError(
            f"{where}: column {col.column}: {len(rows)} rows not a number, first data row "
            f"{rows[0] + 1}: {values[rows[0]]!r} (add it to the column's `missing`?)"
        )
    return numbers.alias(col.target)


def _calendar_change(leads: pl.DataFrame, col: Column) -> pl.Series:
    """The attribute minus its value in effect `change_over_days` before each lead's creation:
    the value of the latest earlier lead created by then (null where there is none)."""
    assert col.change_over_days is not None
    history = (
        leads.select(pl.col(c.CREATED_AT).alias("at"), pl.col(col.target).alias("then"))
        .drop_nulls()
        .sort("at")
    )
    wanted = leads.select(
        (pl.col(c.CREATED_AT) - pl.duration(days=col.change_over_days)).alias("at")
    ).with_row_index("row")
    earlier = (
        wanted.sort("at")
        .join_asof(history, on="at", strategy="backward", check_sortedness=False)
        .sort("row")["then"]
    )
    return (leads[col.target] - earlier).alias(col.target)


def _stages(
    frame: pl.DataFrame, leads: pl.DataFrame, mapping: ImportMapping, where: str
) -> pl.DataFrame:
    """MQL at creation for every lead, then each label value's stages at its time."""
    label = mapping.label
    values = frame[label.column]
    unknown = values.is_null() | ~values.is_in(list(label.outcomes))
    if unknown.any():
        rows = unknown.arg_true()
        raise LeadscoreError(
            f"{where}: column {label.column}: {len(rows)} rows with a value not in the "
            f"mapping's label.outcomes ({', '.join(map(repr, label.outcomes))}), first data "
            f"row {rows[0] + 1}: {values[rows[0]]!r}"
        )
    schema = {c.LEAD_ID: pl.String, c.TS: UTC_US, c.STAGE: pl.String, c.MRR: pl.Float64}
    parts = [
        leads.select(
            c.LEAD_ID,
            pl.col(c.CREATED_AT).alias(c.TS),
            pl.lit(c.MQL).alias(c.STAGE),
            pl.lit(None, pl.Float64).alias(c.MRR),
        )
    ]
    for value, outcome in label.outcomes.items():
        if not outcome.stages:
            continue
        rows = values == value
        positions = rows.arg_true()
        ids, created = leads[c.LEAD_ID].filter(rows), leads[c.CREATED_AT].filter(rows)
        whose = f"{label.column} {value!r}"
        if outcome.at is not None:
            where_at = f"{where}: column {outcome.at}"
            at = parse_dates(frame[outcome.at], mapping.read.date_format, where_at).filter(rows)
            _require(at, positions, where_at, whose, "date")
        else:
            at = created + timedelta(days=outcome.after_days or 0.0)
        mrr = pl.Series([None] * len(ids), dtype=pl.Float64)
        if c.WON in outcome.stages and label.mrr is not None:
            text = frame[label.mrr].filter(rows)
            mrr = text.str.replace_all(",", "").cast(pl.Float64, strict=False)
            _require(mrr, positions, f"{where}: column {label.mrr}", whose, "number")
        for stage in outcome.stages:
            amount = mrr if stage == c.WON else pl.Series([None] * len(ids), dtype=pl.Float64)
            parts.append(
                pl.DataFrame({c.LEAD_ID: ids, c.TS: at, c.STAGE: stage, c.MRR: amount}, schema)
            )
    return pl.concat(parts).sort(c.LEAD_ID, c.TS, maintain_order=True)


def _require(values: pl.Series, positions: pl.Series, where: str, whose: str, what: str) -> None:
    """Refuse outcome rows without the date or amount their stages need."""
    empty = values.is_null()
    if empty.any():
        first = int(positions[int(empty.arg_true()[0])]) + 1
        raise LeadscoreError(
            f"{where}: {int(empty.sum())} rows with {whose} have no {what}, first data row {first}"
        )
