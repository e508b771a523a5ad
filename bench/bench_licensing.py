"""Licensing benchmark: issuing and verifying licences, each figure beside a baseline measured in
the same run, checked against its goal.

Goals (GOALS; the script exits 1 when one is missed):
- single issuance on PostgreSQL (`issue_licence` then the caller's commit) at >= 0.8 of a
  one-row `INSERT ... COMMIT` of a comparable row (a copy of the licences' table, with the same
  indexes, written through the same session): wall clock, the database's waits count;
- batch issuance (`issue_licences`, `--batch-size` licences per transaction) >= 1,000 licences/s
  on every database measured, wall clock;
- offline verification (`licensing.verify.verify` against a KeyRing) at >= 0.95 of raw Ed25519
  on the same tokens, CPU time, parsing included in both: the raw side base64-decodes the parts,
  verifies the signature with `cryptography` and `json.loads` the payload;
- the offline command's start-up: `comptoir licence verify TOKEN --keys FILE`, run whole as a
  buyer runs it (the console script beside this Python, a saved key set, a real token), in at most
  2 times a bare script that imports `cryptography`'s Ed25519 (`--starts` runs of each,
  interleaved, medians of the wall clock).

Raw sign and `sign_licence` rates are printed too, without goals. Rates are taken in interleaved
rounds, keeping each one's best, so that a busy machine skews them less. After the timing, the
run is checked: every verification timed said valid, and every issued licence is in the database
once, with its audit row, and verifies. A run that fails its checks exits 1 whatever its figures.

Databases: PostgreSQL when reachable (by default a database of the bench's own, created when
missing and emptied at each run; `--database-url` or COMPTOIR_BENCH_DATABASE_URL), then SQLite
in a temporary directory. Secrets (the keys) are generated in memory; nothing secret is written
into the checkout. Run: `.venv/bin/python bench/bench_licensing.py [--databases
postgresql,sqlite] [--licences 400] [--batches 6] [--batch-size 500] [--verifications 500]`.
Writes JSON to bench/results/licensing-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import platform
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import cryptography  # noqa: E402
from common import check_goals, own_postgres  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from sqlalchemy import (  # noqa: E402
    Column,
    Index,
    MetaData,
    Table,
    UniqueConstraint,
    func,
    insert,
    select,
)

from app import create_app  # noqa: E402
from config import SECRETS  # noqa: E402
from extensions import db, utcnow  # noqa: E402
from licensing.jwks import build_jwks  # noqa: E402
from licensing.keys import current_signer, ensure_signing_key, published_keys  # noqa: E402
from licensing.models import AuditAction, LicenceRecord, LicensingAudit  # noqa: E402
from licensing.numbers import new_licence_number  # noqa: E402
from licensing.services import (  # noqa: E402
    IssuedLicence,
    LicenceRequest,
    issue_licence,
    issue_licences,
)
from licensing.token import sign_licence, split_token  # noqa: E402
from licensing.verify import KeyRing, verify  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_bench_licensing"
GOALS = {
    "single_issue_vs_insert_commit_postgresql": (">=", 0.8),
    "batch_licences_per_s": (">=", 1000.0),
    "verify_vs_raw_ed25519": (">=", 0.95),
    "offline_verify_startup_vs_bare_cryptography": ("<=", 2.0),
}
BARE_CRYPTOGRAPHY = "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey"


def measure_startup(starts: int, token: str, jwks: bytes) -> dict[str, Any]:
    """Median wall time of the offline verify command, whole, beside a bare cryptography script
    (run in turn, from a directory outside the checkout); checks the command said valid."""
    import statistics
    import subprocess
    import tempfile

    command = Path(sys.executable).with_name("comptoir")
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "licence-keys.json"
        keys.write_bytes(jwks)
        verify_cmd = [str(command), "licence", "verify", token, "--keys", str(keys)]
        bare_cmd = [sys.executable, "-c", BARE_CRYPTOGRAPHY]
        times: dict[str, list[float]] = {"verify": [], "bare": []}
        codes = set()
        for _ in range(starts):
            for name, cmd in (("bare", bare_cmd), ("verify", verify_cmd)):
                started = time.perf_counter()
                done = subprocess.run(cmd, cwd=tmp, capture_output=True, check=False)  # noqa: S603
                times[name].append(time.perf_counter() - started)
                if name == "verify":
                    codes.add(done.returncode)
    verify_ms = statistics.median(times["verify"]) * 1000
    bare_ms = statistics.median(times["bare"]) * 1000
    return {"verify_ms": round(verify_ms, 1), "bare_cryptography_ms": round(bare_ms, 1),
            "ratio": round(verify_ms / bare_ms, 3),
            "problems": [] if codes == {0} else [f"the command exited {sorted(codes)}"]}


def cpu_rate(fn: Callable[[], object], n: int) -> float:
    """Calls per CPU second of fn over n calls (CPU time: steadier on a shared machine)."""
    start = time.process_time()
    for _ in range(n):
        fn()
    return n / (time.process_time() - start)


def wall_rate(fn: Callable[[], object], n: int) -> float:
    """Calls per second of fn over n calls, by the wall clock."""
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def best_of(rounds: int, fns: dict[str, tuple[Callable[[], object], int]],
            rate: Callable[[Callable[[], object], int], float]) -> dict[str, float]:
    """Interleave the measurements round by round and keep each one's best rate."""
    best = dict.fromkeys(fns, 0.0)
    for _ in range(rounds):
        for name, (fn, n) in fns.items():
            best[name] = max(best[name], rate(fn, n))
    return best


def settings(database_url: str, instance: Path) -> dict[str, object]:
    """Settings for a throwaway app; every secret fresh and in memory only."""
    return {
        **{name: make() for name, make in SECRETS.items()},
        "ENV": "testing",
        "DATABASE_URL": database_url,
        "VAULT_DIR": str(instance / "vault"),
        "RATELIMIT_ENABLED": False,
    }


class Requests:
    """Licence requests for fresh (line, unit)s, shaped like a delivery's."""

    def __init__(self) -> None:
        self.n = 0
        self.run = uuid.uuid4().hex[:8]

    def __call__(self, unit: int = 0, line: int | None = None) -> LicenceRequest:
        self.n += 1
        n = self.n if line is None else line
        return LicenceRequest(
            order_line_ref=f"bench-{self.run}-{n}",
            unit=unit,
            product_code="OFFICE-HOME-2024",
            edition="Home & Business 2024",
            seats=1,
            order_ref=f"CPT-2026-{n:06d}",
            partner="partner-bench",
            buyer_ref=f"buyer{n}@example.com",
            product_key_sha256=secrets.token_hex(32),
        )


def baseline_table() -> Table:
    """A table shaped like the licences' (columns, unique keys, indexes) for the baseline."""
    licences = LicenceRecord.__table__
    name = "bench_baseline_licences"
    return Table(
        name, MetaData(),
        *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
          for c in licences.columns),
        UniqueConstraint("number"), UniqueConstraint("order_line_ref", "unit"),
        *(Index(f"ix_{name}_{i}", *(c.name for c in index.columns))
          for i, index in enumerate(licences.indexes)),
    )


def measure_issuance(args: argparse.Namespace) -> tuple[dict[str, float], list[IssuedLicence]]:
    """Single issuance and its baseline (interleaved), then batches; return rates and licences."""
    make = Requests()
    issued: list[IssuedLicence] = []
    table = baseline_table()
    table.create(db.engine)
    token = sign_licence(issue_licence(make()).licence, current_signer().private_key,
                         current_signer().kid)  # warms the signer; a token of the real length
    db.session.commit()
    key_id = current_signer().key_id

    def issue_one() -> None:
        issued.append(issue_licence(make()))
        db.session.commit()  # one licence, one transaction: what a delivery pays

    def insert_one() -> None:
        request = make()
        db.session.execute(insert(table).values(
            id=uuid.uuid4(), number=new_licence_number(), order_line_ref=request.order_line_ref,
            unit=request.unit, order_ref=request.order_ref, partner=request.partner,
            buyer_ref=request.buyer_ref, product_code=request.product_code,
            edition=request.edition, seats=request.seats,
            product_key_sha256=request.product_key_sha256,
            issued_at=utcnow().replace(microsecond=0), expires_at=None,
            signing_key_id=key_id, kid=current_signer().kid, token=token))
        db.session.commit()

    per_round = max(args.licences // args.rounds, 1)
    rates = best_of(args.rounds, {"insert_commit": (insert_one, per_round),
                                  "single_issue": (issue_one, per_round)}, wall_rate)

    def one_batch() -> None:
        line = make.n + 1
        make.n += 1
        issued.extend(issue_licences([make(unit=u, line=line) for u in range(args.batch_size)]))
        db.session.commit()

    issue_licences([make(unit=u) for u in range(2)])  # the batch statements, compiled once
    db.session.commit()
    batches = best_of(args.rounds, {"batch": (one_batch, max(args.batches // args.rounds, 1))},
                      wall_rate)
    rates["batch_licences_per_s"] = batches["batch"] * args.batch_size
    db.session.remove()
    table.drop(db.engine)
    return rates, issued


def raw_verifier(public_key: Any) -> Callable[[str], object]:
    """The baseline: split, base64-decode both parts, verify with cryptography, json.loads."""
    def raw(token: str) -> object:
        tag, kid, payload, signature = token.split(".")
        public_key.verify(base64.urlsafe_b64decode(signature + "=="),
                          token[: len(token) - len(signature) - 1].encode("ascii"))
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return raw


def measure_verification(args: argparse.Namespace, tokens: list[str]) -> dict[str, Any]:
    """Verification against raw Ed25519 on the same tokens, CPU time; then check the verdicts."""
    ring = KeyRing.from_jwks(build_jwks(published_keys()))
    signer = current_signer()
    raw = raw_verifier(signer.private_key.public_key())
    sample = (tokens * (1 + args.verifications // len(tokens)))[: args.verifications]
    verdicts: list[bool] = []
    decoded = 0

    def ours() -> None:
        verdicts.extend([verify(t, ring).valid for t in sample])

    def theirs() -> None:
        nonlocal decoded
        decoded += len([raw(t) for t in sample])

    # Short alternating rounds (one pass over the sample each), many of them: the best of each
    # side is then taken at moments equally quiet. The collector is off while they run, as
    # timeit does, so that neither side pays for the garbage of the other.
    gc.collect()
    gc.disable()
    try:
        rates = best_of(args.rounds * 6, {"raw_verify": (theirs, 1), "verify": (ours, 1)},
                        cpu_rate)
    finally:
        gc.enable()
    rates = {name: value * len(sample) for name, value in rates.items()}
    raw_key = Ed25519PrivateKey.generate()
    message = split_token(tokens[0]).signing_input
    claims = verify(tokens[0], ring).licence
    assert claims is not None
    signing = best_of(args.rounds, {
        "raw_sign": (lambda: raw_key.sign(message), args.verifications),
        "sign_licence": (lambda: sign_licence(claims, signer.private_key, signer.kid),
                         args.verifications),
    }, cpu_rate)
    return {**rates, **signing, "verdicts": verdicts, "decoded": decoded}


def check(issued: list[IssuedLicence], verdicts: list[bool]) -> list[str]:
    """Every verification said valid; every licence issued is stored once, audited, verifies."""
    problems = []
    if not verdicts or not all(verdicts):
        problems.append(f"{verdicts.count(False)} of {len(verdicts)} verifications not valid")
    stored = {row.id: row.token for row in db.session.execute(
        select(LicenceRecord.id, LicenceRecord.token))}
    ids = [i.id for i in issued]
    if len(set(ids)) != len(ids):
        problems.append("a licence was returned twice")
    missing = [i for i in issued if stored.get(i.id) != i.token]
    if missing:
        problems.append(f"{len(missing)} issued licences not stored as returned")
    audited = {licence_id: count for licence_id, count in db.session.execute(
        select(LicensingAudit.licence_id, func.count()).where(
            LicensingAudit.action == AuditAction.LICENCE_ISSUED).group_by(
            LicensingAudit.licence_id))}
    if any(audited.get(i) != 1 for i in ids):
        problems.append("an issued licence has no audit row, or several")
    ring = KeyRing.from_jwks(build_jwks(published_keys()))
    invalid = sum(not verify(stored[i], ring).valid for i in ids if i in stored)
    if invalid:
        problems.append(f"{invalid} stored licences do not verify")
    return problems


def run_database(database: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement on one database, in a throwaway app."""
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp)
        if database == "sqlite":
            url = f"sqlite:///{instance / 'bench.db'}"
        app = create_app(settings(url, instance))
        with app.app_context():
            db.create_all()
            ensure_signing_key(actor="bench")
            rates, issued = measure_issuance(args)
            verification = measure_verification(args, [i.token for i in issued[:500]])
            problems = check(issued, verification.pop("verdicts"))
            if args.startup is None and issued:  # once: it depends on no database
                jwks = json.dumps(build_jwks(published_keys())).encode()
                args.startup = measure_startup(args.starts, issued[0].token, jwks)
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
    return {
        "licences_issued": len(issued),
        "batch_size": args.batch_size,
        "per_second": {name: round(value, 1) for name, value in {**rates, **verification}.items()
                       if name != "decoded"},
        "ratios": {
            "single_issue / insert_commit": round(rates["single_issue"] / rates["insert_commit"],
                                                  3),
            "verify / raw_verify": round(verification["verify"] / verification["raw_verify"], 3),
            "sign_licence / raw_sign": round(verification["sign_licence"]
                                             / verification["raw_sign"], 3),
        },
        "problems": problems,
    }


def goal_figures(results: dict[str, Any]) -> dict[str, tuple[float, str] | None]:
    """Each goal's measured figure and where (the worst where several databases measured it)."""
    databases = results["databases"]
    postgres = databases.get("postgresql")
    batch = [(d["per_second"]["batch_licences_per_s"], name) for name, d in databases.items()]
    verify_ratio = [(d["ratios"]["verify / raw_verify"], name) for name, d in databases.items()]
    return {
        "single_issue_vs_insert_commit_postgresql":
            (postgres["ratios"]["single_issue / insert_commit"], "postgresql")
            if postgres else None,
        "batch_licences_per_s": min(batch) if batch else None,
        "verify_vs_raw_ed25519": min(verify_ratio) if verify_ratio else None,
        "offline_verify_startup_vs_bare_cryptography":
            (results["startup"]["ratio"], "comptoir licence verify --keys")
            if results.get("startup") else None,
    }


def report(results: dict[str, Any]) -> None:
    """Print the tables."""
    print(f"licensing benchmark (Python {results['python']}, cryptography "
          f"{results['cryptography']})")
    for database, figures in results["databases"].items():
        print(f"\n{database}: {figures['licences_issued']} licences issued")
        print(f"  {'measure':<36}{'per second':>14}")
        for name, value in figures["per_second"].items():
            print(f"  {name:<36}{value:>14,.1f}")
        for name, value in figures["ratios"].items():
            print(f"  {name:<36}{value:>14.3f}")
        for problem in figures["problems"]:
            print(f"  CHECK FAILED: {problem}")
    startup = results.get("startup")
    if startup:
        print(f"\noffline verify start-up: {startup['verify_ms']} ms (median), bare cryptography "
              f"script {startup['bare_cryptography_ms']} ms: {startup['ratio']:.2f}x")
        for problem in startup["problems"]:
            print(f"  CHECK FAILED: {problem}")


def main() -> None:
    """Run the benchmark, report, and exit 1 when a goal is missed or a check fails."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--database-url", default=os.environ.get("COMPTOIR_BENCH_DATABASE_URL"),
                        help=f"the bench's own PostgreSQL database (default {DEFAULT_POSTGRES})")
    parser.add_argument("--licences", type=int, default=400,
                        help="single issuances, and as many baseline inserts")
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--verifications", type=int, default=500,
                        help="tokens verified per round, by each side")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--starts", type=int, default=21,
                        help="runs of the offline verify command, and of the bare script")
    args = parser.parse_args()
    args.startup = None
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "databases": {},
    }
    for database in [d.strip() for d in args.databases.split(",") if d.strip()]:
        url = args.database_url or DEFAULT_POSTGRES
        if database == "postgresql" and not own_postgres(url):
            print("PostgreSQL is not reachable: its figures are not measured", file=sys.stderr)
            continue
        results["databases"][database] = run_database(database, url, args)
    results["startup"] = args.startup
    report(results)
    missed = check_goals(GOALS, goal_figures(results), results)
    failed = [name for name, d in results["databases"].items() if d["problems"]]
    if args.startup and args.startup["problems"]:
        failed.append("startup")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"licensing-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {path.relative_to(ROOT)}")
    if missed or failed:
        print(f"goals missed: {missed}; checks failed on: {failed}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
