"""What an issuance costs in statements and commits, the batch path, and idempotency under races."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event, func, select

from licensing import issuance, keys
from licensing.errors import LicenceConflict
from licensing.keys import current_signer, revoke_signing_key, rotate_signing_key
from licensing.models import AuditAction, KeyRevocationReason, LicenceRecord, LicensingAudit
from licensing.numbers import new_licence_number
from licensing.services import get_licence, issue_licence, issue_licences, verify_licence_token

MakeRequest = Callable[..., Any]


@dataclass
class Counts:
    statements: int = 0
    commits: int = 0


@contextmanager
def counting(db: Any) -> Iterator[Counts]:
    """Count the SQL statements sent and the commits made on the app's engine."""
    counts = Counts()

    def statement(*args: Any) -> None:
        counts.statements += 1

    def commit(*args: Any) -> None:
        counts.commits += 1

    event.listen(db.engine, "before_cursor_execute", statement)
    event.listen(db.engine, "commit", commit)
    try:
        yield counts
    finally:
        event.remove(db.engine, "before_cursor_execute", statement)
        event.remove(db.engine, "commit", commit)


def _licences(db: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(LicenceRecord))


def _audits(db: Any) -> int:
    return db.session.scalar(
        select(func.count()).select_from(LicensingAudit)
        .where(LicensingAudit.action == AuditAction.LICENCE_ISSUED))


def test_one_issuance_is_at_most_two_statements_and_one_commit(  # type: ignore[no-untyped-def]
    db, is_postgres, signing_key, make_request
) -> None:
    issue_licence(make_request())  # the process reads the active key once
    db.session.commit()
    with counting(db) as counts:
        issued = issue_licence(make_request(seats=2), actor="fulfilment")
        db.session.commit()
    # PostgreSQL writes the licence and its audit row in one statement; SQLite needs two.
    assert (counts.statements, counts.commits) == ((1, 1) if is_postgres else (2, 1))
    assert issued.created and issued.kid == signing_key.kid
    stored = get_licence(issued.id)
    assert (stored.number, stored.token, stored.licence) == (
        issued.number, issued.token, issued.licence)
    assert verify_licence_token(issued.token).valid
    audit = db.session.scalars(
        select(LicensingAudit).where(LicensingAudit.licence_id == issued.id)).one()
    assert (audit.action, audit.actor, audit.kid) == (
        AuditAction.LICENCE_ISSUED, "fulfilment", signing_key.kid)
    assert audit.detail == {"order_line_ref": issued.order_line_ref, "unit": issued.unit}


def test_issuing_again_reads_the_stored_licence(  # type: ignore[no-untyped-def]
    db, signing_key, make_request
) -> None:
    request = make_request()
    first = issue_licence(request)
    db.session.commit()
    with counting(db) as counts:
        again = issue_licence(request)
    assert counts.statements == 2  # the INSERT that inserts nothing, then the read
    assert (again.id, again.token, again.created) == (first.id, first.token, False)
    assert (_licences(db), _audits(db)) == (1, 1)


@pytest.mark.parametrize("n", [2, 40, 150])
def test_a_batch_is_three_statements_and_one_commit(  # type: ignore[no-untyped-def]
    db, signing_key, make_request, n
) -> None:
    issue_licence(make_request())
    db.session.commit()
    requests = [make_request(order_line_ref="line-batch", unit=u) for u in range(n)]
    with counting(db) as counts:
        issued = issue_licences(requests, actor="partner-api")
        db.session.commit()
    # The active key's id, the licences' multi-row INSERT, the audit rows' multi-row INSERT.
    assert (counts.statements, counts.commits) == (3, 1)
    assert [i.unit for i in issued] == list(range(n)) and all(i.created for i in issued)
    assert (_licences(db), _audits(db)) == (n + 1, n + 1)
    for one in issued:
        assert verify_licence_token(one.token).valid
        assert get_licence(one.number).licence == one.licence


def test_a_batch_is_idempotent_per_line_and_unit(  # type: ignore[no-untyped-def]
    db, signing_key, make_request
) -> None:
    single = make_request(order_line_ref="line-C", unit=0)
    earlier = issue_licence(single)
    batch = [single, make_request(order_line_ref="line-C", unit=1),
             make_request(order_line_ref="line-C", unit=2)]
    first = issue_licences(batch)
    assert [i.created for i in first] == [False, True, True] and first[0].id == earlier.id
    twice = issue_licences([*batch, batch[1]])  # asked again, and twice in one batch
    assert [i.id for i in twice] == [*(i.id for i in first), first[1].id]
    assert not any(i.created for i in twice)
    assert (_licences(db), _audits(db)) == (3, 3)
    with pytest.raises(LicenceConflict):
        issue_licences([make_request(order_line_ref="line-C", unit=1, seats=9),
                        make_request(order_line_ref="line-C", unit=5)])


def test_a_licence_number_drawn_twice_is_drawn_again(  # type: ignore[no-untyped-def]
    db, signing_key, make_request, monkeypatch
) -> None:
    taken = issue_licence(make_request()).number
    draws = iter([taken, new_licence_number(), taken, taken, new_licence_number(),
                  new_licence_number()])
    monkeypatch.setattr(issuance, "new_licence_number", lambda: next(draws))
    single = issue_licence(make_request())
    batch = issue_licences([make_request(), make_request()])
    numbers = {taken, single.number, *(i.number for i in batch)}
    assert len(numbers) == 4 and single.created and all(i.created for i in batch)
    assert all(verify_licence_token(i.token).valid for i in [single, *batch])
    assert (_licences(db), _audits(db)) == (4, 4)


def _another_process_cached(signer: keys.Signer) -> None:
    """Leave `signer` cached as a process would that had not seen the key change."""
    keys._signers[keys._database()] = signer  # noqa: SLF001 - the cache under test


@pytest.mark.parametrize("change", ["rotated", "revoked"])
def test_a_cached_key_changed_by_another_process_signs_nothing(  # type: ignore[no-untyped-def]
    db, signing_key, make_request, change
) -> None:
    stale = current_signer()
    if change == "rotated":
        rotate_signing_key(actor="test")
    else:
        revoke_signing_key(signing_key.kid, KeyRevocationReason.COMPROMISE, actor="test")
    _another_process_cached(stale)
    single = issue_licence(make_request())
    _another_process_cached(stale)
    batch = issue_licences([make_request(), make_request()])
    for issued in (single, *batch):
        assert issued.kid != stale.kid
        assert verify_licence_token(issued.token).valid
    assert current_signer().kid != stale.kid


def test_concurrent_issuance_singles_and_batches_give_one_licence_per_unit(  # type: ignore[no-untyped-def]
    app, db, postgres_only, signing_key, make_request
) -> None:
    requests = [make_request(order_line_ref="race-batch", unit=u) for u in range(4)]
    barrier = threading.Barrier(8)
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                if n % 2:
                    results.extend(issue_licences(requests[n % 3:]))
                else:
                    results.append(issue_licence(requests[n % 4]))
                db.session.commit()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    by_unit: dict[int, set[Any]] = {}
    for issued in results:
        by_unit.setdefault(issued.unit, set()).add(issued.id)
    assert all(len(ids) == 1 for ids in by_unit.values()) and set(by_unit) == {0, 1, 2, 3}
    assert sum(r.created for r in results) == 4
    assert (_licences(db), _audits(db)) == (4, 4)
