"""The operator's programme: create it, draft a version of its rates, edit or discard the draft,
publish it from a date that is not in the past.

A published version is never changed again (the model refuses it), and a version only applies to
lines delivered from its `valid_from` on: publishing never touches what was accrued before. Every
change writes an audit row (commissions.audit). These services flush; the caller (a back-office
view, a CLI command, the demo) commits, or rolls back on a ProgrammeError, which changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from commerce.models import Partner, Product, ProductKind
from commissions import audit
from commissions.errors import ProgrammeError
from commissions.models import Programme, ProgrammeVersion, VersionStatus
from commissions.programmes import (
    aware,
    latest_version,
    programme_for,
    published_versions,
    version_at,
)
from commissions.rules import ADDON_KINDS, DEFAULT_FAMILY, Rates, RatesError
from extensions import db

# A rate is stored as LedgerEntry.rate, Numeric(9, 6): six decimal places at most.
RATE_PLACES = 6
NAME_LENGTH = 160


def catalogue_families(kind: ProductKind | None = ProductKind.SOFTWARE) -> list[str]:
    """The product families of the catalogue (software ones by default), sorted."""
    query = select(Product.family).distinct()
    if kind is not None:
        query = query.where(Product.kind == kind)
    return sorted(f for f in db.session.scalars(query) if f)


def flat_rates(rates: Mapping[str, Any]) -> dict[str, str]:
    """Stored rates as the flat keys people type: perpetual.office, addons.backup,
    subscription.renewal, override (the names rules.py gives in its messages)."""
    flat = {f"perpetual.{k}": str(v) for k, v in rates.get("perpetual", {}).items()}
    flat |= {f"addons.{k}": str(v) for k, v in rates.get("addons", {}).items()}
    flat |= {f"subscription.{k}": str(v) for k, v in rates.get("subscription", {}).items()}
    if rates.get("override") is not None:
        flat["override"] = str(rates["override"])
    return flat


def rate_keys(families: Collection[str], rates: Mapping[str, Any] | None = None) -> list[str]:
    """Every key a version can set, in the order forms and the CLI list them."""
    subscription = list((rates or {}).get("subscription", {})) or list(
        Rates.from_json(_TEMPLATE).to_json()["subscription"])
    return ([f"perpetual.{f}" for f in [DEFAULT_FAMILY, *sorted(families)]]
            + [f"addons.{k}" for k in ADDON_KINDS]
            + [f"subscription.{k}" for k in subscription] + ["override"])


_TEMPLATE: dict[str, Any] = {
    "perpetual": {}, "addons": {},
    "subscription": {"first_year": "0", "first_year_bonus": "0", "renewal": "0", "upsell": "0",
                     "upsell_bonus": "0"},
}


def _rate_value(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(_l("a rate is written as a decimal, e.g. 0.08 for 8 percent"))
    try:
        rate = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise ValueError(_l("not a decimal: write a fraction, e.g. 0.08 for 8 percent")) from None
    if not rate.is_finite() or not Decimal(0) <= rate <= Decimal(1):
        raise ValueError(_l("a rate is a fraction between 0 and 1, e.g. 0.08 for 8 percent"))
    if -rate.as_tuple().exponent > RATE_PLACES:  # type: ignore[operator]
        raise ValueError(_l("at most %(places)d decimal places", places=RATE_PLACES))
    return rate


def parse_rates(flat: Mapping[str, Any], families: Collection[str]) -> Rates:
    """Rates from flat keys (a blank value leaves the key out); ProgrammeError names each bad key.

    Perpetual keys are the catalogue's families and `*`; add-ons and subscription keys are those
    rules.py reads; anything else is refused rather than silently ignored.
    """
    errors: dict[str, str] = {}
    nested: dict[str, Any] = {"perpetual": {}, "addons": {}, "subscription": {}, "override": None}
    known_families = {DEFAULT_FAMILY, *families}
    for key, value in flat.items():
        key = str(key).strip()
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        section, _, name = key.partition(".")
        if section == "perpetual" and name not in known_families:
            errors[key] = str(_l("no product family %(family)s in the catalogue; the families "
                                 "are: %(families)s", family=repr(name),
                                 families=", ".join(sorted(known_families))))
            continue
        if (section == "addons" and name not in ADDON_KINDS) or (
                section not in ("perpetual", "addons", "subscription", "override")
                or (section == "override") != (name == "")):
            errors[key] = str(_l("unknown rate key; the keys are perpetual.<family>, "
                                 "addons.backup, addons.install, subscription.<event> and "
                                 "override"))
            continue
        try:
            rate = _rate_value(value)
        except ValueError as exc:
            errors[key] = str(exc.args[0])
            continue
        if section == "override":
            nested["override"] = str(rate)
        else:
            nested[section][name] = str(rate)
    if errors:
        raise ProgrammeError(errors)
    try:
        rates = Rates.from_json(nested)
    except RatesError as exc:
        raise ProgrammeError({"rates": str(_l("subscription rates are required (first_year, "
                                              "first_year_bonus, renewal, upsell, "
                                              "upsell_bonus): %(problem)s", problem=str(exc)))}
                             ) from exc
    understood = set(rates.to_json()["subscription"])
    unknown = sorted(set(nested["subscription"]) - understood)
    if unknown:
        raise ProgrammeError({f"subscription.{k}": str(_l("unknown rate key; the subscription "
                                                          "keys are: %(keys)s",
                                                          keys=", ".join(sorted(understood))))
                              for k in unknown})
    return rates


def programme_or_refuse(partner: Partner) -> Programme:
    """The partner's programme, or ProgrammeError when it runs none."""
    programme = programme_for(partner.id)
    if programme is None:
        raise ProgrammeError({"programme": str(_l("%(partner)s runs no commission programme",
                                                  partner=partner.name))})
    return programme


def create_programme(
    partner: Partner, actor: str, now: datetime, *, name: str | None = None,
    attribution_days: int = 30, holding_hours: int = 48, minimum_payout_cents: int = 5000,
) -> Programme:
    """Start a commission programme for a partner's network (no rates until a version is
    published)."""
    aware(now)
    errors: dict[str, str] = {}
    if programme_for(partner.id) is not None:
        errors["partner"] = str(_l("%(partner)s already runs a programme", partner=partner.name))
    name = " ".join((name or f"Programme revendeurs {partner.name}").split())
    if not name or len(name) > NAME_LENGTH:
        errors["name"] = str(_l("1 to %(limit)d characters", limit=NAME_LENGTH))
    if not 1 <= attribution_days <= 365:
        errors["attribution_days"] = str(_l("between 1 and 365 days"))
    if not 0 <= holding_hours <= 24 * 90:
        errors["holding_hours"] = str(_l("between 0 and 2160 hours"))
    if not 0 <= minimum_payout_cents <= 10_000_00:
        errors["minimum_payout_cents"] = str(_l("between 0 and 10000.00"))
    if errors:
        raise ProgrammeError(errors)
    programme = Programme(partner_id=partner.id, name=name, attribution_days=attribution_days,
                          holding_hours=holding_hours, minimum_payout_cents=minimum_payout_cents,
                          created_at=now)
    db.session.add(programme)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise ProgrammeError({"partner": str(_l("%(partner)s already runs a programme",
                                                partner=partner.name))}) from None
    audit.record(programme, "programme created", actor, now,
                 subject_id=programme.id, after=audit.programme_values(programme))
    db.session.flush()
    return programme


def draft_of(programme: Programme) -> ProgrammeVersion | None:
    """The programme's open draft, if any (there is at most one)."""
    return next((v for v in programme.versions if v.status == VersionStatus.DRAFT), None)


def families_for(programme: Programme) -> list[str]:
    """Families a rate may name: the catalogue's, and any the programme's versions already rate."""
    known = set(catalogue_families())
    for version in programme.versions:
        if version.status != VersionStatus.DISCARDED:
            known |= set(version.rates.get("perpetual", {})) - {DEFAULT_FAMILY}
    return sorted(known)


def draft_version(
    partner: Partner, actor: str, now: datetime, *,
    rates: Mapping[str, Any] | None = None, note: str = "",
    families: Collection[str] | None = None,
) -> ProgrammeVersion:
    """Open the programme's draft: the rates in force, changed by the given flat rates.

    A draft already open is refused: edit it, or discard it first. `families` are those a
    perpetual rate may name (default: `families_for`).
    """
    aware(now)
    programme = programme_or_refuse(partner)
    if draft_of(programme) is not None:
        raise ProgrammeError({"draft": str(_l("a draft is already open: edit it or discard it"))})
    current = version_at(programme, now) or latest_version(programme)
    start = flat_rates(current.rates) if current is not None else flat_rates(_TEMPLATE)
    allowed = set(families_for(programme) if families is None else families)
    allowed |= {k.removeprefix("perpetual.") for k in start if k.startswith("perpetual.")}
    parsed = parse_rates({**start, **(rates or {})}, allowed)
    version = ProgrammeVersion(status=VersionStatus.DRAFT, valid_from=None,
                               rates=parsed.to_json(), note=_note(note), created_at=now,
                               created_by=actor)
    try:
        with db.session.begin_nested():
            programme.versions.append(version)
            db.session.flush()
    except IntegrityError:
        # Another click opened the draft first: the partial unique index allows one.
        db.session.expire(programme)
        raise ProgrammeError({"draft": str(_l("a draft is already open: edit it or discard it"))}
                             ) from None
    audit.record(programme, "version drafted", actor, now, subject_id=version.id,
                 after=audit.version_values(version))
    db.session.flush()
    return version


def _note(note: str) -> str:
    text = (note or "").strip()
    if len(text) > 2000:
        raise ProgrammeError({"note": str(_l("at most %(limit)d characters", limit=2000))})
    return text


def _open_draft(version: ProgrammeVersion) -> None:
    if version.status != VersionStatus.DRAFT:
        raise ProgrammeError({"version": str(_l("version %(label)s is %(status)s: only a draft "
                                                "changes", label=version.label,
                                                status=str(version.status)))})


def update_draft(
    version: ProgrammeVersion, rates: Mapping[str, Any], actor: str, now: datetime, *,
    note: str | None = None, replace: bool = False, families: Collection[str] | None = None,
) -> ProgrammeVersion:
    """Change a draft's rates (flat keys; a blank value removes a key) and note.

    With replace, rates is the whole set; otherwise it changes only the keys it names.
    """
    aware(now)
    _open_draft(version)
    before = audit.version_values(version)
    merged = dict(rates) if replace else {**flat_rates(version.rates), **rates}
    parsed = parse_rates(merged, families_for(version.programme) if families is None
                         else families)
    version.rates = parsed.to_json()
    if note is not None:
        version.note = _note(note)
    after = audit.version_values(version)
    if after != before:
        audit.record(version.programme, "version edited", actor, now, subject_id=version.id,
                     before=before, after=after)
    db.session.flush()
    return version


def discard_draft(version: ProgrammeVersion, actor: str, now: datetime) -> ProgrammeVersion:
    """Discard a draft: it is kept, marked discarded, and never applies."""
    aware(now)
    _open_draft(version)
    before = audit.version_values(version)
    if not _claim_draft(version, status=VersionStatus.DISCARDED):
        raise ProgrammeError({"version": str(_l("this draft was just published or discarded"))})
    audit.record(version.programme, "version discarded", actor, now, subject_id=version.id,
                 before=before, after=audit.version_values(version))
    db.session.flush()
    return version


def _claim_draft(version: ProgrammeVersion, **values: Any) -> bool:
    """Move a draft on with `UPDATE ... WHERE status = 'draft'`: one of two clicks wins."""
    result = db.session.execute(
        update(ProgrammeVersion)
        .where(ProgrammeVersion.id == version.id, ProgrammeVersion.status == VersionStatus.DRAFT)
        .values(**values).execution_options(synchronize_session=False))
    claimed = result.rowcount == 1  # type: ignore[attr-defined]
    db.session.refresh(version)
    return claimed


def publish_version(
    version: ProgrammeVersion, valid_from: datetime, actor: str, now: datetime
) -> ProgrammeVersion:
    """Publish a draft from valid_from (now or later, after every published version's start).

    Lines delivered before valid_from keep the version they were accrued under: nothing in the
    ledger changes. From now on the version is immutable.
    """
    aware(now)
    _open_draft(version)
    programme = version.programme
    errors: dict[str, str] = {}
    if aware(valid_from) < now:
        errors["valid_from"] = str(_l("is in the past: a version applies from now or later, so "
                                      "what was already accrued stays as it is"))
    latest = latest_version(programme)
    if latest is not None and latest.valid_from is not None and valid_from <= latest.valid_from:
        errors["valid_from"] = str(_l("must be after %(date)s, the start of version %(label)s",
                                      date=latest.valid_from.isoformat(), label=latest.label))
    try:
        Rates.from_json(version.rates)
    except RatesError as exc:
        errors["rates"] = str(exc)
    if errors:
        raise ProgrammeError(errors)
    before = audit.version_values(version)
    try:
        with db.session.begin_nested():
            claimed = _claim_draft(version, status=VersionStatus.PUBLISHED, valid_from=valid_from,
                                   published_at=now, published_by=actor)
    except IntegrityError:
        db.session.refresh(version)
        raise ProgrammeError({"valid_from": str(_l("another version starts at that time"))}
                             ) from None
    if not claimed:
        raise ProgrammeError({"version": str(_l("this draft was just published or discarded"))})
    audit.record(programme, "version published", actor, now, subject_id=version.id,
                 before=before, after=audit.version_values(version))
    db.session.flush()
    return version


def set_programme(
    partner: Partner, rates: Rates, valid_from: datetime, *, name: str | None = None,
    attribution_days: int | None = None, holding_hours: int | None = None,
    minimum_payout_cents: int | None = None, note: str = "", actor: str = "system",
) -> ProgrammeVersion:
    """Start a network's programme with rates from valid_from, as set up at that moment; commits.

    For scripts and tests that begin a network at a date: it runs the operator's services with
    `now = valid_from`. The version published at valid_from is returned as it is if its rates
    match; different rates at a published date are refused (a published version never changes).
    """
    aware(valid_from)
    programme = programme_for(partner.id)
    if programme is None:
        programme = create_programme(
            partner, actor, valid_from, name=name,
            attribution_days=attribution_days or 30,
            holding_hours=48 if holding_hours is None else holding_hours,
            minimum_payout_cents=5000 if minimum_payout_cents is None else minimum_payout_cents)
    existing = next((v for v in published_versions(programme) if v.valid_from == valid_from),
                    None)
    if existing is not None:
        if Rates.from_json(existing.rates) != rates:
            raise ProgrammeError({"valid_from": str(_l(
                "version %(label)s is published with other rates: publish a new version",
                label=existing.label))})
        return existing
    draft = draft_of(programme)
    if draft is not None:
        discard_draft(draft, actor, valid_from)
    families = set(rates.perpetual) - {DEFAULT_FAMILY}
    version = draft_version(partner, actor, valid_from, note=note, families=families)
    update_draft(version, flat_rates(rates.to_json()), actor, valid_from, replace=True,
                 families=families)
    publish_version(version, valid_from, actor, valid_from)
    db.session.commit()
    return version
