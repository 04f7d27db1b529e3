"""When leads were created and outcomes happened, from whatever time an export carries.

Three cases, because exports differ in what they know:

- a date column (CRM opportunities' `engage_date`): parsed as UTC; rows without one are
  refused, dropped, or placed at the export's last date, as the mapping says;
- one fixed date (X Education has no timestamps at all): every lead is created at once, so no
  time order is invented; training then needs a random split by lead;
- the row order (bank marketing rows are ordered by date, with month and weekday columns but
  no year): the calendar is rebuilt, and the row's position within its day is added in
  seconds so that sorting by `created_at` reproduces the file order exactly.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime

import numpy as np
import polars as pl

from features.errors import LeadscoreError
from features.tables import UTC_US, parse_utc
from leadscore.importers.mapping import RowOrder

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name} | {
    name.lower(): i for i, name in enumerate(calendar.month_name) if name
}
WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_abbr)} | {
    name.lower(): i for i, name in enumerate(calendar.day_name)
}


def parse_dates(values: pl.Series, date_format: str | None, where: str) -> pl.Series:
    """Text dates to UTC timestamps (ISO 8601, or `date_format`); refuse unparseable ones."""
    frame = pl.DataFrame({"t": values.cast(pl.String)})
    if date_format is None:
        parsed = frame.select(parse_utc("t"))["t"]
    else:
        parsed = (
            frame.select(pl.col("t").str.strptime(pl.Datetime("us"), date_format, strict=False))
            .to_series()
            .dt.replace_time_zone("UTC")
        )
    bad = parsed.is_null() & values.is_not_null()
    if bad.any():
        rows = bad.arg_true()
        raise LeadscoreError(
            f"{where}: {len(rows)} rows not a date ({date_format or 'ISO 8601'}), "
            f"first data row {rows[0] + 1}: {values[rows[0]]!r}"
        )
    return parsed.cast(UTC_US)


def fixed_times(day: date, rows: int) -> pl.Series:
    """Every lead at midnight UTC of `day`."""
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return pl.Series("created_at", [moment] * rows, dtype=UTC_US)


def row_order_times(frame: pl.DataFrame, order: RowOrder, where: str) -> pl.Series:
    """Creation times rebuilt from the file order, month and (optionally) weekday columns."""
    months = _codes(frame[order.month_column], MONTHS, f"{where}: column {order.month_column}")
    weekdays = (
        _codes(frame[order.weekday_column], WEEKDAYS, f"{where}: column {order.weekday_column}")
        if order.weekday_column
        else None
    )
    year, first = (int(part) for part in order.first_month.split("-"))
    if months[0] != first:
        raise LeadscoreError(
            f"{where}: the first row's month is {calendar.month_abbr[months[0]]}, but "
            f"row_order.first_month says {order.first_month}"
        )
    days = np.empty(len(months), dtype="datetime64[D]")
    start = 0
    for end in [*np.flatnonzero(np.diff(months) != 0) + 1, len(months)]:
        if start and months[start] <= months[start - 1]:
            year += 1  # the month went back: a new year (no year passes without rows)
        month = months[start]
        days[start:end] = _days_in_month(
            year, month, None if weekdays is None else weekdays[start:end], end - start
        )
        start = end
    index = np.arange(len(days))
    new_day = np.r_[True, days[1:] != days[:-1]]
    position = index - np.maximum.accumulate(np.where(new_day, index, 0))
    moments = days.astype("datetime64[us]") + position.astype("timedelta64[s]")
    return pl.Series("created_at", moments).dt.replace_time_zone("UTC")


def _days_in_month(year: int, month: int, weekdays: np.ndarray | None, rows: int) -> np.ndarray:
    """Calendar days of the rows of one month run.

    With weekdays, each run of one weekday is the next calendar day with that weekday (a run
    that would fall past the month's end stays on its last day); without, the rows are spread
    evenly over the month.
    """
    last = calendar.monthrange(year, month)[1]
    first = np.datetime64(date(year, month, 1))
    if weekdays is None:
        return first + (np.arange(rows) * last // rows).astype("timedelta64[D]")
    out = np.empty(rows, dtype="datetime64[D]")
    day, start = 0, 0  # the previous run's day of the month
    for end in [*np.flatnonzero(np.diff(weekdays) != 0) + 1, rows]:
        day += 1
        while day < last and date(year, month, day).weekday() != weekdays[start]:
            day += 1
        out[start:end] = first + np.timedelta64(min(day, last) - 1, "D")
        start = end
    return out


def _codes(values: pl.Series, names: dict[str, int], where: str) -> np.ndarray:
    text = values.cast(pl.String).str.to_lowercase()
    codes = text.replace_strict(names, default=None, return_dtype=pl.Int64)
    bad = codes.is_null()
    if bad.any():
        rows = bad.arg_true()
        raise LeadscoreError(
            f"{where}: {len(rows)} rows not a month/weekday name, first data row "
            f"{rows[0] + 1}: {values[rows[0]]!r}"
        )
    return codes.to_numpy()
