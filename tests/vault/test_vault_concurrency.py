"""Races that only PostgreSQL with real threads can show."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from backups.vault import Backup, BackupRequest, BackupStatusChange, store_backup
from extensions import db as _db


def test_concurrent_stores_of_one_order_line_make_one_backup(
    app: Flask, db, postgres_only: None, make_request: Callable[..., BackupRequest]
) -> None:
    request = make_request()
    barrier = threading.Barrier(4)
    ids: list[object] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        with app.app_context():
            try:
                barrier.wait()
                ids.append(store_backup(request).id)
                _db.session.commit()  # the vault leaves the commit to its caller
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(ids)) == 1
    assert db.session.scalar(select(func.count()).select_from(Backup)) == 1
    assert db.session.scalar(select(func.count()).select_from(BackupStatusChange)) == 1
    objects = [p for p in Path(app.config["VAULT_DIR"]).rglob("*") if p.is_file()]
    assert len(objects) == 1  # the losers' objects were deleted
