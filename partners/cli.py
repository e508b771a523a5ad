"""`comptoir partners create|update|open|suspend|reopen|domains|price|embed|show|list|history` and
`comptoir products list|import|export|history|translate`.

Fields are given as `--set field=value` (repeatable), named as in the operator API's JSON, or
all at once from a JSON file (`--from-file partner.json`). A refused change prints one line per
field and exits 1, with nothing stored.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import select

from commerce.models import Partner, PartnerStatus
from extensions import db
from partners import services
from partners.validation import PartnerError, parse_moment, parse_price

ACTOR = "cli"


@click.group("partners")
def partners_group() -> None:
    """Partners: bring one on board, change it, open or suspend its shop, its prices and keys."""


def _partner(slug: str) -> Partner:
    partner = db.session.scalar(select(Partner).where(Partner.slug == slug))
    if partner is None:
        raise click.ClickException(f"no partner {slug!r}")
    return partner


def _pairs(items: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r}: write field=value", param_hint="--set")
        values[name.strip()] = value
    return values


def _from_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--from-file") from exc
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path}: a JSON object is expected", param_hint="--from-file")
    return data


def _refused(exc: PartnerError) -> None:
    db.session.rollback()
    for field, message in exc.english().items():
        click.echo(f"{field}: {message}", err=True)
    sys.exit(1)


def _commit(message: str) -> None:
    db.session.commit()
    click.echo(message)


@partners_group.command("create")
@click.argument("slug")
@click.option("--name", help="The shop's name, as buyers see it.")
@click.option("--kind", help="retail, oem, telecom, channel, historic or direct.")
@click.option("--wholesaler", "wholesaler_code", help="The contracted wholesaler's code.")
@click.option("--domain", "domains", multiple=True, help="A host serving the shop (repeatable).")
@click.option("--embed-origin", "origins", multiple=True,
              help="A site allowed to frame the shop (repeatable).")
@click.option("--set", "pairs", multiple=True, help="field=value (repeatable).")
@click.option("--from-file", help="A JSON object of fields (domains and embed_origins too).")
@with_appcontext
def create(slug: str, name: str | None, kind: str | None, wholesaler_code: str | None,
           domains: tuple[str, ...], origins: tuple[str, ...], pairs: tuple[str, ...],
           from_file: str | None) -> None:
    """Create the partner SLUG, in draft: `partners open SLUG` opens its shop."""
    values = _from_file(from_file)
    file_domains = values.pop("domains", [])
    file_origins = values.pop("embed_origins", [])
    values.update({k: v for k, v in (("name", name), ("kind", kind),
                                     ("wholesaler_code", wholesaler_code)) if v is not None})
    values.update(_pairs(pairs))
    values["slug"] = slug
    try:
        partner = services.create_partner(
            values, actor=ACTOR, domains=[*_hosts(file_domains), *domains],
            embed_origins=[*file_origins, *origins])
    except PartnerError as exc:
        _refused(exc)
        return
    _commit(f"created {partner.slug} (draft); to open it: comptoir partners open {partner.slug}")
    _missing(partner)


def _hosts(items: Any) -> list[str]:
    return [d["host"] if isinstance(d, dict) else str(d) for d in items or []]


def _missing(partner: Partner) -> None:
    ready = services.readiness(partner)
    if partner.status != PartnerStatus.OPEN and not ready.ready:
        needs = [*ready.missing_legal, *([] if ready.has_offers else ["a product on sale"])]
        click.echo("before it opens, it needs: " + ", ".join(needs))


@partners_group.command("update")
@click.argument("slug")
@click.option("--set", "pairs", multiple=True, help="field=value (repeatable).")
@click.option("--from-file", help="A JSON object of the fields to change.")
@with_appcontext
def update(slug: str, pairs: tuple[str, ...], from_file: str | None) -> None:
    """Change fields of the partner SLUG; the running shop shows them at its next request."""
    partner = _partner(slug)
    values = {**_from_file(from_file), **_pairs(pairs)}
    if not values:
        raise click.UsageError("nothing to change: give --set field=value or --from-file")
    try:
        changes = services.update_partner(partner, values, actor=ACTOR)
    except PartnerError as exc:
        _refused(exc)
        return
    _commit(f"{slug}: " + (", ".join(sorted(changes)) + " changed" if changes else "no change"))


@partners_group.command("open")
@click.argument("slug")
@with_appcontext
def open_shop(slug: str) -> None:
    """Open the shop of a partner in draft (it needs its legal identity and a catalogue)."""
    _status(slug, PartnerStatus.OPEN, "")


@partners_group.command("suspend")
@click.argument("slug")
@click.option("--reason", required=True, help="Why, kept in the partner's history.")
@with_appcontext
def suspend(slug: str, reason: str) -> None:
    """Suspend the shop: its pages answer 404 and its API keys stop working."""
    _status(slug, PartnerStatus.SUSPENDED, reason)


@partners_group.command("reopen")
@click.argument("slug")
@with_appcontext
def reopen(slug: str) -> None:
    """Reopen a suspended shop."""
    _status(slug, PartnerStatus.OPEN, "")


def _status(slug: str, to: PartnerStatus, reason: str) -> None:
    partner = _partner(slug)
    try:
        action = services.change_status(partner, to, actor=ACTOR, reason=reason)
    except PartnerError as exc:
        _refused(exc)
        return
    _commit(f"{slug}: {action}")


@partners_group.command("domains")
@click.argument("slug")
@click.argument("hosts", nargs=-1)
@click.option("--primary", help="The domain that links in e-mails use.")
@with_appcontext
def domains(slug: str, hosts: tuple[str, ...], primary: str | None) -> None:
    """Set the domains of the partner SLUG (all of them: the ones not given are removed)."""
    partner = _partner(slug)
    try:
        clean = services.set_domains(partner, list(hosts), actor=ACTOR, primary=primary)
    except PartnerError as exc:
        _refused(exc)
        return
    _commit(f"{slug}: " + (", ".join(clean) or "no domain (served under /p/" + slug + "/)"))


@partners_group.command("price")
@click.argument("slug")
@click.argument("product")
@click.argument("price", required=False)
@click.option("--at", "starts_at",
              help="From when (ISO 8601, e.g. 2027-01-01T00:00; Paris time without an offset).")
@click.option("--available/--unavailable", default=None, help="Put on sale, or take off sale.")
@click.option("--floor", help="The lowest price the partner's staff may set (with --ceiling).")
@click.option("--ceiling", help="The highest price the partner's staff may set.")
@click.option("--no-bounds", is_flag=True, help="Only the operator sets this price.")
@with_appcontext
def price(slug: str, product: str, price: str | None, starts_at: str | None,
          available: bool | None, floor: str | None, ceiling: str | None,
          no_bounds: bool) -> None:
    """Set the TTC PRICE in euros of PRODUCT on the partner's shop, now or --at a moment; and the
    bounds the partner's own staff may set it within (--floor/--ceiling)."""
    partner = _partner(slug)
    try:
        if floor is not None or ceiling is not None or no_bounds:
            low = parse_price(floor, "floor") if floor is not None else None
            high = parse_price(ceiling, "ceiling") if ceiling is not None else None
            services.set_price_bounds(partner, product, low, high, actor=ACTOR)
            if price is None and available is None:
                _commit(f"{slug}: {product} bounds " + (
                    f"{low / 100:.2f} € to {high / 100:.2f} €" if low is not None
                    and high is not None else "removed"))
                return
        cents = parse_price(price) if price is not None else None
        if starts_at:
            if cents is None:
                raise PartnerError({"price": "a scheduled change needs its price"})
            moment = parse_moment(starts_at)
            services.schedule_price(partner, product, cents, moment, actor=ACTOR)
            message = f"{slug}: {product} at {cents / 100:.2f} € from {moment.isoformat()}"
        else:
            if cents is None and available is None:
                raise PartnerError({"price": "give a price, --available or --unavailable"})
            offer = services.set_offer(partner, product, actor=ACTOR, price_cents=cents,
                                       available=available)
            message = (f"{slug}: {offer.product.code} at {offer.price_cents / 100:.2f} €, "
                       + ("on sale" if offer.available else "off sale"))
    except PartnerError as exc:
        _refused(exc)
        return
    _commit(message)


@partners_group.command("embed")
@click.argument("slug")
@click.argument("origins", nargs=-1)
@click.option("--clear", is_flag=True, help="No site may frame the shop.")
@with_appcontext
def embed(slug: str, origins: tuple[str, ...], clear: bool) -> None:
    """Set the sites (origins like https://www.example.fr) allowed to embed the shop."""
    if not origins and not clear:
        raise click.UsageError("give the origins, or --clear")
    partner = _partner(slug)
    try:
        clean = services.set_embed_origins(partner, [] if clear else list(origins), actor=ACTOR)
    except PartnerError as exc:
        _refused(exc)
        return
    _commit(f"{slug}: " + ("may be embedded by " + ", ".join(clean) if clean
                           else "may not be embedded by any site"))


@partners_group.command("show")
@click.argument("slug")
@with_appcontext
def show(slug: str) -> None:
    """Print the partner SLUG as JSON."""
    click.echo(json.dumps(services.snapshot(_partner(slug)), indent=2, ensure_ascii=False))


@partners_group.command("list")
@with_appcontext
def list_partners() -> None:
    """Every partner: slug, status, kind, wholesaler, name."""
    for partner in db.session.scalars(select(Partner).order_by(Partner.slug)):
        click.echo(f"{partner.slug:<24} {partner.status:<10} {partner.kind:<9} "
                   f"{partner.wholesaler_code:<8} {partner.name}")


@partners_group.command("history")
@click.argument("slug")
@click.option("--limit", default=50, show_default=True)
@with_appcontext
def history(slug: str, limit: int) -> None:
    """The partner's changes, newest first: when, who, what, before → after."""
    for change in services.history(_partner(slug), limit):
        fields = "; ".join(f"{k}: {v[0]!r} → {v[1]!r}" for k, v in change.changes.items())
        reason = f" ({change.reason})" if change.reason else ""
        click.echo(f"{change.at:%Y-%m-%d %H:%M:%S} {change.actor} {change.action}{reason}: "
                   f"{fields}")


@click.group("products")
def products_group() -> None:
    """The platform's catalogue: products, their wholesalers' references and their texts in
    other languages; imported from and exported to a JSON file."""


@products_group.command("list")
@with_appcontext
def list_products() -> None:
    """Every product: code, list price, on sale or withdrawn, its languages, name."""
    from commerce.models import Product

    for product in db.session.scalars(select(Product).order_by(Product.code)):
        languages = ",".join(sorted(product.translations or {})) or "-"
        click.echo(f"{product.code:<24} {product.list_price_cents / 100:>9.2f} €  "
                   f"{'on sale' if product.is_active else 'withdrawn':<9}  {languages:<5} "
                   f"{product.name}")


@products_group.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--dry-run", is_flag=True, help="Check the file and say what would change; store "
                                               "nothing.")
@with_appcontext
def import_products(file: Any, dry_run: bool) -> None:
    """Create or update the products of FILE (a JSON list, as `products export` writes; - for
    standard input), keyed by code. Every product is checked first: one refusal and nothing is
    stored. The running shop shows the changes at its next request."""
    from partners import catalogue
    from partners.services import other_locales, wholesaler_codes

    try:
        results = catalogue.import_products(
            catalogue.load_catalogue(file.read()), actor=ACTOR, wholesalers=wholesaler_codes(),
            locales=other_locales(), dry_run=dry_run)
    except PartnerError as exc:
        click.echo(f"{len(exc.errors)} refused, nothing stored:", err=True)
        _refused(exc)
        return
    for result in results:
        if result.action == "updated":
            fields = "; ".join(f"{k}: {v[0]!r} → {v[1]!r}" for k, v in result.changes.items())
            click.echo(f"updated {result.code}: {fields}")
        else:
            click.echo(f"{result.action} {result.code}")
    counts = {action: sum(r.action == action for r in results)
              for action in ("created", "updated", "unchanged")}
    summary = ", ".join(f"{n} {action}" for action, n in counts.items())
    if dry_run:
        db.session.rollback()
        click.echo(f"{summary} (dry run: nothing stored)")
    else:
        _commit(summary)


@products_group.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="The file to write (default: standard output).")
@with_appcontext
def export_products(output: str | None) -> None:
    """Write the whole catalogue as JSON, in the format `products import` reads."""
    from partners.catalogue import export_products as export

    products = export()
    text = json.dumps(products, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text)
    click.echo(f"{len(products)} products written to {output}", err=True)


@products_group.command("history")
@click.argument("code")
@click.option("--limit", default=50, show_default=True)
@with_appcontext
def product_history(code: str, limit: int) -> None:
    """The product's changes, newest first: when, who, what, before → after."""
    from partners.catalogue import product_history as changes_of

    try:
        changes = changes_of(code, limit)
    except PartnerError as exc:
        _refused(exc)
        return
    for change in changes:
        fields = "; ".join(f"{k}: {v[0]!r} → {v[1]!r}" for k, v in change.changes.items())
        click.echo(f"{change.at:%Y-%m-%d %H:%M:%S} {change.actor} {change.action}: {fields}")


@products_group.command("translate")
@click.argument("code")
@click.argument("locale")
@click.option("--name", help="The product's name in that language (blank: remove).")
@click.option("--description", help="Its description in that language (blank: remove).")
@with_appcontext
def translate(code: str, locale: str, name: str | None, description: str | None) -> None:
    """Give the product CODE its name and description in LOCALE (e.g. en); French stays the
    products' own language, shown wherever a translation is missing."""
    from partners.catalogue import translate_product
    from partners.services import other_locales

    if name is None and description is None:
        raise click.UsageError("give --name, --description or both")
    try:
        product = translate_product(code, locale, locales=other_locales(), actor=ACTOR,
                                    name=name, description=description)
    except PartnerError as exc:
        _refused(exc)
        return
    _commit(f"{product.code} ({locale}): {(product.translations or {}).get(locale, {})}")


def init_app(app: Flask) -> None:
    app.cli.add_command(partners_group)
    app.cli.add_command(products_group)


@products_group.command("picture")
@click.argument("code")
@click.argument("file", type=click.File("rb"), required=False)
@click.option("--alt", help="What the picture shows, in French (required with a file).")
@click.option("--alt-en", help="What the picture shows, in English.")
@click.option("--remove", is_flag=True, help="Take the product's picture off.")
@with_appcontext
def product_picture(code: str, file: Any, alt: str | None, alt_en: str | None,
                    remove: bool) -> None:
    """Give product CODE the picture in FILE (PNG, JPEG or WebP), described for those who
    cannot see it; or take it off with --remove. Every shop selling it shows it at once."""
    from partners.catalogue import find_product
    from partners.pictures import remove_picture, store_picture

    if remove == (file is not None):
        raise click.UsageError("give a FILE, or --remove")
    try:
        found = find_product(code)
        if remove:
            _commit(f"{found.code}: picture removed" if remove_picture(found, actor=ACTOR)
                    else f"{found.code} has no picture")
            return
        store_picture(found, file.read(), alt or "", alt_en=alt_en, actor=ACTOR)
    except PartnerError as exc:
        _refused(exc)
        return
    _commit(f"{found.code}: picture saved ({found.picture_width} × {found.picture_height} "
            f"pixels, digest {found.picture_digest})")
