"""Alembic environment: migrations run on the connection handed over by expansion.store."""

from alembic import context

from expansion import store

target_metadata = store.metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        from sqlalchemy import create_engine

        engine = create_engine(store.database_url())
        with engine.begin() as connection:
            _run(connection)
    else:
        _run(connection)


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    # slack_* tables are the Slack SDK's OAuth installation and state stores (migration 0005);
    # their shape is the SDK's, not in our metadata, so autogenerate must leave them alone.
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
    return not str(table or "").startswith("slack_")


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_ours,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
