"""Whole tables out of the store and a batch's rows into it, fast, and beside other work.

PostgreSQL's bulk traffic goes through ADBC, Arrow's own driver: binary COPY in C++ between
the server and Arrow columns, which holds no GIL, so it runs on a thread of its own while the
caller imports, loads models or publishes. SQLite's cursor is already a loop in C but holds
the GIL: there the work is done in the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import polars as pl
from sqlalchemy import JSON, BigInteger, Boolean, Engine, Float, Integer, Table

from features.store.database import insert_rows, writing
from features.threads import behind

Schema = dict[str, Any]  # column → polars type
Convert = Callable[[pl.DataFrame], pl.DataFrame]  # a table's rows as the caller wants them


def fetching_frames(
    engine: Engine, wanted: Sequence[tuple[Table, Schema, Convert]]
) -> Callable[[], list[pl.DataFrame]]:
    """Every row of some columns of each table (`schema`: column → polars type; JSON columns
    as their text), each frame passed through its `convert`; the read begins now, and
    calling the result waits for the converted frames.

    PostgreSQL is read through ADBC, Arrow's own driver: binary COPY decoded in C++ straight
    into Arrow columns, all tables in one REPEATABLE READ snapshot, so events posted while a
    rescore reads cannot name a lead it has not read. psycopg hands COPY over a row at a time:
    its Python loop over the 11.8 M events of the bench took 15 s, ADBC 7–10 s
    (BENCHMARKS.md "Lead store"). The read runs on a thread of its own, connected here (the
    driver loads here too, so the thread imports nothing: two threads importing at once can
    deadlock). Most of it is the server's work and ADBC's C++, neither of which holds the
    GIL, so the caller can import and load models meanwhile; a table's conversion runs on a
    second thread while the next one is read (the leads' attributes, ~0.9 s of Python,
    beside the events). SQLite reads when called: its cursor is already a loop in C, and
    holds the GIL.
    """
    queries = [_select(table, schema) for table, schema, _ in wanted]
    schemas = [schema for _, schema, _ in wanted]
    converts = [convert for _, _, convert in wanted]
    if engine.dialect.name != "postgresql":
        return lambda: _sqlite_frames(engine, queries, schemas, converts)
    connection = _adbc(engine)

    def read() -> list[pl.DataFrame]:
        with (
            connection,
            connection.cursor() as cursor,
            ThreadPoolExecutor(1, thread_name_prefix="store-convert") as converter,
        ):
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            converted = []
            for query, schema, convert in zip(queries, schemas, converts, strict=True):
                cursor.execute(query)
                frame = pl.DataFrame(pl.from_arrow(cursor.fetch_arrow_table())).cast(schema)
                converted.append(converter.submit(convert, frame))
            return [frame.result() for frame in converted]

    return behind(read)


def _sqlite_frames(
    engine: Engine, queries: list[str], schemas: list[Schema], converts: list[Convert]
) -> list[pl.DataFrame]:
    with engine.connect() as connection:
        return [
            convert(
                pl.DataFrame(connection.exec_driver_sql(query).all(), schema=schema, orient="row")
            )
            for query, schema, convert in zip(queries, schemas, converts, strict=True)
        ]


@contextmanager
def appending(
    engine: Engine, table: Table, rows: pl.DataFrame, synchronous: bool = True
) -> Iterator[None]:
    """Append a frame's rows (a log, such as decisions: none can collide; JSON columns as
    text) in one transaction, committed when the block ends and rolled back if the block or
    the write fails. `synchronous=False`: on PostgreSQL the commit does not wait for the disk.

    PostgreSQL takes the rows while the block runs: ADBC's binary COPY from Arrow columns,
    on a thread that does not hold the GIL (200,000 decisions keep the server busy 2–5 s,
    most of it their indexes; psycopg's COPY took a Python loop over the rows besides).
    SQLite inserts them first: its driver holds the GIL.
    """
    if engine.dialect.name != "postgresql":
        with writing(engine) as connection:
            insert_rows(connection, table, rows.columns, rows.rows())
            yield
        return
    arrow = rows.cast({name: _polars_type(table.c[name].type) for name in rows.columns})
    connection = _adbc(engine)

    def write() -> None:
        with connection.cursor() as cursor:
            if not synchronous:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.adbc_ingest(table.name, arrow.to_arrow(), mode="append")

    with connection:  # closed without a commit: rolled back
        with ThreadPoolExecutor(1, thread_name_prefix=f"{table.name}-writer") as writer:
            written = writer.submit(write)
            yield  # if the block raises, the executor waits for the thread, then rollback
            written.result()
        connection.commit()


def _polars_type(kind: Any) -> Any:
    """The polars type whose Arrow column binary COPY takes into a column of this SQL type
    (it wants them exact: a 64-bit integer does not go into a 32-bit column)."""
    if isinstance(kind, BigInteger):
        return pl.Int64
    if isinstance(kind, Integer):
        return pl.Int32
    if isinstance(kind, Float):
        return pl.Float64
    if isinstance(kind, Boolean):
        return pl.Boolean
    return pl.String  # text, and JSON as its text


def _adbc(engine: Engine) -> Any:
    """An ADBC connection to the engine's PostgreSQL database (a transaction is open)."""
    import adbc_driver_postgresql.dbapi as adbc

    uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return adbc.connect(uri)


def _select(table: Table, schema: Schema) -> str:
    columns = (
        f"CAST({name} AS TEXT) AS {name}" if isinstance(table.c[name].type, JSON) else name
        for name in schema
    )
    return f"SELECT {', '.join(columns)} FROM {table.name}"
