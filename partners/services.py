"""Onboarding and running partners: the operations behind the back office, the commands and the
operator API.

Each operation checks everything first (PartnerError, one message per field, nothing changed),
then changes the partner in the session and writes a PartnerChange row with each changed field's
value before and after. The caller commits: a view, a command or an API handler. Nothing is
cached, so a committed change is what the next request of the running shop reads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from commerce.models import (
    Partner,
    PartnerDomain,
    PartnerProduct,
    PartnerStatus,
    Product,
)
from commerce.refusals import lazy_money
from extensions import db, utcnow
from fulfilment.wholesalers import WHOLESALERS
from partners.brand import BrandError, Logo, header_breaks, validate_brand
from partners.models import PartnerChange, ScheduledPrice
from partners.validation import (
    PartnerError,
    check_slug,
    flush_or_refuse,
    missing_legal,
    normalise_host,
    normalise_origin,
    validate_partner,
)

log = logging.getLogger("comptoir.partners")

REQUIRED_ON_CREATE = ("slug", "name", "kind", "wholesaler_code")
# The status changes an operator may make; anything else is refused.
TRANSITIONS: dict[tuple[PartnerStatus, PartnerStatus], str] = {
    (PartnerStatus.DRAFT, PartnerStatus.OPEN): "opened",
    (PartnerStatus.OPEN, PartnerStatus.SUSPENDED): "suspended",
    (PartnerStatus.SUSPENDED, PartnerStatus.OPEN): "reopened",
    (PartnerStatus.DRAFT, PartnerStatus.SUSPENDED): "suspended",
}
# Values the audit does not copy: binary, and a logo is recorded only as changed.
UNAUDITED = {"logo_data"}


def wholesaler_codes() -> list[str]:
    return sorted(WHOLESALERS)


def theme_names() -> list[str]:
    """The themes installed in THEMES_DIR (a folder each, docs/themes.md)."""
    from partners.themes import available_themes

    return list(available_themes())


def _logo_limit() -> int:
    return int(current_app.config.get("LOGO_MAX_BYTES", 512 * 1024))


def _audit(partner: Partner, action: str, changes: dict[str, Any], actor: str,
           reason: str = "") -> None:
    db.session.add(PartnerChange(partner_id=partner.id, action=action, actor=actor,
                                 changes=changes, reason=reason[:300]))
    log.info("partner %s %s by %s: %s", partner.slug, action, actor, ", ".join(changes) or "-")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value.value if hasattr(value, "value") else value


def _apply(partner: Partner, clean: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for field, value in clean.items():
        before = getattr(partner, field)
        if before == value:
            continue
        setattr(partner, field, value)
        changes[field] = (["(binary)", "(binary)"] if field in UNAUDITED
                          else [_jsonable(before), _jsonable(value)])
    return changes


def create_partner(values: dict[str, Any], *, actor: str, domains: list[str] | None = None,
                   embed_origins: list[str] | None = None) -> Partner:
    """A new partner, in draft: it sells once opened (open_partner), which needs its legal
    identity and a catalogue."""
    errors: dict[str, Any] = {f: _l("is required") for f in REQUIRED_ON_CREATE
                              if not str(values.get(f) or "").strip()}
    clean: dict[str, Any] = {}
    try:
        if "slug" not in errors:
            clean["slug"] = check_slug(values["slug"])
            if db.session.scalar(select(Partner.id).where(Partner.slug == clean["slug"])):
                errors["slug"] = _l("'%(slug)s' is already a partner's", slug=clean["slug"])
    except PartnerError as exc:
        errors.update(exc.errors)
    try:
        clean.update(validate_partner({k: v for k, v in values.items() if k != "slug"},
                                      wholesalers=wholesaler_codes(),
                                      max_logo_bytes=_logo_limit(), themes=theme_names()))
    except PartnerError as exc:
        errors.update({k: v for k, v in exc.errors.items() if k not in errors})
    hosts: list[str] = []
    origins: list[str] = []
    try:
        hosts = _check_hosts(domains or [], None)
    except PartnerError as exc:
        errors.update(exc.errors)
    try:
        origins = [normalise_origin(o) for o in embed_origins or []]
    except PartnerError as exc:
        errors.update(exc.errors)
    if errors:
        raise PartnerError(errors)
    partner = Partner(status=PartnerStatus.DRAFT, **clean)
    partner.embed_origins = "\n".join(dict.fromkeys(origins))
    partner.domains = [PartnerDomain(host=h, is_primary=i == 0) for i, h in enumerate(hosts)]
    db.session.add(partner)
    _flush_checking_hosts()
    _audit(partner, "created", {k: [None, _jsonable(v)] for k, v in clean.items()}
           | ({"domains": [None, hosts]} if hosts else {})
           | ({"embed_origins": [None, origins]} if origins else {}), actor)
    return partner


def update_partner(partner: Partner, values: dict[str, Any], *, actor: str,
                   logo: Logo | None = None) -> dict[str, Any]:
    """Change the fields given (and the logo, if one is sent); return what changed."""
    if "slug" in values and values["slug"] != partner.slug:
        raise PartnerError({"slug": _l("a partner's slug cannot change: its links use it")})
    fields = {k: v for k, v in values.items() if k != "slug"}
    translated = {k: fields.pop(k) for k in list(fields) if k in translated_fields()}
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise PartnerError({name: _l("is not a partner field") for name in sorted(unknown)})
    errors: dict[str, Any] = {}
    clean: dict[str, Any] = {}
    try:
        clean = validate_partner(fields, wholesalers=wholesaler_codes(),
                                 max_logo_bytes=_logo_limit(), themes=theme_names())
    except PartnerError as exc:
        errors.update(exc.errors)
    if logo is not None:
        try:
            clean.update(validate_brand({}, logo, max_logo_bytes=_logo_limit()))
        except BrandError as exc:
            errors.update(exc.errors)
    try:
        translations = _translations(partner, translated)
        if translations is not None:
            clean["translations"] = translations
    except PartnerError as exc:
        errors.update(exc.errors)
    if errors:
        raise PartnerError(errors)
    if partner.status == PartnerStatus.OPEN:
        emptied = [f for f in missing_legal_after(partner, clean)]
        if emptied:
            raise PartnerError({f: _l("is required while the shop is open") for f in emptied})
    changes = _apply(partner, clean)
    if changes:
        _audit(partner, "updated", changes, actor)
    return changes


# Partner texts that may have a version per language: `tagline_en` is the English tagline.
TRANSLATABLE = ("tagline",)


def other_locales() -> list[str]:
    default = str(current_app.config.get("DEFAULT_LOCALE") or "fr")
    return [code.strip() for code in str(current_app.config.get("LOCALES", "fr,en")).split(",")
            if code.strip() and code.strip() != default]


def translated_fields() -> set[str]:
    return {f"{field}_{locale}" for field in TRANSLATABLE for locale in other_locales()}


def _translations(partner: Partner, values: dict[str, Any]) -> dict[str, Any] | None:
    """The partner's translations with these `<field>_<locale>` values set (blank: removed)."""
    if not values:
        return None
    errors: dict[str, Any] = {}
    merged = {locale: dict(texts) for locale, texts in (partner.translations or {}).items()}
    for name, value in values.items():
        field, _, locale = name.rpartition("_")
        text = " ".join(str(value or "").split())
        if len(text) > 200:
            errors[name] = _l("at most %(limit)d characters", limit=200)
        elif header_breaks(text) or "<" in text or ">" in text:
            errors[name] = _l("plain text only: no control characters, < or >")
        elif text:
            merged.setdefault(locale, {})[field] = text
        else:
            merged.get(locale, {}).pop(field, None)
    if errors:
        raise PartnerError(errors)
    return {locale: texts for locale, texts in merged.items() if texts}


def missing_legal_after(partner: Partner, clean: dict[str, Any]) -> list[str]:
    class _View:
        def __getattr__(self, name: str) -> Any:
            return clean[name] if name in clean else getattr(partner, name)

    return missing_legal(_View())


def _check_hosts(hosts: list[str], partner: Partner | None) -> list[str]:
    clean: list[str] = []
    for raw in hosts:
        host = normalise_host(raw)
        if host not in clean:
            clean.append(host)
    platform = {h.strip().lower() for h in
                str(current_app.config.get("PLATFORM_HOSTS", "")).split(",") if h.strip()}
    taken = [h for h in clean if h in platform]
    if taken:
        raise PartnerError({"domains": _l("%(host)s is one of the platform's own hosts",
                                          host=taken[0])})
    if clean:
        owner = db.session.execute(
            select(PartnerDomain.host, Partner.slug).join(Partner)
            .where(PartnerDomain.host.in_(clean),
                   *([PartnerDomain.partner_id != partner.id] if partner is not None else []))
        ).first()
        if owner is not None:
            raise PartnerError({"domains": _l("%(host)s already serves the partner %(partner)s",
                                              host=owner[0], partner=owner[1])})
    return clean


def _flush_checking_hosts() -> None:
    """Flush; a domain taken meanwhile by another partner is a field error, not a crash."""
    flush_or_refuse("domains", _l("one of these domains was just given to another partner, or "
                                  "the slug was just taken"))


def set_domains(partner: Partner, hosts: list[str], *, actor: str,
                primary: str | None = None) -> list[str]:
    """Replace the partner's domains (several allowed, each unique across partners)."""
    clean = _check_hosts(hosts, partner)
    primary_host = normalise_host(primary) if primary else (clean[0] if clean else None)
    if primary_host is not None and primary_host not in clean:
        raise PartnerError({"primary": _l("%(host)s is not among the partner's domains",
                                          host=primary_host)})
    before = [d.host for d in partner.domains]
    before_primary = partner.primary_host
    existing = {d.host: d for d in partner.domains}
    partner.domains = [existing.get(h) or PartnerDomain(host=h) for h in clean]
    for domain in partner.domains:
        domain.is_primary = domain.host == primary_host
    _flush_checking_hosts()
    changes: dict[str, Any] = {}
    if sorted(before) != sorted(clean):
        changes["domains"] = [sorted(before), sorted(clean)]
    if before_primary != primary_host:
        changes["primary_domain"] = [before_primary, primary_host]
    if changes:
        _audit(partner, "domains", changes, actor)
    return clean


def set_embed_origins(partner: Partner, origins: list[str], *, actor: str) -> list[str]:
    """The sites allowed to frame the partner's shop (none: it cannot be framed)."""
    clean = list(dict.fromkeys(normalise_origin(o) for o in origins))
    before = partner.embed_origin_list
    if before != clean:
        partner.embed_origins = "\n".join(clean)
        _audit(partner, "embed", {"embed_origins": [before, clean]}, actor)
    return clean


def change_status(partner: Partner, to: PartnerStatus, *, actor: str, reason: str = "") -> str:
    """Open, suspend or reopen the shop; an illegal change raises PartnerError."""
    current = PartnerStatus(partner.status)
    action = TRANSITIONS.get((current, to))
    if action is None:
        raise PartnerError({"status": _l("the shop is %(current)s: it cannot become %(to)s",
                                         current=current.value, to=to.value)})
    if to == PartnerStatus.OPEN:
        problems: dict[str, Any] = {f: _l("is required before the shop opens")
                                     for f in missing_legal(partner)}
        if not any(o.available for o in partner.offers):
            problems["offers"] = _l("the shop needs at least one product on sale before it "
                                    "opens")
        if problems:
            raise PartnerError(problems)
    if to == PartnerStatus.SUSPENDED and not reason.strip():
        raise PartnerError({"reason": _l("say why the shop is suspended")})
    moved = db.session.execute(
        update(Partner).where(Partner.id == partner.id, Partner.status == current)
        .values(status=to).execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not moved:
        raise PartnerError({"status": _l("the shop's status changed meanwhile: reload and "
                                          "retry")})
    partner.status = to
    _audit(partner, action, {"status": [current.value, to.value]}, actor, reason)
    return action


def _product(code: str) -> Product:
    product = db.session.scalar(select(Product).where(Product.code == str(code).strip().upper()))
    if product is None:
        raise PartnerError({"product": _l("no product %(code)s in the catalogue", code=repr(code))})
    return product


def _offer(partner: Partner, product: Product) -> PartnerProduct | None:
    return next((o for o in partner.offers if o.product_id == product.id), None)


def set_offer(partner: Partner, product_code: str, *, actor: str, price_cents: int | None = None,
              available: bool | None = None) -> PartnerProduct:
    """Sell a product at a TTC price now (adding it to the partner's catalogue if needed), or
    take it off sale; the change applies to the next page and the next order."""
    product = _product(product_code)
    offer = _offer(partner, product)
    if offer is None:
        if not product.is_active:
            raise PartnerError({"product": _l("%(code)s is withdrawn from the catalogue",
                                               code=product.code)})
        if price_cents is None:
            raise PartnerError({"price": _l("%(code)s is not sold yet: give its price",
                                             code=product.code)})
        offer = PartnerProduct(product=product, price_cents=price_cents,
                               available=True if available is None else available,
                               position=len(partner.offers))
        partner.offers.append(offer)
        _audit(partner, "price", {f"offers.{product.code}": [
            None, {"price_cents": price_cents, "available": offer.available}]}, actor)
        return offer
    changes: dict[str, Any] = {}
    if price_cents is not None and price_cents != offer.price_cents:
        changes[f"offers.{product.code}.price_cents"] = [offer.price_cents, price_cents]
        offer.price_cents = price_cents
    if available is not None and available != offer.available:
        changes[f"offers.{product.code}.available"] = [offer.available, available]
        offer.available = available
    if changes:
        _audit(partner, "price", changes, actor)
    return offer


def set_price_bounds(partner: Partner, product_code: str, floor_cents: int | None,
                     ceiling_cents: int | None, *, actor: str) -> PartnerProduct:
    """The range the partner's staff may set this offer's price in (both None: they may not)."""
    product = _product(product_code)
    offer = _offer(partner, product)
    if offer is None:
        raise PartnerError({"product": _l("%(code)s is not in this partner's catalogue",
                                           code=product.code)})
    if (floor_cents is None) != (ceiling_cents is None):
        raise PartnerError({"floor": _l("give both a floor and a ceiling, or neither")})
    if floor_cents is not None and ceiling_cents is not None and floor_cents > ceiling_cents:
        raise PartnerError({"floor": _l("the floor is above the ceiling")})
    before = [offer.min_price_cents, offer.max_price_cents]
    if before != [floor_cents, ceiling_cents]:
        offer.min_price_cents, offer.max_price_cents = floor_cents, ceiling_cents
        _audit(partner, "price_bounds", {f"offers.{product.code}.bounds": [
            before, [floor_cents, ceiling_cents]]}, actor)
    return offer


def set_price_within_bounds(partner: Partner, product_code: str, price_cents: int, *,
                            actor: str) -> PartnerProduct:
    """A price set by the partner's own staff: only inside the operator's bounds."""
    product = _product(product_code)
    offer = _offer(partner, product)
    if offer is None:
        raise PartnerError({"product": _l("%(code)s is not in your catalogue", code=product.code)})
    if offer.min_price_cents is None or offer.max_price_cents is None:
        raise PartnerError({"price": _l("the platform sets this product's price: ask your "
                                        "account manager")})
    if not offer.min_price_cents <= price_cents <= offer.max_price_cents:
        raise PartnerError({"price": _l("must be between %(floor)s and %(ceiling)s",
                                        floor=lazy_money(offer.min_price_cents),
                                        ceiling=lazy_money(offer.max_price_cents))})
    return set_offer(partner, product.code, actor=actor, price_cents=price_cents)


def schedule_price(partner: Partner, product_code: str, price_cents: int, starts_at: datetime,
                   *, actor: str, now: datetime | None = None) -> ScheduledPrice:
    """A price that replaces the offer's from starts_at (in the future)."""
    now = now or utcnow()
    if starts_at <= now:
        raise PartnerError({"starts_at": _l("must be in the future; set a price for now "
                                             "instead")})
    product = _product(product_code)
    offer = _offer(partner, product)
    if offer is None:
        raise PartnerError({"product": _l("%(code)s is not in this partner's catalogue: "
                                          "set its current price first", code=product.code)})
    clash = db.session.scalar(select(ScheduledPrice.id).where(
        ScheduledPrice.offer_id == offer.id, ScheduledPrice.starts_at == starts_at,
        ScheduledPrice.applied_at.is_(None), ScheduledPrice.cancelled_at.is_(None)))
    if clash is not None:
        raise PartnerError({"starts_at": _l("a price is already scheduled at that moment")})
    scheduled = ScheduledPrice(offer=offer, price_cents=price_cents, starts_at=starts_at,
                               actor=actor)
    db.session.add(scheduled)
    if partner.next_price_at is None or starts_at < partner.next_price_at:
        partner.next_price_at = starts_at
    _audit(partner, "price_scheduled", {f"offers.{product.code}.price_cents": [
        offer.price_cents, price_cents]}, actor, f"from {starts_at.isoformat()}")
    return scheduled


def pending_prices(partner: Partner) -> list[ScheduledPrice]:
    return list(db.session.scalars(
        select(ScheduledPrice).join(PartnerProduct)
        .where(PartnerProduct.partner_id == partner.id, ScheduledPrice.applied_at.is_(None),
               ScheduledPrice.cancelled_at.is_(None))
        .order_by(ScheduledPrice.starts_at)))


def apply_due_prices(now: datetime | None = None, partner_id: Any = None) -> int:
    """Apply the scheduled prices that are due, each exactly once however many processes try;
    return how many this call applied. The caller commits."""
    now = now or utcnow()
    query = (select(ScheduledPrice).join(PartnerProduct)
             .where(ScheduledPrice.applied_at.is_(None), ScheduledPrice.cancelled_at.is_(None),
                    ScheduledPrice.starts_at <= now)
             .order_by(ScheduledPrice.starts_at))
    if partner_id is not None:
        query = query.where(PartnerProduct.partner_id == partner_id)
    applied = 0
    touched: set[Any] = set()
    for scheduled in db.session.scalars(query).all():
        won = db.session.execute(
            update(ScheduledPrice)
            .where(ScheduledPrice.id == scheduled.id, ScheduledPrice.applied_at.is_(None))
            .values(applied_at=now).execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        touched.add(scheduled.offer.partner_id)
        if not won:
            continue
        offer = scheduled.offer
        before = offer.price_cents
        offer.price_cents = scheduled.price_cents
        _audit(offer.partner, "price_applied",
               {f"offers.{offer.product.code}.price_cents": [before, scheduled.price_cents]},
               scheduled.actor, f"scheduled for {scheduled.starts_at.isoformat()}")
        applied += 1
    for pid in touched:
        next_at = db.session.scalar(
            select(func.min(ScheduledPrice.starts_at)).join(PartnerProduct)
            .where(PartnerProduct.partner_id == pid, ScheduledPrice.applied_at.is_(None),
                   ScheduledPrice.cancelled_at.is_(None)))
        db.session.execute(update(Partner).where(Partner.id == pid)
                           .values(next_price_at=next_at)
                           .execution_options(synchronize_session=False))
        found = db.session.get(Partner, pid)
        if found is not None:
            found.next_price_at = next_at
    return applied


def apply_partner_due_prices(partner: Partner, now: datetime | None = None) -> bool:
    """Apply this partner's due scheduled prices, if any (cheap when none: one comparison);
    True when something may have changed and the caller should commit."""
    now = now or utcnow()
    if partner.next_price_at is None or partner.next_price_at > now:
        return False
    apply_due_prices(now, partner_id=partner.id)
    return True


def history(partner: Partner, limit: int = 100) -> list[PartnerChange]:
    return list(db.session.scalars(
        select(PartnerChange).where(PartnerChange.partner_id == partner.id)
        .order_by(PartnerChange.at.desc()).limit(limit)))


@dataclass(frozen=True)
class Readiness:
    """What a shop still needs before it can open."""

    missing_legal: list[str]
    has_offers: bool

    @property
    def ready(self) -> bool:
        return not self.missing_legal and self.has_offers


def readiness(partner: Partner) -> Readiness:
    return Readiness(missing_legal(partner), any(o.available for o in partner.offers))


# Fields an update may change (the slug never changes; domains, offers, origins and status have
# their own operations).
EDITABLE_FIELDS = {
    "name", "kind", "wholesaler_code", "allow_failover", "backup_by_default",
    "merchant_of_record", "theme", "tagline", "primary_color", "secondary_color",
    "accent_color", "font", "logo_url", "legal_notice", "support_email", "support_phone",
    "legal_name", "legal_form",
    "siren", "rcs_city", "vat_number", "registered_office", "publication_director",
    "host_details", "mediator_name", "mediator_url",
}


def snapshot(partner: Partner) -> dict[str, Any]:
    """A partner as the operator API and `comptoir partners show` give it."""
    return {
        "slug": partner.slug,
        "status": PartnerStatus(partner.status).value,
        **{field: _jsonable(getattr(partner, field)) for field in sorted(EDITABLE_FIELDS)},
        "domains": [{"host": d.host, "primary": d.host == partner.primary_host}
                    for d in partner.domains],
        "embed_origins": partner.embed_origin_list,
        "translations": partner.translations or {},
        "offers": [{"product": o.product.code, "price_cents": o.price_cents,
                    "available": o.available,
                    "bounds": ([o.min_price_cents, o.max_price_cents]
                               if o.min_price_cents is not None else None)}
                   for o in sorted(partner.offers, key=lambda o: o.position)],
        "scheduled_prices": [{"product": s.offer.product.code, "price_cents": s.price_cents,
                              "starts_at": s.starts_at.isoformat()}
                             for s in pending_prices(partner)],
        "missing_for_opening": [*missing_legal(partner),
                                *([] if any(o.available for o in partner.offers)
                                  else ["offers"])],
        "created_at": partner.created_at.isoformat() if partner.created_at else None,
    }
