"""The test database: emptying it between tests, and scratch databases beside it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

from extensions import db


def empty_tables() -> None:
    """Delete every row in dependency order: on tables this small, far cheaper than TRUNCATE."""
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


@contextmanager
def scratch_postgres(database_url: str, suffix: str) -> Iterator[str]:
    """A fresh PostgreSQL database beside the test one for the block, dropped afterwards."""
    base, _, name = database_url.rpartition("/")
    scratch = f"{name}_{suffix}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{scratch}"'))
    try:
        yield f"{base}/{scratch}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        admin.dispose()
