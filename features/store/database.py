"""Where the two backends differ, and only there: connecting, migrating, inserting in bulk
(whole tables read back, and batches appended, through ADBC: features/store/bulk.py).

`postgresql://` URLs speak psycopg 3; SQLite runs in WAL mode (see `_sqlite_pragmas`), so
several service workers can write small transactions and a killed process loses nothing it
acknowledged. PostgreSQL commits synchronously, decisions excepted (`connect`).
"""

from __future__ import annotations

import select
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import JSON, Connection, Dialect, Engine, Table, TextClause, create_engine, event
from sqlalchemy import text as sql
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DisconnectionError, OperationalError, ProgrammingError

from features.errors import LeadscoreError
from features.store.records import Columns

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0002"
CHUNK = 10_000  # rows per statement of a bulk insert
SQLITE_VARIABLES = 32_766  # parameters in one SQLite statement at most (SQLite 3.32 and later)
COPY_ROWS = 64  # from this many rows PostgreSQL takes an append by COPY
_JSON = msgspec.json.Encoder()


def connect(url: str, autocommit: bool = False) -> Engine:
    """An engine for a store URL; a malformed URL or a missing driver is the user's to fix.

    `autocommit=True`, on PostgreSQL: each statement is its own transaction, committed
    without waiting for the disk (a server crash can lose the last few hundred ms of it). It
    serves a stored score's one-statement read and its decision, rows that are our record,
    not a caller's data: no BEGIN, SET LOCAL or COMMIT round trips (each 0.5 ms on this VM
    when its cores idle between requests). SQLite's transactions cost no round trip.
    """
    try:
        engine = create_engine(_driver(url))
    except Exception as exc:
        raise LeadscoreError(f"store URL {url!r}: {str(exc).splitlines()[0]}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    event.listen(engine, "checkout", _replace_if_ended)
    if autocommit:
        event.listen(engine, "connect", _commit_without_waiting)
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def _replace_if_ended(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled PostgreSQL connection can die with its server. A server that ends a session
    says so on its socket (an error, then end of file), so a connection with something to
    read while idle in the pool is replaced: SQLAlchemy retries the checkout with a new one.

    SQLAlchemy's pre-ping sends a query instead: a round trip per checkout, 0.5–0.8 ms on
    this VM when its cores idle between requests, and a stored score checks out twice.
    """
    if dbapi_connection.closed:
        raise DisconnectionError("the connection is closed")
    waiting = select.poll()  # not select(): a worker may hold file numbers past 1024
    waiting.register(dbapi_connection.fileno(), select.POLLIN)
    if waiting.poll(0):
        raise DisconnectionError("the server ended this connection")


def _commit_without_waiting(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    dbapi_connection.commit()  # the session's setting, kept; no transaction left open


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction, committed when the block ends (rolled back if it raises).

    On SQLite it begins IMMEDIATE: the write lock is taken first, so what the transaction
    reads cannot change before it writes (the capacity count), and a waiting writer waits
    (busy_timeout) instead of failing on a stale snapshot.
    """
    connect = engine.connect().execution_options(sqlite_begin="IMMEDIATE")
    with connect as connection, connection.begin():
        yield connection


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision with Alembic, never by hand-run DDL."""
    from alembic import command
    from alembic.config import Config

    database = engine.url.database
    if engine.dialect.name == "sqlite" and database:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None: not a leadscore store yet); a server
    that cannot be reached is one line naming it."""
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and not Path(database).exists():
        return None  # connecting would create the file
    try:
        with engine.connect() as connection:
            return connection.execute(sql("SELECT version_num FROM alembic_version")).scalar()
    except ProgrammingError:  # PostgreSQL: no such table
        return None
    except OperationalError as exc:  # SQLite: no such table; PostgreSQL: no server, no database
        if engine.dialect.name == "sqlite":
            return None
        raise unreachable(engine, exc) from None


def unreachable(engine: Engine, exc: Exception) -> LeadscoreError:
    """The database error a user can act on, in one line, password hidden."""
    cause = getattr(exc, "orig", exc)
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return LeadscoreError(f"store {engine.url!r}: cannot reach the database ({first})")


def insert_new(
    connection: Connection,
    table: Table,
    chunks: Iterable[list[dict[str, Any]]],
    keys: list[str],
) -> list[Any]:
    """Insert rows whose key is new, a statement per CHUNK rows; returns their first keys.

    PostgreSQL takes each statement's rows as one array per column (`unnest`), about 3×
    faster than a multi-row VALUES list; SQLite's executemany is already a loop in C.
    """
    postgres = connection.dialect.name == "postgresql"
    columnar = postgres and not any(isinstance(col.type, JSON) for col in table.columns)
    insert = postgresql.insert if postgres else sqlite.insert
    statement = (
        _unnest_insert(table, keys)
        if columnar
        else insert(table).on_conflict_do_nothing(index_elements=keys).returning(table.c[keys[0]])
    )
    stored: list[Any] = []
    for chunk in chunks:
        for start in range(0, len(chunk), CHUNK):
            part = chunk[start : start + CHUNK]
            params = {col.name: [r[col.name] for r in part] for col in table.columns}
            stored += connection.execute(statement, params if columnar else part).scalars().all()
    return stored


def append(connection: Connection, table: Table, columns: Columns) -> None:
    """Append rows that cannot collide (a log such as decisions), as fast as the backend can.

    The driver gets plain tuples zipped from the columns, JSON columns already encoded
    (msgspec): SQLAlchemy's per-row processing of 1,000 decisions cost more than scoring them.
    PostgreSQL takes more than a few rows with COPY, several times faster than INSERT for a
    nightly rescore's 200,000; a stored score's one row is one INSERT, one round trip where
    COPY takes two.
    """
    names = list(columns)
    if not names or not columns[names[0]]:
        return
    values = list(
        zip(
            *(
                [_JSON.encode(value).decode() for value in columns[name]]
                if isinstance(table.c[name].type, JSON)
                else columns[name]
                for name in names
            ),
            strict=True,
        )
    )
    listed = ", ".join(names)
    if connection.dialect.name != "postgresql" or len(values) < COPY_ROWS:
        insert_rows(connection, table, names, values)
        return
    raw = connection.connection.dbapi_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({listed}) FROM STDIN") as copy:
        for value in values:
            copy.write_row(value)


def insert_rows(
    connection: Connection, table: Table, names: Sequence[str], rows: Sequence[tuple]
) -> None:
    """A bulk insert of plain tuples: multi-row VALUES, as many rows a statement as SQLite's
    parameter limit allows (PostgreSQL's is higher).

    Not executemany: the driver releases and retakes the GIL around each row's step, so the
    service's decision writer took the GIL from the request beside it a thousand times per
    batch of decisions, which cost /score_batch 25 ms (BENCHMARKS.md "Service"). One statement
    steps once.
    """
    per = max(1, SQLITE_VARIABLES // len(names))
    head = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    one = f"({', '.join([mark] * len(names))})"
    for start in range(0, len(rows), per):
        part = rows[start : start + per]
        connection.exec_driver_sql(
            head + ", ".join([one] * len(part)), tuple(chain.from_iterable(part))
        )


def upsert(connection: Connection, table: Table, row: dict[str, Any], key: str) -> None:
    """Insert a row, or overwrite every other column of the row with the same key."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(row)
    changes = {name: statement.excluded[name] for name in row if name != key}
    connection.execute(statement.on_conflict_do_update(index_elements=[key], set_=changes))


def fetch_rows(connection: Connection, query: TextClause, params: dict[str, Any]) -> list[tuple]:
    """Rows of a small statement on the request path, straight from the driver's cursor
    (none for a statement that returns none, such as an INSERT).

    SQLAlchemy's result layer cost more than SQLite's own work on a stored score's read of a
    lead's 200 events (0.36 ms against 0.17 ms, BENCHMARKS.md "Lead store"), so the statement
    is compiled once per backend and its rows are the driver's tuples.
    """
    statement, order = _compiled(query, connection.dialect)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement, tuple(params[name] for name in order) if order else params)
        return cursor.fetchall() if cursor.description is not None else []
    finally:
        cursor.close()


@lru_cache(maxsize=32)
def _compiled(query: TextClause, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    """The statement in the driver's own parameter style, and the order of positional ones."""
    compiled = query.compile(dialect=dialect)
    return compiled.string, tuple(compiled.positiontup or ()) if dialect.positional else ()


def _unnest_insert(table: Table, keys: list[str]) -> TextClause:
    """INSERT … SELECT FROM unnest(one array per column) … ON CONFLICT DO NOTHING RETURNING."""
    dialect = postgresql.dialect()
    names = [col.name for col in table.columns]
    arrays = ", ".join(
        f"CAST(:{col.name} AS {col.type.compile(dialect=dialect)}[])" for col in table.columns
    )
    return sql(
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT ({', '.join(keys)}) DO NOTHING RETURNING {keys[0]}"
    )


def _driver(url: str) -> str:
    """`postgresql://` as users write it, spoken through psycopg 3 (SQLAlchemy's default
    PostgreSQL driver is psycopg2, which leadscore does not install)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _sqlite_begin(connection: Connection) -> None:
    """SQLAlchemy's documented way to choose how SQLite begins (pysqlite's own BEGIN is off)."""
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL lets readers and several writers' small transactions share the file; writers wait
    instead of failing. NORMAL syncs: in WAL mode a commit is in the log file before it is
    acknowledged, so a killed server loses nothing it acknowledged; only a power cut can
    lose the last commits, which a per-commit fsync (FULL: ~4 ms a commit here, more than
    a whole /score) would prevent. Production data that must survive power cuts belongs in
    PostgreSQL."""
    connection.isolation_level = None  # transactions begin in _sqlite_begin, not implicitly
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
