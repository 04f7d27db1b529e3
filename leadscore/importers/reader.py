"""Reading an export: the main file and its lookups, every value as text, names checked.

Everything is read as text so that no reader guesses a type (bank marketing's `nr.employed`
looks integral for 10,000 rows); the mapping says what each column is. Every problem names
the file and the column, because the user fixes the export or the mapping, not our code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from features.errors import LeadscoreError
from leadscore.importers.mapping import ImportMapping, Join, ReadSpec


@dataclass(frozen=True)
class Export:
    """The rows of an export (main file with joined lookups), all text; where they came from."""

    frame: pl.DataFrame
    main: Path
    files: tuple[Path, ...]
    notes: list[str] = field(default_factory=list)


def main_file(src: Path, read: ReadSpec) -> Path:
    """SRC may be the export's folder or its main file."""
    path = src / read.file if src.is_dir() else src
    if not path.is_file():
        raise LeadscoreError(f"{path}: no such file (the mapping reads {read.file})")
    return path


def read_table(path: Path, read: ReadSpec) -> pl.DataFrame:
    """One delimited file as text columns; `read.missing` values and blanks become null."""
    if not path.is_file():
        raise LeadscoreError(f"{path}: no such file")
    try:
        frame = pl.read_csv(path, separator=read.separator, infer_schema=False)
    except Exception as exc:  # any reader failure is a file the user must fix
        raise LeadscoreError(f"{path}: cannot read ({str(exc).splitlines()[0]})") from None
    if frame.height == 0:
        raise LeadscoreError(f"{path}: no rows")
    missing = [m for m in read.missing if m != ""]
    text = pl.all().str.strip_chars()
    return (
        frame.rename(lambda name: name.strip())
        .with_columns(text.replace(missing, None) if missing else text)
        .with_columns(pl.all().replace("", None))
    )


def require_columns(frame: pl.DataFrame, path: Path, columns: Iterable[str]) -> None:
    """Refuse a file that lacks columns the mapping names, listing all of them."""
    absent = [col for col in dict.fromkeys(columns) if col not in frame.columns]
    if absent:
        names = ", ".join(repr(col) for col in absent)
        raise LeadscoreError(f"{path}: missing column{'s' * (len(absent) > 1)} {names}")


def needed_columns(mapping: ImportMapping, kept: Sequence[str]) -> list[str]:
    """Main-file columns the import reads (kept leaky columns included)."""
    cols = [mapping.label.column, *(a.column for a in mapping.attributes), *kept]
    for name in (mapping.lead_id.column, mapping.source.column, mapping.owner_id):
        cols += [name] if name else []
    cols += [mapping.partner_id] if mapping.partner_id else []
    created = mapping.created_at
    cols += [created.column] if created.column else []
    if created.row_order:
        order = created.row_order
        cols += [order.month_column] + ([order.weekday_column] if order.weekday_column else [])
    cols += [o.at for o in mapping.label.outcomes.values() if o.at]
    cols += [mapping.label.mrr] if mapping.label.mrr else []
    return cols


def load_export(
    src: Path, mapping: ImportMapping, kept: Sequence[str], joins: Sequence[Join]
) -> Export:
    """Read the main file, recode values, join the lookups whose key is imported."""
    read = mapping.read
    path = main_file(src, read)
    frame = read_table(path, read)
    require_columns(
        frame, path, [*needed_columns(mapping, kept), *read.recode, *(j.key for j in joins)]
    )
    for column, values in read.recode.items():
        frame = frame.with_columns(pl.col(column).replace(values))
    files, notes = [path], []
    for join in joins:
        frame, note = _join(frame, path.parent / join.file, join, read)
        files.append(path.parent / join.file)
        notes += [note] if note else []
    return Export(frame, path, tuple(files), notes)


def _join(frame: pl.DataFrame, path: Path, join: Join, read: ReadSpec) -> tuple[pl.DataFrame, str]:
    lookup = read_table(path, read)
    wanted = [a.column for a in join.attributes]
    require_columns(lookup, path, [join.key, *wanted])
    clash = [col for col in wanted if col in frame.columns]
    if clash:
        raise LeadscoreError(
            f"{path}: columns {', '.join(clash)} are also in the main file; rename one of them"
        )
    keys = lookup[join.key].drop_nulls()
    dupes = keys.filter(keys.is_duplicated()).unique()
    if len(dupes):
        raise LeadscoreError(
            f"{path}: {join.key} is not unique ({len(dupes)} repeated, e.g. {dupes[0]!r})"
        )
    joined = frame.join(
        lookup.select(join.key, *wanted), on=join.key, how="left", maintain_order="left"
    )
    known = frame[join.key].is_in(keys.implode()) | frame[join.key].is_null()
    unmatched = frame.filter(~known)[join.key]
    note = ""
    if len(unmatched):
        note = (
            f"{len(unmatched)} rows with a {join.key} not in {path.name} "
            f"(e.g. {unmatched[0]!r}): their {', '.join(wanted)} are empty"
        )
    return joined, note
