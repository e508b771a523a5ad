"""Invoice PDFs kept ten years: files in development, S3 (moto's server over HTTP) in production."""

from __future__ import annotations

import logging
import os
import socket
import stat
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from flask import Flask
from moto.server import ThreadedMotoServer

from app import create_app
from invoicing import storage
from invoicing.storage import (
    DiskInvoiceStore,
    InvoiceMissing,
    InvoiceOverwriteRefused,
    InvoiceStorageError,
    S3InvoiceStore,
    retain_until,
)

PDF = b"%PDF-1.7\n% an invoice\n%%EOF\n"
OTHER_PDF = b"%PDF-1.7\n% another invoice\n%%EOF\n"
KEY = "platform/2026/invoices/F-2026-000001.pdf"
CREDENTIALS = {"VAULT_S3_ACCESS_KEY_ID": "testing", "VAULT_S3_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a loopback port for this module."""
    werkzeug_log = logging.getLogger("werkzeug")
    level = werkzeug_log.level
    werkzeug_log.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    werkzeug_log.setLevel(level)


@pytest.fixture
def make_app(test_settings: dict[str, Any], tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Apps on the test settings with their own instance folder; their stores closed after."""
    apps: list[Flask] = []

    def make(**settings: Any) -> Flask:
        app = create_app({**test_settings, "INSTANCE_PATH": str(tmp_path / "instance"),
                          "VAULT_DIR": str(tmp_path / "vault"), **settings})
        apps.append(app)
        return app

    yield make
    for app in apps:
        storage.close_store(app)


def _bucket(endpoint: str, *, object_lock: bool) -> str:
    name = f"invoices-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-3",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock,
                         CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    client.close()
    return name


def _s3_app(make_app: Callable[..., Flask], endpoint: str, bucket: str, **more: Any) -> Flask:
    settings = dict(VAULT_BACKEND="s3", VAULT_S3_BUCKET=bucket, VAULT_S3_ENDPOINT=endpoint,
                    VAULT_S3_REGION="eu-west-3", VAULT_S3_MAX_ATTEMPTS=1, VAULT_S3_TIMEOUT=5,
                    **CREDENTIALS)
    return make_app(**{**settings, **more})


def test_retention_runs_ten_years_from_the_issue_date() -> None:
    assert retain_until(date(2026, 12, 6)) == datetime(2036, 12, 7, tzinfo=UTC)
    assert retain_until(date(2028, 2, 29)) == datetime(2038, 3, 2, tzinfo=UTC)


def test_development_keeps_invoices_as_files_in_the_instance_folder(
        make_app: Callable[..., Flask], tmp_path: Path) -> None:
    app = make_app()
    assert app.config["INVOICES_DIR"] == str(tmp_path / "instance" / "invoices")
    assert storage.store(app, KEY, PDF, issued_on=date(2026, 12, 6)) is True
    path = tmp_path / "instance" / "invoices" / KEY
    assert path.read_bytes() == PDF
    assert stat.S_IMODE(path.stat().st_mode) == 0o440  # read-only
    with app.app_context():
        assert storage.load(KEY) == PDF
    assert storage.load(KEY, app) == PDF
    assert [p.name for p in path.parent.iterdir()] == ["F-2026-000001.pdf"]  # no temp left
    # Vault and invoices never share a folder.
    assert not Path(app.config["VAULT_DIR"]).joinpath(KEY).exists()


def test_on_disk_the_same_bytes_again_change_nothing_and_other_bytes_are_refused(
        tmp_path: Path) -> None:
    store = DiskInvoiceStore(tmp_path)
    until = retain_until(date(2026, 12, 6))
    assert store.put(KEY, PDF, retain_until=until) is True
    assert store.put(KEY, PDF, retain_until=until) is False
    with pytest.raises(InvoiceOverwriteRefused, match="never replaced"):
        store.put(KEY, OTHER_PDF, retain_until=until)
    assert store.get(KEY) == PDF
    assert sorted(os.listdir(tmp_path / "platform/2026/invoices")) == ["F-2026-000001.pdf"]


@pytest.mark.parametrize("key", ["../escape.pdf", "/etc/passwd", "a//b.pdf", "a/../b.pdf",
                                 "", "a b.pdf", ".hidden/x.pdf"])
def test_keys_that_could_escape_are_refused(tmp_path: Path, key: str) -> None:
    store = DiskInvoiceStore(tmp_path / "invoices")
    with pytest.raises(InvoiceStorageError, match="invalid invoice key"):
        store.put(key, PDF, retain_until=retain_until(date(2026, 1, 1)))
    assert not (tmp_path / "invoices").exists()


def test_a_missing_invoice_and_bytes_that_are_no_pdf(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    with pytest.raises(InvoiceMissing):
        storage.load("platform/2026/invoices/F-2026-999999.pdf", app)
    with pytest.raises(InvoiceStorageError, match="only PDF bytes"):
        storage.store(app, KEY, b"<html>", issued_on=date(2026, 12, 6))
    assert not storage.get_store(app).exists(KEY)


def test_an_unknown_backend_is_refused(make_app: Callable[..., Flask]) -> None:
    app = make_app(INVOICES_BACKEND="ftp")
    with pytest.raises(InvoiceStorageError, match="disk or s3, not 'ftp'"):
        storage.get_store(app)


def test_s3_round_trip_under_the_invoices_prefix_of_the_vaults_bucket(
        make_app: Callable[..., Flask], s3_endpoint: str) -> None:
    bucket = _bucket(s3_endpoint, object_lock=False)
    app = _s3_app(make_app, s3_endpoint, bucket)
    store = storage.get_store(app)
    assert isinstance(store, S3InvoiceStore)
    assert (store.bucket, store.prefix) == (bucket, "invoices/")
    assert storage.store(app, KEY, PDF, issued_on=date(2026, 12, 6)) is True
    assert storage.load(KEY, app) == PDF
    listed = store.client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["invoices/" + KEY]
    head = store.head(KEY)
    assert head["ContentType"] == "application/pdf"
    assert "ObjectLockMode" not in head  # this bucket has no Object Lock: skipped cleanly
    assert store.object_lock_enabled() is False


def test_s3_never_overwrites_an_invoice(make_app: Callable[..., Flask],
                                        s3_endpoint: str) -> None:
    bucket = _bucket(s3_endpoint, object_lock=False)
    app = _s3_app(make_app, s3_endpoint, bucket, INVOICES_S3_PREFIX="factures/")
    assert storage.store(app, KEY, PDF) is True
    assert storage.store(app, KEY, PDF) is False
    with pytest.raises(InvoiceOverwriteRefused, match="never replaced"):
        storage.store(app, KEY, OTHER_PDF)
    assert storage.load(KEY, app) == PDF
    store = storage.get_store(app)
    assert isinstance(store, S3InvoiceStore)
    # An object someone else wrote there without our checksum is compared byte for byte.
    store.client.put_object(Bucket=bucket, Key="factures/other.pdf", Body=PDF)
    assert storage.store(app, "other.pdf", PDF) is False
    with pytest.raises(InvoiceOverwriteRefused):
        storage.store(app, "other.pdf", OTHER_PDF)


def test_s3_object_lock_keeps_each_invoice_in_compliance_mode_ten_years(
        make_app: Callable[..., Flask], s3_endpoint: str) -> None:
    bucket = _bucket(s3_endpoint, object_lock=True)
    app = _s3_app(make_app, s3_endpoint, "unused-vault-bucket", INVOICES_S3_BUCKET=bucket,
                  INVOICES_S3_PREFIX="")
    store = storage.get_store(app)
    assert isinstance(store, S3InvoiceStore)
    assert store.object_lock_enabled() is True
    assert storage.store(app, KEY, PDF, issued_on=date(2026, 12, 6)) is True
    head = store.head(KEY)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] == datetime(2036, 12, 7, tzinfo=UTC)
    # The locked version cannot be deleted, even by its writer.
    with pytest.raises(ClientError, match="AccessDenied|locked|retention"):
        store.client.delete_object(Bucket=bucket, Key=KEY, VersionId=head["VersionId"])
    assert storage.load(KEY, app) == PDF
    with pytest.raises(InvoiceOverwriteRefused):
        storage.store(app, KEY, OTHER_PDF, issued_on=date(2026, 12, 6))
    versions = store.client.list_object_versions(Bucket=bucket, Prefix=KEY)["Versions"]
    assert len(versions) == 1  # the refusal wrote no second version


def test_an_unreachable_store_is_a_clear_storage_error(make_app: Callable[..., Flask]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = _s3_app(make_app, f"http://127.0.0.1:{port}", "invoices",
                  VAULT_S3_TIMEOUT=1)
    with pytest.raises(InvoiceStorageError, match="Could not connect"):
        storage.store(app, KEY, PDF)


def test_a_writer_racing_between_the_check_and_the_put_never_replaces_the_invoice(
        make_app: Callable[..., Flask], s3_endpoint: str) -> None:
    bucket = _bucket(s3_endpoint, object_lock=False)
    app = _s3_app(make_app, s3_endpoint, bucket)
    store = storage.get_store(app)
    assert isinstance(store, S3InvoiceStore)
    store.client.put_object(Bucket=bucket, Key="invoices/" + KEY, Body=OTHER_PDF)

    class LateStore(S3InvoiceStore):
        """Sees no object at its check, as when another writer lands just after it."""

        def _existing_digest(self, key: str) -> str | None:
            return None

    late = LateStore.__new__(LateStore)
    late.__dict__.update(store.__dict__)
    with pytest.raises(InvoiceOverwriteRefused):
        late.put(KEY, PDF, retain_until=retain_until(date(2026, 12, 6)))
    assert store.get(KEY) == OTHER_PDF  # the conditional put (If-None-Match: *) was refused
