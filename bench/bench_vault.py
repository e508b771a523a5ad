"""Vault benchmark: backups stored and restored per second against a local S3 server (moto) on
loopback, each beside a raw boto3 put or get of the same bytes measured in the same run.

Each backup is stored as a delivery stores it (`store_backup`, then the caller's commit) and
restored as a buyer's access restores it (`open_backup`, audited, then the commit). The raw
baseline puts (tagged for the lifecycle rule, as the vault's puts are) and gets the same bundle's
bytes with the store's own boto3 client, one raw call beside each vault call, so that both see the
same server at the same moment.

Goals (GOALS; the script exits 1 when one is missed): stored/s >= 0.5 of raw puts/s and
restored/s >= 0.5 of raw gets/s, on every database measured: the vault's own work (envelope
encryption, its rows and audit, the commit) at most doubles the object store's round trip.
After the timing, every restored bundle is checked against what was stored; a mismatch exits 1.

Databases: PostgreSQL when reachable (by default a database of the bench's own, created when
missing and emptied at each run; `--database-url` or COMPTOIR_BENCH_DATABASE_URL), then SQLite in
a temporary directory. Keys are generated in memory. Run: `.venv/bin/python bench/bench_vault.py
[--count 300] [--databases postgresql,sqlite] [--object-lock]`. Writes JSON to
bench/results/vault-<UTC time>.json and bench/results/vault-latest.json.
"""

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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's code, whatever the virtualenv installed

from common import check_goals, own_postgres  # noqa: E402
from flask import Flask  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from backups.vault import (  # noqa: E402
    Actor,
    ActorKind,
    BackupRequest,
    BackupStatus,
    close_store,
    get_store,
    open_backup,
    store_backup,
)
from backups.vault.models import Backup  # noqa: E402
from backups.vault.storage import LIFECYCLE_TAG, TAG_STANDARD, S3Store  # noqa: E402
from extensions import db  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_bench_vault"
GOALS = {
    "stored_vs_raw_put": (">=", 0.5),
    "restored_vs_raw_get": (">=", 0.5),
}


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
    """Store then restore `count` backups, each beside a raw put or get; return the figures."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    app = make_app(f"http://{host}:{port}", database_url)
    sizes = [3_000 + secrets.randbelow(5_001) for _ in range(count)]
    try:
        with app.app_context():
            tables = [t for t in db.metadata.sorted_tables if t.name.startswith("vault_")]
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
            db.session.commit()
            figures = _timed(store, requests[1:])
            db.session.remove()
            db.metadata.drop_all(db.engine, tables=tables)
            close_store()
            db.engine.dispose()
    finally:
        server.stop()
    n = count - 1
    stored, restored = n / figures["store_s"], n / figures["open_s"]
    raw_put, raw_get = n / figures["raw_put_s"], n / figures["raw_get_s"]
    return {
        "backups": n,
        "object_lock": object_lock,
        "store": "moto S3 server over HTTP on 127.0.0.1",
        "bundle_bytes": {"min": min(sizes), "median": int(statistics.median(sizes)),
                         "max": max(sizes)},
        "object_bytes_median": figures["object_bytes_median"],
        "stored_per_second": round(stored, 1),
        "restored_per_second": round(restored, 1),
        "raw_put_per_second": round(raw_put, 1),
        "raw_get_per_second": round(raw_get, 1),
        "ratios": {"stored / raw_put": round(stored / raw_put, 3),
                   "restored / raw_get": round(restored / raw_get, 3)},
        "store_ms": _percentiles(figures["store_times"]),
        "restore_ms": _percentiles(figures["open_times"]),
        "mismatches": figures["mismatches"],
    }


def _timed(store: S3Store, requests: list[BackupRequest]) -> dict[str, Any]:
    """Store each backup beside a raw put of its bytes, then restore each beside a raw get."""
    ids, store_times, raw_put = [], [], 0.0
    payloads = [json.dumps(r.bundle).encode() for r in requests]
    for n, (request, payload) in enumerate(zip(requests, payloads, strict=True)):
        t0 = time.perf_counter()
        store.client.put_object(Bucket=store.bucket, Key=f"raw/{n}", Body=payload,
                                Tagging=f"{LIFECYCLE_TAG}={TAG_STANDARD}")  # as the vault tags
        t1 = time.perf_counter()
        backup = store_backup(request)
        db.session.commit()  # what a delivery pays
        store_times.append(time.perf_counter() - t1)
        raw_put += t1 - t0
        if backup.status != BackupStatus.STORED:
            raise SystemExit(f"backup not stored: {backup.last_error}")
        ids.append(backup.id)
    object_sizes = [b.size for b in db.session.query(Backup).filter(Backup.id.in_(ids))]
    actor = Actor(ActorKind.SYSTEM, "bench", "127.0.0.1")
    open_times, raw_get, restored = [], 0.0, []
    for n, backup_id in enumerate(ids):
        t0 = time.perf_counter()
        body = store.client.get_object(Bucket=store.bucket, Key=f"raw/{n}")["Body"]
        body.read()
        body.close()
        t1 = time.perf_counter()
        restored.append(open_backup(backup_id, actor).bundle)
        db.session.commit()  # its access's audit row
        open_times.append(time.perf_counter() - t1)
        raw_get += t1 - t0
    mismatches = sum(got != r.bundle for got, r in zip(restored, requests, strict=True))
    return {"store_s": sum(store_times), "open_s": sum(open_times), "raw_put_s": raw_put,
            "raw_get_s": raw_get, "store_times": store_times, "open_times": open_times,
            "object_bytes_median": int(statistics.median(object_sizes)),
            "mismatches": mismatches + len(requests) - len(restored)}


def _percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100)
    return {"p50": round(cuts[49] * 1000, 2), "p95": round(cuts[94] * 1000, 2),
            "max": round(max(samples) * 1000, 2)}


def main() -> int:
    """Run on each database, report, and return 1 when a goal is missed or a check fails."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300, help="backups to store and restore")
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--database-url", default=os.environ.get("COMPTOIR_BENCH_DATABASE_URL"),
                        help=f"the bench's own PostgreSQL database (default {DEFAULT_POSTGRES})")
    parser.add_argument("--object-lock", action="store_true", help="use an Object Lock bucket")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "benchmark": "vault",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "databases": {},
    }
    for database in [d.strip() for d in args.databases.split(",") if d.strip()]:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or DEFAULT_POSTGRES
            if database == "sqlite":
                url = f"sqlite:///{tmp}/bench-vault.db"
            elif not own_postgres(url):
                print("PostgreSQL is not reachable: its figures are not measured",
                      file=sys.stderr)
                continue
            results["databases"][database] = run(max(args.count, 3), url, args.object_lock)
    for database, figures in results["databases"].items():
        print(f"{database}: stored {figures['stored_per_second']}/s (raw put "
              f"{figures['raw_put_per_second']}/s), restored {figures['restored_per_second']}/s "
              f"(raw get {figures['raw_get_per_second']}/s), {figures['backups']} backups; "
              f"restored differing from stored: {figures['mismatches']}")
    missed = check_goals(GOALS, _goal_figures(results), results)
    failed = [name for name, figures in results["databases"].items() if figures["mismatches"]]
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for path in (RESULTS / f"vault-{stamp}.json", RESULTS / "vault-latest.json"):
        path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")
    if missed or failed:
        print(f"goals missed: {missed}; restores differing on: {failed}", file=sys.stderr)
        return 1
    return 0


def _goal_figures(results: dict[str, Any]) -> dict[str, tuple[float, str] | None]:
    """Each goal's worst figure over the databases measured, and where."""
    databases = results["databases"].items()
    stored = [(d["ratios"]["stored / raw_put"], name) for name, d in databases]
    restored = [(d["ratios"]["restored / raw_get"], name) for name, d in databases]
    return {"stored_vs_raw_put": min(stored) if stored else None,
            "restored_vs_raw_get": min(restored) if restored else None}


if __name__ == "__main__":
    sys.exit(main())
