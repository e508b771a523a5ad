"""Backup statuses move only along BACKUP_TRANSITIONS, one audit row per move (disk store).

Run on SQLite by default and on PostgreSQL when COMPTOIR_TEST_DATABASE_URL names one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, func, select

import backups.vault.services as vault_services
from backups.vault import (
    BACKUP_TRANSITIONS,
    Actor,
    ActorKind,
    Backup,
    BackupRequest,
    BackupStatus,
    BackupStatusChange,
    VaultAlert,
    erase_buyer,
    extend_backup,
    open_backup,
    purge_expired,
    replace_bundle,
    retry_pending_backups,
    set_backup_status,
    status_history,
    store_backup,
)
from commerce.status import InvalidTransition

S = BackupStatus
BUYER = Actor(ActorKind.BUYER, "user-1", "203.0.113.7")
DELIVERED = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
AFTER_EXPIRY = DELIVERED + timedelta(days=731)
STATES: list[BackupStatus | None] = [None, *BackupStatus]
ILLEGAL = [(a, b) for a in STATES for b in BackupStatus if b not in BACKUP_TRANSITIONS[a]]


def moves(backup: Backup) -> list[tuple[str | None, str]]:
    return [(c.from_status, c.to_status) for c in status_history(backup)]


def count(db, model: type) -> int:  # type: ignore[no-untyped-def]
    return int(db.session.scalar(select(func.count()).select_from(model)))


def objects(app: Flask) -> list[Path]:
    return [p for p in Path(app.config["VAULT_DIR"]).rglob("*") if p.is_file()]


@pytest.fixture
def storage_down(app: Flask, tmp_path: Path) -> Callable[[bool], None]:
    """Make the disk store fail (a file where its folder should be), or work again."""
    good = app.config["VAULT_DIR"]
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")

    def down(is_down: bool = True) -> None:
        app.config["VAULT_DIR"] = str(blocker) if is_down else good

    return down


def test_the_table_covers_every_status_and_erased_is_final() -> None:
    assert set(BACKUP_TRANSITIONS) == {None, *BackupStatus}
    assert BACKUP_TRANSITIONS[S.ERASED] == frozenset()
    assert BACKUP_TRANSITIONS[None] == {S.PENDING, S.STORED}
    assert all(S.ERASED in BACKUP_TRANSITIONS[s] for s in BackupStatus if s != S.ERASED)
    assert all(s not in BACKUP_TRANSITIONS[s] for s in BackupStatus)  # no silent no-op rows


@pytest.mark.parametrize(("current", "new"), ILLEGAL, ids=[f"{a}-{b}" for a, b in ILLEGAL])
def test_an_illegal_transition_raises_and_changes_nothing(db, current, new) -> None:
    backup = Backup(status=current)
    with pytest.raises(InvalidTransition) as caught:
        set_backup_status(backup, new, "not allowed")
    assert caught.value.field == "backup" and caught.value.new == new
    assert backup.status == current
    assert not db.session.new  # no audit row added, the backup not pulled into the session


def test_an_illegal_transition_of_a_stored_row_leaves_row_and_history_alone(
    db, make_request: Callable[..., BackupRequest]
) -> None:
    backup = store_backup(make_request())
    erase_buyer("camille@example.com", actor_id="operator-7")
    before = moves(backup)
    with pytest.raises(InvalidTransition, match="from erased to stored"):
        set_backup_status(backup, S.STORED, "back from the dead")
    db.session.commit()
    db.session.refresh(backup)
    assert backup.status == S.ERASED and moves(backup) == before
    assert before == [(None, "stored"), ("stored", "erased")]


def test_store_records_its_creation_as_stored(
    db, make_request: Callable[..., BackupRequest]
) -> None:
    backup = store_backup(make_request())
    db.session.commit()
    [change] = status_history(backup)
    assert (change.from_status, change.to_status, change.actor) == (None, "stored", "system")
    assert change.reason == "stored at delivery" and change.at is not None


def test_store_down_then_retry_records_pending_then_stored(
    db, make_request: Callable[..., BackupRequest], storage_down: Callable[[bool], None]
) -> None:
    storage_down(True)
    backup = store_backup(make_request())
    db.session.commit()
    assert moves(backup) == [(None, "pending")]
    assert retry_pending_backups(due_only=False).failed == 1
    assert moves(backup) == [(None, "pending")]  # a failed attempt is no status change
    storage_down(False)
    assert retry_pending_backups(due_only=False).stored == 1
    assert moves(backup) == [(None, "pending"), ("pending", "stored")]


def test_a_replaced_bundle_goes_pending_then_stored(
    db, make_request: Callable[..., BackupRequest]
) -> None:
    request = make_request()
    backup = store_backup(request)
    db.session.commit()
    newer = {**request.bundle, "product_key": "NEW-KEY"}
    replace_bundle(request.order_line_ref, newer)
    db.session.commit()
    assert moves(backup) == [(None, "stored"), ("stored", "pending")]
    replace_bundle(request.order_line_ref, newer)  # pending already: no second row
    db.session.commit()
    assert retry_pending_backups().stored == 1  # due at once
    assert moves(backup) == [(None, "stored"), ("stored", "pending"), ("pending", "stored")]
    assert open_backup(backup.id, BUYER).bundle == newer


def test_purge_records_expired_then_purged(
    db, make_request: Callable[..., BackupRequest]
) -> None:
    backup = store_backup(make_request(delivered_at=DELIVERED))
    db.session.commit()
    assert [b.id for b in purge_expired(now=AFTER_EXPIRY)] == [backup.id]
    assert moves(backup) == [(None, "stored"), ("stored", "expired"), ("expired", "purged")]


def test_a_purge_that_fails_records_expired_once_then_purged(
    app: Flask, db, make_request: Callable[..., BackupRequest]
) -> None:
    backup = store_backup(make_request(delivered_at=DELIVERED))
    db.session.commit()
    vault_dir = app.config["VAULT_DIR"]
    app.config.update(VAULT_BACKEND="s3", VAULT_S3_BUCKET=None)  # storage misconfigured
    assert purge_expired(now=AFTER_EXPIRY) == []
    assert purge_expired(now=AFTER_EXPIRY) == []
    assert moves(backup) == [(None, "stored"), ("stored", "expired")]
    app.config.update(VAULT_BACKEND="disk", VAULT_DIR=vault_dir)
    assert purge_expired(now=AFTER_EXPIRY)
    assert moves(backup) == [(None, "stored"), ("stored", "expired"), ("expired", "purged")]


def test_a_pending_backup_past_expiry_is_purged_through_expired(
    db, make_request: Callable[..., BackupRequest], storage_down: Callable[[bool], None]
) -> None:
    storage_down(True)
    backup = store_backup(make_request(delivered_at=DELIVERED))
    db.session.commit()
    storage_down(False)
    assert retry_pending_backups(now=AFTER_EXPIRY, due_only=False).stored == 0  # not past expiry
    assert purge_expired(now=AFTER_EXPIRY)
    assert moves(backup) == [(None, "pending"), ("pending", "expired"), ("expired", "purged")]
    assert backup.pending_object is None and backup.wrapped_key is None


def test_a_renewal_brings_an_expired_backup_back_to_stored(
    app: Flask, db, make_request: Callable[..., BackupRequest]
) -> None:
    backup = store_backup(make_request(delivered_at=DELIVERED))
    db.session.commit()
    vault_dir = app.config["VAULT_DIR"]
    app.config.update(VAULT_BACKEND="s3", VAULT_S3_BUCKET=None)
    purge_expired(now=AFTER_EXPIRY)  # the delete fails: expired, object still there
    app.config.update(VAULT_BACKEND="disk", VAULT_DIR=vault_dir)
    extend_backup(backup.id, AFTER_EXPIRY + timedelta(days=365))
    db.session.commit()
    assert moves(backup) == [(None, "stored"), ("stored", "expired"), ("expired", "stored")]
    [renewal] = status_history(backup)[-1:]
    assert "renewed" in renewal.reason


def test_erasure_records_who_erased_from_any_status(
    db, make_request: Callable[..., BackupRequest], storage_down: Callable[[bool], None]
) -> None:
    stored = store_backup(make_request())
    purged = store_backup(make_request(delivered_at=DELIVERED))
    storage_down(True)
    pending = store_backup(make_request())
    storage_down(False)
    db.session.commit()
    assert [b.id for b in purge_expired(now=AFTER_EXPIRY)] == [purged.id]
    assert erase_buyer("camille@example.com", actor_id="operator-7") == 3
    assert moves(stored) == [(None, "stored"), ("stored", "erased")]
    assert moves(pending) == [(None, "pending"), ("pending", "erased")]
    assert moves(purged)[-1] == ("purged", "erased")
    erasures = [status_history(b)[-1] for b in (stored, pending, purged)]
    assert {(c.actor, c.reason) for c in erasures} == {("operator-7", "erased on request")}
    texts = " ".join(f"{c.reason} {c.actor}" for b in (stored, pending, purged)
                     for c in status_history(b))
    assert "camille" not in texts.lower()  # no personal data kept past erasure


def test_history_rows_go_with_their_backup(db, make_request: Callable[..., BackupRequest]) -> None:
    backup = store_backup(make_request())
    db.session.commit()
    db.session.execute(delete(Backup).where(Backup.id == backup.id))
    db.session.commit()
    assert count(db, BackupStatusChange) == 0  # ON DELETE CASCADE


def test_store_writes_nothing_the_caller_does_not_commit(
    app: Flask, db, make_request: Callable[..., BackupRequest]
) -> None:
    backup = store_backup(make_request())
    assert backup.status == S.STORED
    db.session.rollback()
    assert count(db, Backup) == 0 and count(db, BackupStatusChange) == 0
    # The object put before the insert stays behind without a row, and unreadable: its data
    # key was never saved. The bucket's lifecycle rule removes such leftovers.
    assert len(objects(app)) == 1


def test_a_rolled_back_replacement_leaves_the_stored_backup_readable(
    db, make_request: Callable[..., BackupRequest]
) -> None:
    request = make_request()
    backup = store_backup(request)
    db.session.commit()
    replace_bundle(request.order_line_ref, {**request.bundle, "product_key": "NEW-KEY"})
    db.session.rollback()
    db.session.refresh(backup)
    assert backup.status == S.STORED and moves(backup) == [(None, "stored")]
    assert open_backup(backup.id, BUYER).bundle == request.bundle


def test_a_concurrent_insert_of_the_same_line_loses_to_the_unique_constraint_cleanly(
    app: Flask, db, make_request: Callable[..., BackupRequest], monkeypatch: pytest.MonkeyPatch
) -> None:
    request = make_request()
    winner = store_backup(request)
    db.session.commit()
    # The loser looked before the winner committed: it saw no backup for the line.
    lookups = iter([None])
    real_lookup = vault_services.backup_for_line
    monkeypatch.setattr(vault_services, "backup_for_line",
                        lambda ref: next(lookups, None) or real_lookup(ref))
    db.session.add(VaultAlert(kind="test", detail="the caller's own work"))
    again = store_backup(request)
    assert again.id == winner.id
    db.session.commit()  # the caller's transaction survived the failed insert
    assert count(db, VaultAlert) == 1 and count(db, Backup) == 1
    assert moves(winner) == [(None, "stored")]
    assert len(objects(app)) == 1  # the loser's object was deleted


def test_no_status_is_assigned_outside_set_backup_status() -> None:
    root = Path(__file__).resolve().parents[2] / "backups"
    assignment = re.compile(r"\.status\s*=(?!=)|\bstatus\s*=\s*BackupStatus|values\([^)]*status")
    offenders = [
        f"{path.relative_to(root.parent)}:{n}"
        for path in root.rglob("*.py") if path.name != "status.py"
        for n, line in enumerate(path.read_text().splitlines(), 1) if assignment.search(line)
    ]
    assert offenders == []
