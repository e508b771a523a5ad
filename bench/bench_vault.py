"""Backups stored and restored per second against a local S3 server (moto) on loopback."""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from moto.server import ThreadedMotoServer

from backups.vault import (
    Actor,
    ActorKind,
    BackupRequest,
    BackupStatus,
    close_store,
    get_store,
    open_backup,
    store_backup,
)
from backups.vault.models import Backup, BackupAccess, VaultAlert
from backups.vault.storage import S3Store
from extensions import db

RESULTS = Path(__file__).resolve().parent / "results"


def bundle(n: int, size: int) -> dict[str, Any]:
    """Return a licence bundle whose JSON is about `size` bytes, shaped like the real one."""
    fixed: dict[str, Any] = {
        "product_key": f"NK{n:05d}-3XKGY-W8QDP-RKJ7M-QF9VT",
        "product": {"code": "OFFICE-HOME-2024", "name": "Office Home & Business 2024", "seats": 1},
        "download": {"url": f"https://download.example/o/{secrets.token_urlsafe(24)}"},
        "order": {"number": f"CPT-2026-{n:06d}", "line": 1},
        "invoice": {"number": f"F2026-{n:06d}"},
        "buyer": {"name": "Camille Martin", "email": f"buyer{n}@example.com"},
    }
    room = max(size - len(json.dumps(fixed)) - 120, 64)
    # A signed licence token: base64url header.payload.signature; most of the bundle's weight.
    token_payload = secrets.token_urlsafe(room * 3 // 4)[: room - 100]
    fixed["licence"] = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0." + token_payload + "." + "s" * 86
    fixed["download"]["instructions"] = "Sign in with your Microsoft account, enter the key."
    return fixed


def make_app(endpoint: str, database_url: str) -> Flask:
    """Build a minimal app carrying only what the vault needs."""
    app = Flask("bench_vault")
    app.config.update(
        SQLALCHEMY_DATABASE_URI=database_url,
        VAULT_KEY="v1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        VAULT_BACKEND="s3",
        VAULT_S3_BUCKET=f"bench-vault-{uuid.uuid4().hex[:8]}",
        VAULT_S3_PREFIX="backups/",
        VAULT_S3_ENDPOINT=endpoint,
        VAULT_S3_REGION="eu-west-3",
        VAULT_S3_ACCESS_KEY_ID="bench",
        VAULT_S3_SECRET_ACCESS_KEY="bench",
    )
    db.init_app(app)
    return app


def run(count: int, database_url: str, object_lock: bool) -> dict[str, Any]:
    """Store then restore `count` backups; return the figures."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    app = make_app(f"http://{host}:{port}", database_url)
    sizes = [3_000 + secrets.randbelow(5_001) for _ in range(count)]
    try:
        with app.app_context():
            tables = [Backup.__table__, BackupAccess.__table__, VaultAlert.__table__]
            db.metadata.create_all(db.engine, tables=tables)
            store = get_store()
            assert isinstance(store, S3Store)
            store.init_bucket(create=True, object_lock=object_lock)
            requests = [
                BackupRequest(
                    partner="bench-partner",
                    order_line_ref=f"bench-{uuid.uuid4()}",
                    buyer_ref=f"buyer{n}@example.com",
                    bundle=bundle(n, sizes[n]),
                )
                for n in range(count)
            ]
            store_backup(requests[0])  # warm the connection pool and the lock probe
            ids, store_times = [], []
            started = time.perf_counter()
            for request in requests[1:]:
                t0 = time.perf_counter()
                backup = store_backup(request)
                store_times.append(time.perf_counter() - t0)
                if backup.status != BackupStatus.STORED:
                    raise SystemExit(f"backup not stored: {backup.last_error}")
                ids.append(backup.id)
            store_elapsed = time.perf_counter() - started
            object_sizes = [b.size for b in db.session.query(Backup).filter(Backup.id.in_(ids))]
            actor = Actor(ActorKind.SYSTEM, "bench", "127.0.0.1")
            open_times = []
            started = time.perf_counter()
            for backup_id in ids:
                t0 = time.perf_counter()
                open_backup(backup_id, actor)
                open_times.append(time.perf_counter() - t0)
            open_elapsed = time.perf_counter() - started
            db.session.remove()
            db.metadata.drop_all(db.engine, tables=tables)
            close_store()
            db.engine.dispose()
    finally:
        server.stop()
    n = len(ids)
    return {
        "benchmark": "vault",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "backups": n,
        "database": database_url.split(":")[0],
        "object_lock": object_lock,
        "store": "moto S3 server over HTTP on 127.0.0.1",
        "bundle_bytes": {"min": min(sizes), "median": int(statistics.median(sizes)),
                         "max": max(sizes)},
        "object_bytes_median": int(statistics.median(object_sizes)),
        "stored_per_second": round(n / store_elapsed, 1),
        "restored_per_second": round(n / open_elapsed, 1),
        "store_ms": _percentiles(store_times),
        "restore_ms": _percentiles(open_times),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def _percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100)
    return {"p50": round(cuts[49] * 1000, 2), "p95": round(cuts[94] * 1000, 2),
            "max": round(max(samples) * 1000, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=400, help="backups to store and restore")
    parser.add_argument("--database", default=None, help="SQLAlchemy URL (default: temp SQLite)")
    parser.add_argument("--object-lock", action="store_true", help="use an Object Lock bucket")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/bench-vault.db"
        result = run(max(args.count, 3), url, args.object_lock)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for path in (RESULTS / f"vault-{stamp}.json", RESULTS / "vault-latest.json"):
        path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"stored {result['stored_per_second']}/s, restored {result['restored_per_second']}/s "
          f"({result['backups']} backups, {result['database']}); written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
