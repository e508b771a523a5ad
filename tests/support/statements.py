"""Counting the SQL statements a block sends, with SQLAlchemy's cursor event."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import event

from extensions import db


@contextmanager
def statements() -> Iterator[list[str]]:
    """The statements sent on the app's engine while the block runs, in order."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def statements_of(client: FlaskClient, urls: list[str]) -> dict[str, int]:
    """How many statements each page costs, each answered 200."""
    counts = {}
    for url in urls:
        with statements() as seen:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        counts[url] = len(seen)
    return counts
