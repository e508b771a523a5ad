"""`comptoir programmes ...`: the operator's commission programmes from the command line.

The commands call the services the back office uses (programme_admin, incentives, preview) and
commit; a refusal prints its messages and changes nothing. Times without an offset are Paris time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from commerce.models import Partner
from commissions import audit, incentives, programme_admin
from commissions.errors import CommissionError
from commissions.models import ProductMultiplier, Programme, Promotion
from commissions.preview import Change, Preview, preview
from commissions.programmes import now_or, programme_for, published_versions, version_at
from commissions.rules import ActiveMultiplier, ActivePromotion, Rates, format_amount
from extensions import db

ACTOR = "cli"
T = TypeVar("T")


def _moment(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    from partners.validation import PartnerError, parse_moment

    try:
        return parse_moment(value, name)
    except PartnerError as exc:
        raise click.BadParameter(str(exc.errors[name]), param_hint=f"--{name}") from None


def _now(value: str | None) -> datetime:
    return now_or(_moment(value, "now"))


def _partner(slug: str) -> Partner:
    partner = db.session.scalar(select(Partner).where(Partner.slug == slug))
    if partner is None:
        raise click.ClickException(f"no partner {slug!r}")
    return partner


def _programme(slug: str) -> tuple[Partner, Programme]:
    partner = _partner(slug)
    programme = programme_for(partner.id)
    if programme is None:
        raise click.ClickException(f"{slug} runs no programme: comptoir programmes create {slug}")
    return partner, programme


def _refused(exc: CommissionError) -> click.ClickException:
    db.session.rollback()
    errors = getattr(exc, "errors", None)
    if errors:
        return click.ClickException("refused, nothing changed:\n" + "\n".join(
            f"  {field}: {message}" for field, message in errors.items()))
    return click.ClickException(str(exc))


def _commit(change: Callable[[], T]) -> T:
    """Run one service call and commit; a refusal rolls back and prints its messages."""
    try:
        result = change()
    except CommissionError as exc:
        raise _refused(exc) from exc
    db.session.commit()
    return result


def _window(starts: str, ends: str) -> incentives.Window:
    start, end = _moment(starts, "starts"), _moment(ends, "ends")
    assert start is not None and end is not None
    return incentives.Window(start, end)


def _rates(pairs: tuple[str, ...]) -> dict[str, str]:
    rates: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r}: write KEY=VALUE, e.g. perpetual.office=0.08",
                                     param_hint="--rate")
        rates[key.strip()] = value.strip()
    return rates


@click.group("programmes")
def programmes_cli() -> None:
    """Commission programmes: versions of rates, promotions, product multipliers, previews."""


@programmes_cli.command("list")
@click.option("--now", "now_text", default=None, help="As of this time (ISO).")
@with_appcontext
def programmes_list(now_text: str | None) -> None:
    """List the programmes with the version in force and any open draft."""
    now = _now(now_text)
    for programme in db.session.scalars(select(Programme).order_by(Programme.name)):
        version = version_at(programme, now)
        draft = programme_admin.draft_of(programme)
        click.echo(f"{programme.partner.slug:<16} {programme.name}  in force: "
                   f"{version.label if version else '-'}"
                   f"{'  draft open' if draft else ''}"
                   f"  promotions: {len(programme.promotions)}"
                   f"  multipliers: {len(programme.multipliers)}")


@programmes_cli.command("create")
@click.argument("partner_slug")
@click.option("--name", default=None)
@click.option("--attribution-days", default=30, show_default=True, type=int)
@click.option("--holding-hours", default=48, show_default=True, type=int)
@click.option("--minimum", default="50.00", show_default=True, help="Minimum payout, in euros.")
@with_appcontext
def programmes_create(partner_slug: str, name: str | None, attribution_days: int,
                      holding_hours: int, minimum: str) -> None:
    """Start a commission programme for a partner's network."""
    partner = _partner(partner_slug)
    try:
        minimum_cents = int((Decimal(minimum.strip().replace(",", ".")) * 100).to_integral_exact())
    except (ArithmeticError, ValueError):
        raise click.BadParameter("an amount in euros, e.g. 50.00", param_hint="--minimum"
                                 ) from None
    programme = _commit(lambda: programme_admin.create_programme(
        partner, ACTOR, _now(None), name=name, attribution_days=attribution_days,
        holding_hours=holding_hours, minimum_payout_cents=minimum_cents))
    click.echo(f"programme {programme.name!r} created for {partner.slug}: draft its rates with "
               f"`comptoir programmes draft {partner.slug}`")


@programmes_cli.command("show")
@click.argument("partner_slug")
@click.option("--now", "now_text", default=None, help="As of this time (ISO).")
@with_appcontext
def programmes_show(partner_slug: str, now_text: str | None) -> None:
    """Print a programme: versions and their rates, promotions, multipliers, audit."""
    _, programme = _programme(partner_slug)
    now = _now(now_text)
    in_force = version_at(programme, now)
    click.echo(f"{programme.name} ({programme.currency}): attribution {programme.attribution_days}"
               f" days, holding {programme.holding_hours} h, minimum payout "
               f"{format_amount(programme.minimum_payout_cents, programme.currency)}")
    versions = [*published_versions(programme)]
    draft = programme_admin.draft_of(programme)
    for version in [*versions, *([draft] if draft else [])]:
        mark = " (in force)" if version is in_force else ""
        click.echo(f"version {version.label}{mark} [{version.status}] {version.note}")
        for key, value in programme_admin.flat_rates(version.rates).items():
            click.echo(f"    {key} = {value}")
    for p in programme.promotions:
        click.echo(f"promotion {p.id} {p.name!r} ×{Decimal(p.multiplier).normalize()} "
                   f"{p.family or 'all families'} [{p.starts_at.isoformat()}, "
                   f"{p.ends_at.isoformat()})")
    for m in programme.multipliers:
        scope = ", ".join(m.product_codes) if m.product_codes else f"family {m.family}"
        click.echo(f"multiplier {m.id} {m.name!r} ×{Decimal(m.factor).normalize()} {scope} "
                   f"[{m.starts_at.isoformat()}, {m.ends_at.isoformat()})")
    for change in audit.history(programme, 30):
        click.echo(f"audit {change.at.isoformat()} {change.actor}: {change.action} "
                   + "; ".join(f"{k}: {b} -> {a}" for k, (b, a) in change.changed.items()
                               if k != "rates"))


@programmes_cli.command("draft")
@click.argument("partner_slug")
@click.option("--rate", "rates", multiple=True,
              help="KEY=VALUE, e.g. perpetual.server=0.06; an empty value removes the key.")
@click.option("--note", default=None)
@with_appcontext
def programmes_draft(partner_slug: str, rates: tuple[str, ...], note: str | None) -> None:
    """Open the draft (from the rates in force) or change the open one."""
    partner, programme = _programme(partner_slug)
    now = _now(None)
    draft = programme_admin.draft_of(programme)
    open_draft = draft
    if open_draft is None:
        draft = _commit(lambda: programme_admin.draft_version(partner, ACTOR, now,
                                                              rates=_rates(rates),
                                                              note=note or ""))
    else:
        draft = _commit(lambda: programme_admin.update_draft(open_draft, _rates(rates), ACTOR,
                                                             now, note=note))
    for key, value in programme_admin.flat_rates(draft.rates).items():
        click.echo(f"{key} = {value}")
    click.echo(f"draft saved: `comptoir programmes preview {partner.slug}` shows its effect, "
               f"`comptoir programmes publish {partner.slug} --valid-from ...` publishes it")


@programmes_cli.command("discard")
@click.argument("partner_slug")
@with_appcontext
def programmes_discard(partner_slug: str) -> None:
    """Discard the open draft."""
    _, programme = _programme(partner_slug)
    draft = programme_admin.draft_of(programme)
    if draft is None:
        raise click.ClickException("no draft is open")
    _commit(lambda: programme_admin.discard_draft(draft, ACTOR, _now(None)))
    click.echo("draft discarded")


@programmes_cli.command("publish")
@click.argument("partner_slug")
@click.option("--valid-from", "valid_from", required=True,
              help="From when the version applies (ISO; now or later).")
@with_appcontext
def programmes_publish(partner_slug: str, valid_from: str) -> None:
    """Publish the open draft from --valid-from; it never changes again."""
    _, programme = _programme(partner_slug)
    draft = programme_admin.draft_of(programme)
    if draft is None:
        raise click.ClickException("no draft is open: `comptoir programmes draft` opens one")
    when = _moment(valid_from, "valid-from")
    assert when is not None
    version = _commit(lambda: programme_admin.publish_version(draft, when, ACTOR, _now(None)))
    click.echo(f"version {version.label} published: lines delivered from {when.isoformat()} "
               "use it")


def _print_preview(result: Preview) -> None:
    cur = result.currency
    click.echo(f"last month {result.month}: {result.total.lines} delivered line(s)")
    for line in result.lines:
        click.echo(f"  {line.order_number} {line.reseller_code} {line.product_code} "
                   f"{format_amount(line.current_cents, cur)} -> "
                   f"{format_amount(line.proposed_cents, cur)}")
        if line.proposed_explanation:
            click.echo(f"      {line.proposed_explanation}")
    for title, totals in (("reseller", result.by_reseller), ("family", result.by_family)):
        for total in totals:
            click.echo(f"by {title} {total.key}: {format_amount(total.current_cents, cur)} -> "
                       f"{format_amount(total.proposed_cents, cur)} "
                       f"({format_amount(total.difference, cur)})")
    click.echo(f"total: {format_amount(result.total.current_cents, cur)} -> "
               f"{format_amount(result.total.proposed_cents, cur)} "
               f"(difference {format_amount(result.total.difference, cur)})")


@programmes_cli.command("preview")
@click.argument("partner_slug")
@click.argument("what", type=click.Choice(["draft", "promotion", "multiplier"]),
                default="draft")
@click.option("--factor", default=None, help="The promotion's or multiplier's factor, e.g. 2.")
@click.option("--family", default=None, help="Only this family.")
@click.option("--product", "products", multiple=True, help="A multiplier's product code.")
@click.option("--name", default="(preview)")
@click.option("--now", "now_text", default=None, help="As of this time (ISO).")
@with_appcontext
def programmes_preview(partner_slug: str, what: str, factor: str | None, family: str | None,
                       products: tuple[str, ...], name: str, now_text: str | None) -> None:
    """Show what the draft, a promotion or a multiplier would have done to last month's sales."""
    _, programme = _programme(partner_slug)
    now = _now(now_text)
    change = Change()
    if what == "draft":
        draft = programme_admin.draft_of(programme)
        if draft is None:
            raise click.ClickException("no draft is open")
        change = Change(rates=Rates.from_json(draft.rates))
    else:
        window = incentives.Window(now, now.replace(year=now.year + 1))
        try:
            if what == "promotion":
                clean_name, value, clean_family = incentives.check_promotion(
                    name, factor or "", window, family, now)
                change = Change(promotion=ActivePromotion(clean_name, value, clean_family))
            else:
                clean_name, value, codes, clean_family = incentives.check_multiplier(
                    name, factor or "", window, now, product_codes=products, family=family)
                change = Change(multiplier=ActiveMultiplier(clean_name, value, frozenset(codes),
                                                            clean_family))
        except CommissionError as exc:
            raise _refused(exc) from exc
    _print_preview(preview(programme, change, now))


def _find(items: list[Promotion] | list[ProductMultiplier], ref: str, kind: str
          ) -> Promotion | ProductMultiplier:
    try:
        wanted = uuid.UUID(ref)
        found = [i for i in items if i.id == wanted]
    except ValueError:
        found = [i for i in items if i.name == ref]
    if len(found) != 1:
        raise click.ClickException(f"no single {kind} {ref!r}: give its id (programmes show)")
    return found[0]


@programmes_cli.command("promotion-add")
@click.argument("partner_slug")
@click.option("--name", required=True)
@click.option("--multiplier", required=True, help="e.g. 2 for doubled margins.")
@click.option("--starts", required=True, help="ISO time, now or later.")
@click.option("--ends", required=True, help="ISO time (exclusive).")
@click.option("--family", default=None, help="Only this family (default: every line).")
@with_appcontext
def promotion_add(partner_slug: str, name: str, multiplier: str, starts: str, ends: str,
                  family: str | None) -> None:
    """Add a promotion: a multiplier over the margins in a window."""
    partner, _ = _programme(partner_slug)
    window = _window(starts, ends)
    promotion = _commit(lambda: incentives.create_promotion(
        partner, name, multiplier, window, ACTOR, _now(None), family=family))
    click.echo(f"promotion {promotion.id} {promotion.name!r} created")


@programmes_cli.command("promotion-edit")
@click.argument("partner_slug")
@click.argument("promotion")
@click.option("--name", default=None)
@click.option("--multiplier", default=None)
@click.option("--starts", default=None)
@click.option("--ends", default=None)
@click.option("--family", default=None, help="A family, or 'all'.")
@with_appcontext
def promotion_edit(partner_slug: str, promotion: str, name: str | None, multiplier: str | None,
                   starts: str | None, ends: str | None, family: str | None) -> None:
    """Change a promotion that has not started (by id or name)."""
    _, programme = _programme(partner_slug)
    found = _find(programme.promotions, promotion, "promotion")
    assert isinstance(found, Promotion)
    window = incentives.Window(_moment(starts, "starts") or found.starts_at,
                               _moment(ends, "ends") or found.ends_at)
    new_family = found.family if family is None else (None if family == "all" else family)
    _commit(lambda: incentives.edit_promotion(found, name or found.name,
                                              multiplier or str(found.multiplier), window, ACTOR,
                                              _now(None), family=new_family))
    click.echo(f"promotion {found.name!r} saved")


@programmes_cli.command("promotion-end")
@click.argument("partner_slug")
@click.argument("promotion")
@with_appcontext
def promotion_end(partner_slug: str, promotion: str) -> None:
    """End a running promotion now, or withdraw one that has not started."""
    _end(partner_slug, promotion, "promotion")


def _end(slug: str, ref: str, kind: str) -> None:
    _, programme = _programme(slug)
    if kind == "promotion":
        promotion = _find(programme.promotions, ref, kind)
        assert isinstance(promotion, Promotion)
        outcome = _commit(lambda: incentives.end_promotion(promotion, ACTOR, _now(None)))
    else:
        multiplier = _find(programme.multipliers, ref, kind)
        assert isinstance(multiplier, ProductMultiplier)
        outcome = _commit(lambda: incentives.end_multiplier(multiplier, ACTOR, _now(None)))
    click.echo(f"{kind} {ref!r} {outcome}")


@programmes_cli.command("multiplier-add")
@click.argument("partner_slug")
@click.option("--name", required=True)
@click.option("--factor", required=True, help="e.g. 2: each sale counts double.")
@click.option("--starts", required=True)
@click.option("--ends", required=True)
@click.option("--product", "products", multiple=True, help="A product code (repeat).")
@click.option("--family", default=None, help="Or a whole family.")
@with_appcontext
def multiplier_add(partner_slug: str, name: str, factor: str, starts: str, ends: str,
                   products: tuple[str, ...], family: str | None) -> None:
    """Make sales of some products (or a family) count several times over a window."""
    partner, _ = _programme(partner_slug)
    window = _window(starts, ends)
    multiplier = _commit(lambda: incentives.create_multiplier(
        partner, name, factor, window, ACTOR, _now(None), product_codes=products, family=family))
    click.echo(f"multiplier {multiplier.id} {multiplier.name!r} created")


@programmes_cli.command("multiplier-end")
@click.argument("partner_slug")
@click.argument("multiplier")
@with_appcontext
def multiplier_end(partner_slug: str, multiplier: str) -> None:
    """End a running multiplier now, or withdraw one that has not started."""
    _end(partner_slug, multiplier, "multiplier")
