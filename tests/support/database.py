"""Emptying the test database between tests (shared by the root conftest and the browser tests)."""

from __future__ import annotations

from extensions import db


def empty_tables() -> None:
    """Delete every row in dependency order: on tables this small, far cheaper than TRUNCATE."""
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
