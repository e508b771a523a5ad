"""The vault against a real S3 server over HTTP on loopback (moto's standalone server)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from moto.server import ThreadedMotoServer
from vault_support import free_port

from backups.vault import (
    Actor,
    ActorKind,
    BackupExpired,
    BackupRequest,
    BackupStatus,
    TamperedBackup,
    erase_buyer,
    extend_backup,
    get_store,
    open_backup,
    purge_expired,
    retry_pending_backups,
    store_backup,
)
from backups.vault.storage import LIFECYCLE_RULE_ID, S3Store

BUYER = Actor(ActorKind.BUYER, "user-1", "203.0.113.7")
DELIVERED = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
UseS3 = Callable[..., S3Store]


def versions(store: S3Store, key: str) -> list[dict]:
    listing = store.client.list_object_versions(Bucket=store.bucket, Prefix=store.prefix + key)
    return [v for v in listing.get("Versions", []) if v["Key"] == store.prefix + key]


def test_round_trip_on_s3(db, use_s3: UseS3, make_request: Callable[..., BackupRequest]) -> None:
    store = use_s3()
    request = make_request()
    backup = store_backup(request)
    assert backup.status == BackupStatus.STORED
    head = store.head(backup.object_key)
    assert head["ContentLength"] == backup.size
    key = f"backups/partner-a/{backup.id}"
    listed = store.client.list_objects_v2(Bucket=store.bucket)["Contents"]
    assert [o["Key"] for o in listed] == [key]  # partner and id only: no personal data
    tags = store.client.get_object_tagging(Bucket=store.bucket, Key=key)["TagSet"]
    assert tags == [{"Key": "comptoir-vault", "Value": "standard"}]
    assert open_backup(backup.id, BUYER).bundle == request.bundle


def test_flipped_byte_on_s3_is_detected(
    db, use_s3: UseS3, make_request: Callable[..., BackupRequest]
) -> None:
    store = use_s3()
    backup = store_backup(make_request())
    blob = bytearray(store.get(backup.object_key))
    blob[40] ^= 0x04
    key = store.prefix + backup.object_key
    store.client.put_object(Bucket=store.bucket, Key=key, Body=bytes(blob))
    with pytest.raises(TamperedBackup, match="SHA-256"):
        open_backup(backup.id, BUYER)


def test_unreachable_endpoint_leaves_pending_then_retry_stores(
    app: Flask, db, use_s3: UseS3, s3_endpoint: str, make_request: Callable[..., BackupRequest]
) -> None:
    store = use_s3(endpoint=f"http://127.0.0.1:{free_port()}")
    request = make_request()
    backup = store_backup(request)  # no exception: delivery goes on
    assert backup.status == BackupStatus.PENDING
    assert backup.attempts == 1 and "Could not connect" in (backup.last_error or "")
    db.session.commit()  # the vault leaves the commit to its caller
    assert open_backup(backup.id, BUYER).bundle == request.bundle

    assert retry_pending_backups(now=backup.next_attempt_at).failed == 1  # still down
    assert backup.attempts == 2

    app.config["VAULT_S3_ENDPOINT"] = s3_endpoint
    assert retry_pending_backups(now=backup.next_attempt_at).stored == 1
    assert backup.status == BackupStatus.STORED and backup.pending_object is None
    assert get_store().exists(backup.object_key)
    assert store.bucket == app.config["VAULT_S3_BUCKET"]
    assert open_backup(backup.id, BUYER).bundle == request.bundle


def test_store_down_pending_store_back_retry_pending_stores_it_at_once(
    app: Flask, db, runner: FlaskCliRunner, use_s3: UseS3, s3_endpoint: str,
    make_request: Callable[..., BackupRequest],
) -> None:
    from backups.vault import status_history

    use_s3(endpoint=f"http://127.0.0.1:{free_port()}")  # S3 unreachable
    request = make_request()
    backup = store_backup(request)
    assert backup.status == BackupStatus.PENDING
    db.session.commit()
    assert backup.next_attempt_at > datetime.now(UTC)  # its backoff has not run out

    app.config["VAULT_S3_ENDPOINT"] = s3_endpoint  # S3 is back
    result = runner.invoke(args=["vault", "retry-pending"])
    assert result.exit_code == 0, result.output
    assert "pending backups: 1 stored, 0 failed, 0 still pending" in result.output
    db.session.refresh(backup)
    assert backup.status == BackupStatus.STORED and backup.pending_object is None
    assert get_store().exists(backup.object_key)
    assert open_backup(backup.id, BUYER).bundle == request.bundle
    assert [(c.from_status, c.to_status) for c in status_history(backup)] == [
        (None, "pending"), ("pending", "stored")]


def test_retry_pending_while_s3_is_still_down_says_so(
    app: Flask, db, runner: FlaskCliRunner, use_s3: UseS3,
    make_request: Callable[..., BackupRequest],
) -> None:
    use_s3(endpoint=f"http://127.0.0.1:{free_port()}")
    backup = store_backup(make_request())
    db.session.commit()
    result = runner.invoke(args=["vault", "retry-pending"])
    assert result.exit_code == 0, result.output
    assert "pending backups: 0 stored, 1 failed, 1 still pending" in result.output
    db.session.refresh(backup)
    assert backup.status == BackupStatus.PENDING and backup.attempts == 2


def test_s3_server_stopped_then_restarted(
    app: Flask, db, use_s3: UseS3, make_request: Callable[..., BackupRequest]
) -> None:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        use_s3(endpoint=f"http://127.0.0.1:{port}")
        first = store_backup(make_request())
        assert first.status == BackupStatus.STORED
        db.session.commit()
    finally:
        server.stop()
    backup = store_backup(make_request())
    assert backup.status == BackupStatus.PENDING
    db.session.commit()

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()  # moto keeps its buckets in the process: the bucket is back
    try:
        assert retry_pending_backups(now=backup.next_attempt_at).stored == 1
        assert backup.status == BackupStatus.STORED
        assert open_backup(first.id, BUYER).bundle
        assert open_backup(backup.id, BUYER).bundle
    finally:
        from backups.vault import close_store

        close_store(app)
        server.stop()


def test_init_bucket_sets_the_lifecycle_rule(
    app: Flask, runner: FlaskCliRunner, use_s3: UseS3
) -> None:
    store = use_s3()
    store.client.put_bucket_lifecycle_configuration(
        Bucket=store.bucket,
        LifecycleConfiguration={"Rules": [
            {"ID": "someone-elses", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
             "Expiration": {"Days": 7}},
            {"ID": LIFECYCLE_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": "old/"},
             "Expiration": {"Days": 1}},
        ]},
    )
    result = runner.invoke(args=["vault", "init-bucket"])
    assert result.exit_code == 0, result.output
    assert "730 days" in result.output
    rules = {r["ID"]: r for r in store.lifecycle_rules()}
    assert set(rules) == {"someone-elses", LIFECYCLE_RULE_ID}
    ours = rules[LIFECYCLE_RULE_ID]
    assert ours["Status"] == "Enabled"
    assert ours["Expiration"] == {"Days": 730}
    assert ours["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    assert ours["Filter"]["And"]["Prefix"] == "backups/"


def test_init_bucket_creates_a_missing_bucket(
    app: Flask, runner: FlaskCliRunner, use_s3: UseS3
) -> None:
    use_s3()
    app.config["VAULT_S3_BUCKET"] = "vault-created-by-cli-" + str(int(time.time() * 1000))
    result = runner.invoke(args=["vault", "init-bucket", "--create", "--object-lock"])
    assert result.exit_code == 0, result.output
    assert "created bucket" in result.output and "GOVERNANCE" in result.output


def test_object_lock_bucket_gets_governance_retention_until_expiry(
    db, use_s3: UseS3, make_request: Callable[..., BackupRequest]
) -> None:
    store = use_s3(object_lock=True)
    backup = store_backup(make_request())
    head = store.head(backup.object_key)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert abs(head["ObjectLockRetainUntilDate"] - backup.expires_at) < timedelta(seconds=1)
    [version] = versions(store, backup.object_key)
    with pytest.raises(store.client.exceptions.ClientError, match="AccessDenied"):
        store.client.delete_object(
            Bucket=store.bucket,
            Key=store.prefix + backup.object_key,
            VersionId=version["VersionId"],
        )

    until = backup.expires_at + timedelta(days=365)
    extend_backup(backup.id, until)
    db.session.commit()
    head = store.head(backup.object_key)
    assert abs(head["ObjectLockRetainUntilDate"] - until) < timedelta(seconds=1)
    tags = store.client.get_object_tagging(
        Bucket=store.bucket, Key=store.prefix + backup.object_key
    )["TagSet"]
    assert tags == [{"Key": "comptoir-vault", "Value": "extended"}]  # out of the fixed-age rule


def test_purge_on_locked_bucket_deletes_every_version(
    db, use_s3: UseS3, make_request: Callable[..., BackupRequest]
) -> None:
    store = use_s3(object_lock=True)
    backup = store_backup(make_request(delivered_at=DELIVERED))
    db.session.commit()
    # moto never enforces the dates: our purge decides by expires_at and bypasses GOVERNANCE.
    store.client.put_object(
        Bucket=store.bucket, Key=store.prefix + backup.object_key, Body=b"a second version",
        ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=backup.expires_at,
    )
    assert len(versions(store, backup.object_key)) == 2
    assert purge_expired(now=DELIVERED + timedelta(days=700)) == []
    purged = purge_expired(now=DELIVERED + timedelta(days=731))
    assert [b.id for b in purged] == [backup.id]
    assert versions(store, backup.object_key) == []
    assert not store.exists(backup.object_key)
    with pytest.raises(BackupExpired):
        open_backup(backup.id, BUYER)


def test_erasure_on_locked_bucket(
    db, use_s3: UseS3, make_request: Callable[..., BackupRequest]
) -> None:
    store = use_s3(object_lock=True)
    backup = store_backup(make_request())
    assert erase_buyer("camille@example.com") == 1
    assert versions(store, backup.object_key) == []
    assert backup.status == BackupStatus.ERASED and backup.last_error is None


def test_idempotent_store_on_s3(
    db, use_s3: UseS3, make_request: Callable[..., BackupRequest]
) -> None:
    store = use_s3()
    request = make_request()
    assert store_backup(request).id == store_backup(request).id
    assert store.client.list_objects_v2(Bucket=store.bucket)["KeyCount"] == 1


def test_erasure_and_renewal_during_an_outage_catch_up_on_retry(
    app: Flask, db, use_s3: UseS3, s3_endpoint: str, make_request: Callable[..., BackupRequest]
) -> None:
    store = use_s3(object_lock=True)
    erased = store_backup(make_request())
    renewed = store_backup(make_request(buyer_ref="dominique@example.com"))
    db.session.commit()
    app.config["VAULT_S3_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"

    assert erase_buyer("camille@example.com") == 1  # the key is destroyed even so
    assert erased.status == BackupStatus.ERASED and erased.wrapped_key is None
    assert erased.last_error and store.exists(erased.object_key)
    until = renewed.expires_at + timedelta(days=365)
    extend_backup(renewed.id, until)
    db.session.commit()
    assert renewed.expires_at == until and renewed.retention_synced is False

    app.config["VAULT_S3_ENDPOINT"] = s3_endpoint
    retry_pending_backups()
    assert erased.last_error is None and versions(store, erased.object_key) == []
    assert renewed.retention_synced is True
    head = store.head(renewed.object_key)
    assert abs(head["ObjectLockRetainUntilDate"] - until) < timedelta(seconds=1)


def test_a_replaced_bundle_is_a_new_version_read_back_and_checked(
    app: Flask, db, use_s3: UseS3, s3_endpoint: str, make_request: Callable[..., BackupRequest]
) -> None:
    from backups.vault import replace_bundle

    store = use_s3()
    request = make_request()
    backup = store_backup(request)
    db.session.commit()
    newer = {**request.bundle, "units": [{"unit": 1, "product_key": "NEW-KEY"}]}
    app.config["VAULT_S3_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"  # storage down
    replaced = replace_bundle(request.order_line_ref, newer)
    assert replaced.id == backup.id and replaced.status == BackupStatus.PENDING
    db.session.commit()
    assert open_backup(backup.id, BUYER).bundle == newer  # read from the row meanwhile
    assert retry_pending_backups(now=replaced.next_attempt_at).failed == 1  # still down
    app.config["VAULT_S3_ENDPOINT"] = s3_endpoint
    assert retry_pending_backups(due_only=False).stored == 1
    assert replaced.status == BackupStatus.STORED and replaced.pending_object is None
    assert hashlib.sha256(store.get(backup.object_key)).hexdigest() == replaced.sha256
    assert open_backup(backup.id, BUYER).bundle == newer
    assert replace_bundle("no-such-line", newer) is None
