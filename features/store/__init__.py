"""The lead store: the data contract's tables in a database, plus every decision.

SQLite is the embedded default (a file, no server); PostgreSQL is for production. One code path
(SQLAlchemy Core) serves both; the schema is versioned by Alembic migrations
(`features/store/migrations`), never by hand-run DDL. Like the contract, the store sits on the
ground floor, so every floor reads the same tables; importing it costs SQLAlchemy, so nothing
in `features` imports it unless a store is used.
"""
