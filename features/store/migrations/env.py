"""Alembic's entry point for the store: migrations run on the connection the Store passes."""

from alembic import context

from features.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
