"""Licensing benchmark: licences issued per second (with the database write), verifications per
second, beside raw `cryptography` Ed25519 sign and verify rates measured in the same run.

Run: `.venv/bin/python bench/bench_licensing.py [--licences N] [--database-url URL]`.
Issuance is timed by the wall clock (database waits count); the CPU-bound rates by CPU time, in
interleaved rounds keeping each one's best, so that a busy machine skews them less.
Prints a table and writes JSON to bench/results/licensing-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cryptography  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from app import create_app  # noqa: E402
from extensions import db  # noqa: E402
from licensing.jwks import build_jwks  # noqa: E402
from licensing.keys import active_signer, ensure_signing_key, published_keys  # noqa: E402
from licensing.services import (  # noqa: E402
    IssuedLicence,
    LicenceRequest,
    issue_licence,
    verify_licence_token,
)
from licensing.token import sign_licence, split_token  # noqa: E402
from licensing.verify import KeyRing, verify  # noqa: E402


def rate(fn: Callable[[], object], n: int) -> float:
    """Calls per CPU second of fn over n calls (CPU time: steadier on a shared machine)."""
    start = time.process_time()
    for _ in range(n):
        fn()
    return n / (time.process_time() - start)


def best_of(rounds: int, fns: dict[str, tuple[Callable[[], object], int]]) -> dict[str, float]:
    """Interleave the measurements round by round and keep each one's best rate."""
    best = dict.fromkeys(fns, 0.0)
    for _ in range(rounds):
        for name, (fn, n) in fns.items():
            best[name] = max(best[name], rate(fn, n))
    return best


def settings(database_url: str, instance: Path) -> dict[str, object]:
    """Settings for a throwaway app."""
    return {
        "ENV": "testing",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "LICENSING_KEK": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "VAULT_KEY": "v1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "VAULT_DIR": str(instance / "vault"),
        "NEXWAY_API_KEY": "bench",
        "NEXWAY_CALLBACK_SECRET": "bench",
        "ARVATO_USERNAME": "bench",
        "ARVATO_PASSWORD": "bench",
        "RATELIMIT_ENABLED": False,
    }


def request(n: int) -> LicenceRequest:
    """The n-th licence request of the run."""
    return LicenceRequest(
        order_line_ref=f"bench-line-{n}",
        unit=0,
        product_code="OFFICE-HOME-2024",
        edition="Home & Business 2024",
        seats=1,
        order_ref=f"CPT-2026-{n:06d}",
        partner="partner-bench",
        buyer_ref=f"buyer-{n}",
        product_key_sha256=secrets.token_hex(32),
    )


def main() -> None:
    """Run the benchmark and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--licences", type=int, default=2000)
    parser.add_argument("--verifications", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp)
        url = args.database_url or f"sqlite:///{instance / 'bench.db'}"
        app = create_app(settings(url, instance))
        with app.app_context():
            db.create_all()
            ensure_signing_key(actor="bench")
            results = run(args, url)
            db.session.remove()
            db.drop_all()
    report(results)


def run(args: argparse.Namespace, url: str) -> dict[str, object]:
    """Measure everything inside one app context."""
    counter = iter(range(10**9))
    def issue_one(n: int) -> IssuedLicence:
        issued = issue_licence(request(n))
        db.session.commit()  # one licence, one transaction: what a delivery pays
        return issued

    issue_one(next(counter))  # warm the caches (key opening, statements)
    # Wall-clock time here: the database's waits are part of what issuance costs.
    start = time.perf_counter()
    issued = [issue_one(next(counter)) for _ in range(args.licences)]
    issue_rate = args.licences / (time.perf_counter() - start)

    key, private_key = active_signer()
    ring = KeyRing.from_jwks(build_jwks(published_keys()))
    tokens = [lic.token for lic in issued]
    parsed = split_token(tokens[0])
    public_key = private_key.public_key()
    raw_key = Ed25519PrivateKey.generate()
    message = parsed.signing_input
    claims = issued[0].licence

    repeat = 1 + args.verifications * args.rounds * 3 // len(tokens)
    tokens_iter = iter(tokens * repeat)
    # Raw verification walks the same tokens' (signature, signed bytes) pairs, so that both
    # sides see the same messages and the same memory traffic.
    pairs = [(p.signature, p.signing_input) for p in map(split_token, tokens)]
    pairs_iter = iter(pairs * repeat)
    n = args.verifications
    rates = best_of(
        args.rounds,
        {
            "raw_verify": (lambda: public_key.verify(*next(pairs_iter)), n),
            "verify": (lambda: verify(next(tokens_iter), ring), n),
            "raw_sign": (lambda: raw_key.sign(message), n),
            "sign_licence": (lambda: sign_licence(claims, private_key, key.kid), n),
        },
    )
    rates["verify_api_db"] = rate(lambda: verify_licence_token(next(tokens_iter)), n // 3)
    assert all(verify(t, ring).valid for t in tokens[:50])
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "machine": platform.machine(),
        "database": url.split(":", 1)[0],
        "licences_issued": args.licences,
        "token_length": len(tokens[0]),
        "per_second": {
            "issue_with_db_write (wall clock)": round(issue_rate, 1),
            "sign_licence_no_db": round(rates["sign_licence"], 1),
            "raw_ed25519_sign": round(rates["raw_sign"], 1),
            "verify_offline": round(rates["verify"], 1),
            "verify_with_db_lookups": round(rates["verify_api_db"], 1),
            "raw_ed25519_verify": round(rates["raw_verify"], 1),
        },
        "ratios": {
            "verify_offline / raw_verify": round(rates["verify"] / rates["raw_verify"], 3),
            "issue_with_db / raw_sign": round(issue_rate / rates["raw_sign"], 3),
            "sign_licence / raw_sign": round(rates["sign_licence"] / rates["raw_sign"], 3),
        },
    }


def report(results: dict[str, object]) -> None:
    """Print the table and save the JSON."""
    per_second = results["per_second"]
    ratios = results["ratios"]
    assert isinstance(per_second, dict) and isinstance(ratios, dict)
    print(f"licensing benchmark ({results['database']}, Python {results['python']}, "
          f"cryptography {results['cryptography']}, token {results['token_length']} chars)")
    print(f"{'measure':<36}{'per second':>14}")
    for name, value in per_second.items():
        print(f"{name:<36}{value:>14,.1f}")
    for name, value in ratios.items():
        print(f"{name:<36}{value:>14.3f}")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"licensing-{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
