"""Expiry, reminders, renewal, purge, erasure and vault key rotation (disk store)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from vault_support import new_vault_key

from backups.vault import (
    AccessAction,
    Actor,
    ActorKind,
    Backup,
    BackupExpired,
    BackupNotFound,
    BackupRequest,
    BackupStatus,
    InvalidExtension,
    UnknownVaultKey,
    due_reminders,
    erase_buyer,
    extend_backup,
    keys_in_use,
    list_accesses,
    mark_reminded,
    open_backup,
    purge_expired,
    rotate_vault_key,
    set_backup_status,
    store_backup,
)
from backups.vault.models import BackupAccess

BUYER = Actor(ActorKind.BUYER, "user-1", "203.0.113.7")
DELIVERED = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


def object_path(app: Flask, backup: Backup) -> Path:
    return Path(app.config["VAULT_DIR"]) / backup.object_key


def test_expiry_is_two_years_after_delivery(db, make_request: Callable[..., BackupRequest]) -> None:
    backup = store_backup(make_request(delivered_at=DELIVERED))
    assert backup.expires_at == datetime(2028, 3, 10, 9, 30, tzinfo=UTC)
    leap = store_backup(make_request(delivered_at=datetime(2028, 2, 29, 12, tzinfo=UTC)))
    assert leap.expires_at == datetime(2030, 2, 28, 12, tzinfo=UTC)


def test_expired_backup_says_when_it_expired(
    db, make_request: Callable[..., BackupRequest]
) -> None:
    backup = store_backup(make_request(delivered_at=DELIVERED))
    later = backup.expires_at + timedelta(seconds=1)
    assert backup.display_status(later) == BackupStatus.EXPIRED
    with pytest.raises(BackupExpired) as caught:
        open_backup(backup.id, BUYER, now=later)
    assert caught.value.expired_on.isoformat() == "2028-03-10"
    assert open_backup(backup.id, BUYER, now=backup.expires_at - timedelta(seconds=1))


def test_purge_dry_run_changes_nothing_and_logs_each_backup(
    app: Flask, db, make_request: Callable[..., BackupRequest], caplog: pytest.LogCaptureFixture
) -> None:
    old = store_backup(make_request(delivered_at=DELIVERED))
    store_backup(make_request(delivered_at=DELIVERED + timedelta(days=60)))
    db.session.commit()  # the vault leaves the commit to its caller
    now = DELIVERED + timedelta(days=731)
    with caplog.at_level(logging.INFO, logger="comptoir.vault"):
        would = purge_expired(now=now, dry_run=True)
    assert [b.id for b in would] == [old.id]
    assert any("would purge" in r.message and str(old.id) in r.message for r in caplog.records)
    db.session.refresh(old)
    assert old.status == BackupStatus.STORED and object_path(app, old).exists()


def test_purge_deletes_object_keeps_row_and_destroys_key(
    app: Flask, db, make_request: Callable[..., BackupRequest], caplog: pytest.LogCaptureFixture
) -> None:
    old = store_backup(make_request(delivered_at=DELIVERED))
    young = store_backup(make_request(delivered_at=DELIVERED + timedelta(days=60)))
    db.session.commit()
    now = DELIVERED + timedelta(days=731)
    with caplog.at_level(logging.INFO, logger="comptoir.vault"):
        purged = purge_expired(now=now)
    assert [b.id for b in purged] == [old.id]
    assert any("purged backup" in r.message and str(old.id) in r.message for r in caplog.records)
    db.session.refresh(old)
    assert old.status == BackupStatus.PURGED and old.purged_at == now
    assert old.wrapped_key is None and not object_path(app, old).exists()
    assert object_path(app, young).exists()
    with pytest.raises(BackupExpired) as caught:
        open_backup(old.id, BUYER)
    assert caught.value.expired_on == old.expires_at.date()
    assert purge_expired(now=now) == []  # a second run finds nothing


def test_purge_that_cannot_delete_keeps_backup_expired_until_next_run(
    app: Flask, db, make_request: Callable[..., BackupRequest], tmp_path: Path
) -> None:
    backup = store_backup(make_request(delivered_at=DELIVERED))
    db.session.commit()
    now = DELIVERED + timedelta(days=731)
    vault_dir = app.config["VAULT_DIR"]
    app.config.update(VAULT_BACKEND="s3", VAULT_S3_BUCKET=None)  # storage misconfigured
    assert purge_expired(now=now) == []
    db.session.refresh(backup)
    assert backup.status == BackupStatus.EXPIRED and backup.last_error
    app.config.update(VAULT_BACKEND="disk", VAULT_DIR=vault_dir)
    assert [b.id for b in purge_expired(now=now)] == [backup.id]


def test_reminders_are_due_thirty_days_before_expiry_once(
    db, make_request: Callable[..., BackupRequest]
) -> None:
    backup = store_backup(make_request(delivered_at=DELIVERED))
    store_backup(make_request(delivered_at=DELIVERED + timedelta(days=90)))
    assert due_reminders(now=backup.expires_at - timedelta(days=31)) == []
    now = backup.expires_at - timedelta(days=29)
    assert [b.id for b in due_reminders(now=now)] == [backup.id]
    mark_reminded(backup.id, at=now)
    assert due_reminders(now=now) == []


def test_renewal_extends_expiry_and_rearms_the_reminder(
    db, make_request: Callable[..., BackupRequest]
) -> None:
    backup = store_backup(make_request(delivered_at=DELIVERED))
    mark_reminded(backup.id)
    until = backup.expires_at + timedelta(days=365)
    extend_backup(backup.id, until)
    db.session.commit()
    db.session.refresh(backup)
    assert backup.expires_at == until and backup.reminder_sent_at is None
    assert extend_backup(backup.id, until).expires_at == until  # a replayed renewal
    with pytest.raises(InvalidExtension):
        extend_backup(backup.id, until - timedelta(days=1))
        db.session.commit()
    assert open_backup(backup.id, BUYER, now=until - timedelta(days=1))


def test_purged_backup_cannot_be_renewed(db, make_request: Callable[..., BackupRequest]) -> None:
    backup = store_backup(make_request(delivered_at=DELIVERED))
    db.session.commit()
    now = DELIVERED + timedelta(days=731)
    purge_expired(now=now)
    with pytest.raises(InvalidExtension, match="purged"):
        extend_backup(backup.id, now + timedelta(days=365))
        db.session.commit()


def test_renewal_of_an_expired_backup_whose_object_is_still_there(
    db, make_request: Callable[..., BackupRequest]
) -> None:
    backup = store_backup(make_request(delivered_at=DELIVERED))
    set_backup_status(backup, BackupStatus.EXPIRED, "past its expiry date")
    db.session.commit()
    until = DELIVERED + timedelta(days=1100)
    extend_backup(backup.id, until)
    db.session.commit()
    db.session.refresh(backup)
    assert backup.status == BackupStatus.STORED
    assert open_backup(backup.id, BUYER, now=until - timedelta(days=1)).bundle


def test_erasure_removes_a_buyers_backups_only(
    app: Flask, db, make_request: Callable[..., BackupRequest], caplog: pytest.LogCaptureFixture
) -> None:
    mine = [store_backup(make_request()) for _ in range(2)]
    other = store_backup(make_request(buyer_ref="dominique@example.com"))
    open_backup(mine[0].id, BUYER)
    with caplog.at_level(logging.INFO, logger="comptoir.vault"):
        assert erase_buyer(" Camille@Example.COM", actor_id="operator-7") == 2
    assert any("vault erase by operator-7: 2 backups" in r.message for r in caplog.records)
    assert not any("camille" in r.getMessage().lower() for r in caplog.records)
    for backup in mine:
        db.session.refresh(backup)
        assert backup.status == BackupStatus.ERASED
        assert backup.buyer_ref is None and backup.wrapped_key is None
        assert not object_path(app, backup).exists()
        with pytest.raises(BackupNotFound):
            open_backup(backup.id, BUYER)
    audit = db.session.scalars(select(BackupAccess).where(BackupAccess.backup_id == mine[0].id))
    assert [(a.action, a.actor_id) for a in audit] == [(AccessAction.ERASE, "operator-7")]
    assert list_accesses("camille@example.com") == []
    assert open_backup(other.id, BUYER).bundle
    assert erase_buyer("camille@example.com") == 0


def test_vault_key_rotation_rewraps_without_rewriting_objects(
    app: Flask, db, make_request: Callable[..., BackupRequest]
) -> None:
    old_entry = app.config["VAULT_KEY"]
    backups = [store_backup(make_request()) for _ in range(3)]
    before = {b.id: object_path(app, b).read_bytes() for b in backups}
    app.config["VAULT_KEY"] = f"{new_vault_key('v2')},{old_entry}"

    assert rotate_vault_key() == 3
    assert keys_in_use() == {"v2": 3}
    assert rotate_vault_key() == 0
    app.config["VAULT_KEY"] = app.config["VAULT_KEY"].split(",")[0]  # the old key retired
    for backup in backups:
        assert object_path(app, backup).read_bytes() == before[backup.id]
        assert open_backup(backup.id, BUYER).bundle["product_key"]
    new = store_backup(make_request())
    assert new.vault_key_id == "v2"


def test_a_retired_key_still_in_use_is_reported(
    app: Flask, db, make_request: Callable[..., BackupRequest]
) -> None:
    backup = store_backup(make_request())
    app.config["VAULT_KEY"] = new_vault_key("v2")
    with pytest.raises(UnknownVaultKey):
        open_backup(backup.id, BUYER)
    with pytest.raises(UnknownVaultKey):
        rotate_vault_key()
