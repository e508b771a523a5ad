"""`comptoir vault ...` commands on the embedded disk store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskCliRunner
from vault_support import new_vault_key

from backups.vault import BackupRequest, BackupStatus, store_backup

OLD = datetime.now(UTC) - timedelta(days=800)


def test_purge_command_dry_run_then_for_real(
    db, runner: FlaskCliRunner, make_request: Callable[..., BackupRequest]
) -> None:
    backup = store_backup(make_request(delivered_at=OLD))
    store_backup(make_request())
    db.session.commit()  # the vault leaves the commit to its caller
    result = runner.invoke(args=["vault", "purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"would purge {backup.id}" in result.output and "would purge 1 backups" in result.output
    db.session.refresh(backup)
    assert backup.status == BackupStatus.STORED
    result = runner.invoke(args=["vault", "purge"])
    assert "purged 1 backups" in result.output
    db.session.refresh(backup)
    assert backup.status == BackupStatus.PURGED


def test_erase_command_asks_then_erases(
    db, runner: FlaskCliRunner, make_request: Callable[..., BackupRequest]
) -> None:
    backup = store_backup(make_request())
    db.session.commit()
    result = runner.invoke(args=["vault", "erase", "--buyer", "camille@example.com"], input="n\n")
    assert result.exit_code != 0
    db.session.refresh(backup)
    assert backup.status == BackupStatus.STORED
    result = runner.invoke(
        args=["vault", "erase", "--buyer", "camille@example.com", "--by", "op-1"], input="y\n"
    )
    assert result.exit_code == 0, result.output
    assert "erased 1 backups" in result.output
    db.session.refresh(backup)
    assert backup.status == BackupStatus.ERASED


def test_rotate_key_command(
    app: Flask, db, runner: FlaskCliRunner, make_request: Callable[..., BackupRequest]
) -> None:
    store_backup(make_request())
    db.session.commit()
    app.config["VAULT_KEY"] = f"{new_vault_key('v2')},{app.config['VAULT_KEY']}"
    result = runner.invoke(args=["vault", "rotate-key"])
    assert result.exit_code == 0, result.output
    assert "rewrapped 1 data keys under vault key v2" in result.output
    assert "v2: 1 backups" in result.output


def test_retry_pending_and_status_commands(
    app: Flask, db, runner: FlaskCliRunner, make_request: Callable[..., BackupRequest], tmp_path
) -> None:
    good_dir = app.config["VAULT_DIR"]
    (tmp_path / "blocker").write_text("")
    app.config["VAULT_DIR"] = str(tmp_path / "blocker")
    backup = store_backup(make_request())
    assert backup.status == BackupStatus.PENDING
    db.session.commit()
    app.config["VAULT_DIR"] = good_dir
    result = runner.invoke(args=["vault", "retry-pending"])  # not due yet: tried all the same
    assert result.exit_code == 0, result.output
    assert "pending backups: 1 stored, 0 failed, 0 still pending" in result.output
    result = runner.invoke(args=["vault", "status"])
    assert "stored: 1" in result.output and "open alerts: 0" in result.output


def test_retry_pending_tries_every_pending_backup_now_unless_due_only(
    app: Flask, db, runner: FlaskCliRunner, make_request: Callable[..., BackupRequest], tmp_path
) -> None:
    from backups.vault.tasks import retry_pending_task

    good_dir = app.config["VAULT_DIR"]
    (tmp_path / "blocker").write_text("")
    app.config["VAULT_DIR"] = str(tmp_path / "blocker")  # the store is down
    first, second = store_backup(make_request()), store_backup(make_request())
    db.session.commit()
    result = runner.invoke(args=["vault", "retry-pending"])
    assert result.exit_code == 0, result.output
    assert "pending backups: 0 stored, 2 failed, 2 still pending" in result.output

    app.config["VAULT_DIR"] = good_dir  # back, but both wait for their backoff
    result = runner.invoke(args=["vault", "retry-pending", "--due-only"])
    assert "pending backups: 0 stored, 0 failed, 2 still pending" in result.output
    assert retry_pending_task() == 0  # the periodic job waits for the backoff too
    result = runner.invoke(args=["vault", "retry-pending", "--limit", "1"])
    assert "pending backups: 1 stored, 0 failed, 1 still pending" in result.output
    result = runner.invoke(args=["vault", "retry-pending"])
    assert "pending backups: 1 stored, 0 failed, 0 still pending" in result.output
    db.session.expire_all()
    assert {first.status, second.status} == {BackupStatus.STORED}
    assert first.pending_object is None and second.attempts == 3


def test_retry_pending_refuses_a_limit_below_one(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["vault", "retry-pending", "--limit", "0"])
    assert result.exit_code == 2 and "--limit" in result.output


def test_init_bucket_on_disk_backend_says_there_is_no_bucket(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["vault", "init-bucket"])
    assert result.exit_code == 0 and "disk backend" in result.output
