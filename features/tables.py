"""Reading a data folder and holding it to the contract.

`load_data` is the one way any command gets at a data folder: it reads the three tables
(Parquet or CSV), normalises their types (string ids, UTC timestamps, float numbers) and
refuses the folder with every problem listed when it breaks the contract. `check_folder`
is the same check without raising, for `leadscore validate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from features import contract as c
from features.errors import DataError, LeadscoreError

UTC_US = pl.Datetime("us", "UTC")
_AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M%:z")
_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d")
_EXAMPLES = 3


@dataclass(frozen=True)
class LeadData:
    """The three contract tables of one data folder, typed and checked."""

    leads: pl.DataFrame
    events: pl.DataFrame
    stages: pl.DataFrame

    @property
    def attribute_columns(self) -> list[str]:
        """Static lead attributes: every leads column the contract does not reserve."""
        return [col for col in self.leads.columns if col not in c.LEAD_NOT_ATTRIBUTES]

    @property
    def end(self) -> datetime:
        """The last moment the data knows about; later outcomes are unknown (censored)."""
        ends = [
            self.leads[c.CREATED_AT].max(),
            self.events[c.TS].max() if self.events.height else None,
            self.stages[c.TS].max() if self.stages.height else None,
        ]
        return max(e for e in ends if e is not None)

    def known_at(self, moment: datetime) -> LeadData:
        """Only what was known strictly before `moment`: later leads, events and stages
        dropped, so open deals are censored there — the data as it stood at that moment."""
        return LeadData(
            self.leads.filter(pl.col(c.CREATED_AT) < moment),
            self.events.filter(pl.col(c.TS) < moment),
            self.stages.filter(pl.col(c.TS) < moment),
        )

    def as_of(self, moment: datetime | None) -> tuple[LeadData, datetime]:
        """What every --as-of means: the data as it stood at `moment`, and that moment; with
        none given, all of the data, as of its end."""
        return (self, self.end) if moment is None else (self.known_at(moment), moment)


def parse_utc(column: str) -> pl.Expr:
    """ISO-8601 strings to UTC timestamps; naive times are taken as UTC, garbage as null."""
    text = pl.col(column).str.strip_chars().str.replace(" ", "T").str.replace(r"Z$", "+00:00")
    aware = [text.str.strptime(UTC_US, f, strict=False) for f in _AWARE_FORMATS]
    naive = [
        text.str.strptime(pl.Datetime("us"), f, strict=False).dt.replace_time_zone("UTC")
        for f in _NAIVE_FORMATS
    ]
    return pl.coalesce(aware + naive).alias(column)


def table_path(folder: Path, table: str) -> Path | None:
    """The file holding `table` in `folder`, Parquet preferred over CSV."""
    for suffix in (".parquet", ".csv"):
        path = folder / f"{table}{suffix}"
        if path.exists():
            return path
    return None


def is_store_url(source: str | Path) -> bool:
    """A store URL (`sqlite:///…`, `postgresql://…`) rather than a data folder's path."""
    return "://" in str(source)


def load_data(source: str | Path, leads: Sequence[str] | None = None) -> LeadData:
    """Read and check a data folder or a lead store; raise DataError listing every problem.
    With `leads`, only their rows of a folder's tables are read (a partition's few leads)."""
    problems, data = check_folder(source, leads)
    if problems or data is None:
        where = f"store {source}" if is_store_url(source) else f"data folder {source}"
        raise DataError(where, problems)
    return data


def check_folder(
    source: str | Path, leads: Sequence[str] | None = None
) -> tuple[list[str], LeadData | None]:
    """All contract problems of a data folder or a lead store, and its typed tables when
    there are none: every command that reads data reads either, through here."""
    if is_store_url(source):
        from features.store.lead_store import LeadStore  # SQLAlchemy only when a store is used

        return LeadStore(str(source)).tables()
    folder = Path(source)
    if not folder.is_dir():
        return [f"{folder}: no such data folder"], None
    problems: list[str] = []
    frames = {name: _read(folder, name, problems, leads) for name in c.TABLES}
    if any(frame is None for frame in frames.values()):
        return problems, None
    return check_tables(frames, problems)  # type: ignore[arg-type]


def check_tables(
    frames: dict[str, pl.DataFrame], problems: list[str] | None = None
) -> tuple[list[str], LeadData | None]:
    """The contract's checks on the three tables however they were read (a folder, a store):
    types normalised, relations checked; the typed tables when nothing is wrong."""
    problems = [] if problems is None else problems
    tables = {name: _normalise(frames[name], c.TABLE_SPECS[name], problems) for name in c.TABLES}
    data = LeadData(tables[c.LEADS], tables[c.EVENTS], tables[c.STAGES])
    problems.extend(_check_relations(data))
    return (problems, None) if problems else ([], data)


def _read(
    folder: Path, name: str, problems: list[str], leads: Sequence[str] | None
) -> pl.DataFrame | None:
    from features.partition import part_folders  # it builds on this module

    path = table_path(folder, name)
    if path is None and (parts := part_folders(folder)):  # `simulate --partitions`: one folder
        frames = [_read(part, name, problems, leads) for part in parts]
        return None if any(f is None for f in frames) else pl.concat(frames, how="vertical")
    if path is None:
        problems.append(f"{name}: no {name}.parquet or {name}.csv in {folder}")
        return None
    try:
        if path.suffix == ".parquet":
            scan = pl.scan_parquet(path)
        else:
            scan = pl.scan_csv(path, infer_schema=False)
        if leads is not None:
            scan = scan.filter(pl.col(c.LEAD_ID).is_in(list(leads)))
        frame = scan.collect()
    except Exception as exc:  # any reader failure is a file the user must fix
        problems.append(f"{name}: cannot read {path.name}: {str(exc).splitlines()[0]}")
        return None
    spec = c.TABLE_SPECS[name]
    missing = [col for col in spec.required if col not in frame.columns]
    for col in missing:
        problems.append(f"{name}: missing column {col}")
    if name == c.LEADS and not missing and frame.height == 0:
        problems.append(f"{name}: no rows")
    return None if missing else frame


def _normalise(frame: pl.DataFrame, spec: c.TableSpec, problems: list[str]) -> pl.DataFrame:
    """Cast ids to strings, timestamps to UTC and numbers to float, reporting what fails."""
    name = spec.name
    text_cols = [col for col in (*spec.required, *spec.optional) if col in frame.columns]
    text_cols = [col for col in text_cols if col not in spec.timestamps + spec.numerics]
    frame = frame.with_columns(
        pl.col(col).cast(pl.String).str.strip_chars().replace("", None) for col in text_cols
    )
    for col in (c.LEAD_ID, *(x for x in spec.required if x in text_cols and x != c.LEAD_ID)):
        empty = frame[col].is_null()
        if empty.any():
            rows = empty.arg_true()
            problems.append(f"{name}.{col}: {len(rows)} rows empty, first row {rows[0] + 1}")
    for col in spec.timestamps:
        frame = frame.with_columns(_timestamp(frame, col, name, problems))
    for col in spec.numerics:
        if col in frame.columns:
            frame = frame.with_columns(_number(frame, col, name, problems))
    if name == c.LEADS:
        frame = _type_attributes(frame)
    return frame


def _timestamp(frame: pl.DataFrame, col: str, table: str, problems: list[str]) -> pl.Series:
    raw = frame[col]
    if isinstance(raw.dtype, pl.Datetime):
        parsed = raw.dt.cast_time_unit("us")
        parsed = (
            parsed.dt.convert_time_zone("UTC")
            if raw.dtype.time_zone
            else parsed.dt.replace_time_zone("UTC")
        )
    elif raw.dtype == pl.Date:
        parsed = raw.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    else:
        raw = raw.cast(pl.String).str.strip_chars().replace("", None)  # blank is empty
        parsed = frame.select(raw.alias(col)).select(parse_utc(col)).to_series()
    bad = parsed.is_null() & raw.is_not_null()
    if bad.any():
        rows = bad.arg_true()
        problems.append(
            f"{table}.{col}: {len(rows)} rows unparseable, first row {rows[0] + 1}: "
            f"{raw[rows[0]]!r}"
        )
    empty = raw.is_null()
    if empty.any():
        rows = empty.arg_true()
        problems.append(f"{table}.{col}: {len(rows)} rows empty, first row {rows[0] + 1}")
    return parsed.alias(col)


def _number(frame: pl.DataFrame, col: str, table: str, problems: list[str]) -> pl.Series:
    raw = frame[col]
    if raw.dtype.is_numeric():
        text = raw
        parsed = raw.cast(pl.Float64)
    else:
        text = raw.cast(pl.String).str.strip_chars().replace("", None)
        parsed = text.cast(pl.Float64, strict=False)
    # NaN and infinities ("nan", "inf", "1e400") are not amounts: report them, keep them null.
    bad = parsed.is_finite().fill_null(False).not_() & text.is_not_null()
    if bad.any():
        rows = bad.arg_true()
        problems.append(
            f"{table}.{col}: {len(rows)} rows not a number, first row {rows[0] + 1}: "
            f"{str(text[rows[0]])!r}"
        )
        parsed = parsed.zip_with(bad.not_(), pl.Series([None], dtype=pl.Float64))
    return parsed.alias(col)


def _type_attributes(leads: pl.DataFrame) -> pl.DataFrame:
    """Numeric-looking attribute columns become floats; the rest stay categorical strings."""
    casts = []
    for col in leads.columns:
        if col in c.LEAD_NOT_ATTRIBUTES:
            continue
        values = leads[col]
        if values.dtype.is_numeric() or values.dtype == pl.Boolean:
            casts.append(values.cast(pl.Float64))
            continue
        text = values.cast(pl.String).str.strip_chars().replace("", None)
        number = text.cast(pl.Float64, strict=False)
        numeric = text.null_count() < len(text) and number.null_count() == text.null_count()
        casts.append(number if numeric else text)
    return leads.with_columns(casts)


def _examples(ids: pl.Series) -> str:
    return ", ".join(repr(v) for v in ids.head(_EXAMPLES).to_list())


def _check_relations(data: LeadData) -> list[str]:
    """Rules that span rows or tables: unique ids, known leads, a sane stage history."""
    problems: list[str] = []
    ids = data.leads[c.LEAD_ID].drop_nulls()  # empty ids are reported once, as empty
    dupes = ids.filter(ids.is_duplicated()).unique(maintain_order=True)
    if len(dupes):
        problems.append(f"leads.lead_id: {len(dupes)} duplicates, e.g. {_examples(dupes)}")
    known = data.leads.select(c.LEAD_ID)
    for name, frame in ((c.EVENTS, data.events), (c.STAGES, data.stages)):
        orphans = (
            frame.select(c.LEAD_ID)
            .drop_nulls()
            .unique(maintain_order=True)
            .join(known, on=c.LEAD_ID, how="anti")[c.LEAD_ID]
        )
        if len(orphans):
            problems.append(
                f"{name}.lead_id: {len(orphans)} ids not in leads, e.g. {_examples(orphans)}"
            )
    stages = data.stages
    unknown = ~stages[c.STAGE].is_in(c.STAGE_VALUES) & stages[c.STAGE].is_not_null()
    if unknown.any():
        rows = unknown.arg_true()
        problems.append(
            f"stages.stage: {len(rows)} rows not one of {', '.join(c.STAGE_VALUES)}, "
            f"first row {rows[0] + 1}: {stages[c.STAGE][rows[0]]!r}"
        )
    has_mrr = c.MRR in stages.columns
    won = stages[c.STAGE] == c.WON
    no_mrr = won & (stages[c.MRR].is_null() if has_mrr else pl.Series([True] * stages.height))
    if no_mrr.any():
        rows = no_mrr.arg_true()
        problems.append(f"stages.mrr: {len(rows)} WON rows without mrr, first row {rows[0] + 1}")
    if has_mrr:
        negative = (stages[c.MRR] < 0).fill_null(False)
        if negative.any():
            rows = negative.arg_true()
            problems.append(
                f"stages.mrr: {len(rows)} rows negative, first row {rows[0] + 1}: "
                f"{stages[c.MRR][rows[0]]!r}"
            )
    first = stages.group_by(c.LEAD_ID).agg(
        pl.col(c.TS).filter(pl.col(c.STAGE) == c.WON).min().alias("won"),
        pl.col(c.TS).filter(pl.col(c.STAGE) == c.SQL).min().alias("sql"),
    )
    unearned = first.filter(
        pl.col("won").is_not_null() & (pl.col("sql").is_null() | (pl.col("sql") > pl.col("won")))
    ).sort(c.LEAD_ID)[c.LEAD_ID]
    if len(unearned):
        problems.append(
            f"stages: WON without SQL for {len(unearned)} leads, e.g. {_examples(unearned)}"
        )
    early = (
        stages.join(data.leads.select(c.LEAD_ID, c.CREATED_AT), on=c.LEAD_ID)
        .filter(pl.col(c.TS) < pl.col(c.CREATED_AT))[c.LEAD_ID]
        .unique(maintain_order=True)
    )
    if len(early):
        problems.append(
            f"stages.ts: {len(early)} leads with a stage before their created_at, "
            f"e.g. {_examples(early)}"
        )
    return problems


def parse_moment(text: str) -> datetime:
    """One timestamp given by a user (e.g. --as-of), read exactly as table timestamps are."""
    parsed = pl.DataFrame({"t": [text]}).select(parse_utc("t"))["t"][0]
    if parsed is None:
        raise LeadscoreError(f"{text!r} is not a timestamp (expected ISO 8601, e.g. 2026-03-01)")
    return parsed


def write_frame(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write Parquet or CSV (by suffix) through a temporary file renamed at the end.

    A run killed mid-way leaves no file that looks complete.
    """
    path = Path(path)
    if path.suffix not in (".parquet", ".csv"):
        raise LeadscoreError(f"{path}: output must end in .parquet or .csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        if path.suffix == ".parquet":
            frame.write_parquet(partial)
        else:
            frame.write_csv(partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
    return path
