"""Storing and opening backups in the embedded default: a folder on disk."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from backups.vault import (
    AccessOutcome,
    Actor,
    ActorKind,
    Backup,
    BackupNotFound,
    BackupRequest,
    BackupStatus,
    TamperedBackup,
    VaultAlert,
    VaultError,
    list_accesses,
    open_backup,
    retry_pending_backups,
    store_backup,
)
from backups.vault.models import BackupAccess

BUYER = Actor(ActorKind.BUYER, "user-1", "203.0.113.7")


def object_path(app: Flask, backup: Backup) -> Path:
    return Path(app.config["VAULT_DIR"]) / backup.object_key


def test_round_trip_on_disk(app: Flask, db, make_request: Callable[..., BackupRequest]) -> None:
    request = make_request()
    backup = store_backup(request)
    assert backup.status == BackupStatus.STORED
    assert backup.attempts == 1 and backup.pending_object is None
    assert backup.object_key == f"partner-a/{backup.id}"
    stored = object_path(app, backup).read_bytes()
    assert request.bundle["product_key"].encode() not in stored  # type: ignore[index]
    assert b"camille" not in stored.lower()
    assert (backup.expires_at - backup.created_at).days in (730, 731)

    contents = open_backup(backup.id, BUYER)
    assert contents.bundle == request.bundle
    assert contents.buyer_ref == "camille@example.com"
    [entry] = list_accesses("CAMILLE@example.com ")
    assert (entry.actor_kind, entry.actor_id, entry.source) == ("buyer", "user-1", "203.0.113.7")
    assert entry.outcome == AccessOutcome.OK and entry.backup_id == backup.id


def test_storing_the_same_order_line_twice_keeps_one_backup(
    app: Flask, db, make_request: Callable[..., BackupRequest]
) -> None:
    request = make_request()
    first = store_backup(request)
    again = store_backup(make_request(order_line_ref=request.order_line_ref))
    assert again.id == first.id
    assert db.session.scalar(select(func.count()).select_from(Backup)) == 1
    assert len(list(Path(app.config["VAULT_DIR"]).rglob("*"))) == 2  # partner folder + object
    with pytest.raises(VaultError, match="another partner"):
        store_backup(make_request(order_line_ref=request.order_line_ref, partner="partner-b"))


def test_bundle_may_be_given_as_json_bytes(db, make_request: Callable[..., BackupRequest]) -> None:
    backup = store_backup(make_request(bundle=b'{"product_key": "AAAAA-BBBBB"}'))
    assert open_backup(backup.id, BUYER).bundle == {"product_key": "AAAAA-BBBBB"}
    with pytest.raises(ValueError, match="JSON object"):
        store_backup(make_request(bundle=b"[1, 2]"))
    with pytest.raises(ValueError, match="partner slug"):
        store_backup(make_request(partner="../etc"))


def test_flipped_byte_on_disk_is_detected_and_alerted(
    app: Flask, db, make_request: Callable[..., BackupRequest], caplog: pytest.LogCaptureFixture
) -> None:
    backup = store_backup(make_request())
    path = object_path(app, backup)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    with caplog.at_level(logging.ERROR, logger="comptoir.vault"), pytest.raises(TamperedBackup):
        open_backup(backup.id, BUYER)
    assert any("ALERT" in r.message and str(backup.id) in r.message for r in caplog.records)
    alert = db.session.scalars(select(VaultAlert)).one()
    assert alert.backup_id == backup.id and "SHA-256" in alert.detail
    access = db.session.scalars(select(BackupAccess)).one()
    assert access.outcome == AccessOutcome.TAMPERED


def test_object_and_recorded_hash_both_rewritten_still_fail_authentication(
    app: Flask, db, make_request: Callable[..., BackupRequest]
) -> None:
    from backups.vault.crypto import sha256_hex

    backup = store_backup(make_request())
    path = object_path(app, backup)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x80
    path.write_bytes(bytes(data))
    backup.sha256 = sha256_hex(bytes(data))
    db.session.commit()
    with pytest.raises(TamperedBackup, match="authenticate"):
        open_backup(backup.id, BUYER)


def test_missing_object_is_reported_as_corrupt(
    app: Flask, db, make_request: Callable[..., BackupRequest]
) -> None:
    backup = store_backup(make_request())
    object_path(app, backup).unlink()
    with pytest.raises(TamperedBackup, match="missing"):
        open_backup(backup.id, BUYER)
    assert db.session.scalar(select(func.count()).select_from(VaultAlert)) == 1


def test_backup_out_of_scope_is_not_found_and_logged(
    db, make_request: Callable[..., BackupRequest], caplog: pytest.LogCaptureFixture
) -> None:
    backup = store_backup(make_request(partner="partner-a"))
    reseller_b = Actor(ActorKind.RESELLER, "reseller-b", "198.51.100.2")
    with caplog.at_level(logging.WARNING, logger="comptoir.vault"), pytest.raises(BackupNotFound):
        open_backup(backup.id, reseller_b, partner="partner-b")
    assert any("denied" in r.message for r in caplog.records)
    with pytest.raises(BackupNotFound):
        open_backup(backup.id, BUYER, buyer_ref="someone.else@example.com")
    outcomes = [e.outcome for e in list_accesses("camille@example.com")]
    assert outcomes == [AccessOutcome.DENIED, AccessOutcome.DENIED]
    assert open_backup(backup.id, BUYER, partner="partner-a", buyer_ref="camille@example.com")


def test_unwritable_vault_folder_leaves_backup_pending_then_retry_stores_it(
    app: Flask, db, make_request: Callable[..., BackupRequest], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the vault folder should be")
    app.config["VAULT_DIR"] = str(blocker)
    request = make_request()

    backup = store_backup(request)
    assert backup.status == BackupStatus.PENDING
    assert backup.attempts == 1 and backup.last_error and backup.pending_object
    db.session.commit()  # the vault leaves the commit to its caller
    assert open_backup(backup.id, BUYER).bundle == request.bundle  # readable from the row meanwhile

    app.config["VAULT_DIR"] = str(tmp_path / "vault-ok")
    assert retry_pending_backups().stored == 0  # not due yet: backoff
    assert retry_pending_backups(now=backup.next_attempt_at).stored == 1
    db.session.refresh(backup)
    assert backup.status == BackupStatus.STORED and backup.pending_object is None
    assert backup.attempts == 2 and backup.last_error is None
    assert open_backup(backup.id, BUYER).bundle == request.bundle
