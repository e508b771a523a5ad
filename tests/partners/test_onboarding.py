"""Bringing a partner on board without code: commands, the back office, checks, audit, prices."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from support.partners import LEGAL_IDENTITY

from commerce.models import Partner, PartnerDomain, PartnerStatus
from extensions import db as _db
from extensions import utcnow
from partners import services
from partners.models import PartnerChange, ScheduledPrice
from partners.validation import PartnerError, normalise_host, normalise_origin, parse_price

LEGAL_SETS = [f"--set={k}={v}" for k, v in LEGAL_IDENTITY.items()]


def _count(model) -> int:  # type: ignore[no-untyped-def]
    return _db.session.scalar(select(func.count()).select_from(model)) or 0


def _partner(slug: str) -> Partner:
    _db.session.expire_all()
    found = _db.session.scalar(select(Partner).where(Partner.slug == slug))
    assert found is not None
    return found


@pytest.fixture
def office(make_product):  # type: ignore[no-untyped-def]
    return make_product(code="OFFICE-HOME-2024-WIN", name="Office Famille 2024",
                        skus={"nexway": "NX-OFF", "arvato": "AR-OFF"})


def test_a_partner_created_by_command_opens_only_with_its_legal_identity_and_a_product(
        db, runner, client, office):
    created = runner.invoke(args=["partners", "create", "boutique-nord", "--name",
                                  "Boutique Nord", "--kind", "telecom", "--wholesaler", "arvato",
                                  "--domain", "https://Boutique-Nord.EXAMPLE.fr/"])
    assert created.exit_code == 0, created.output
    assert "draft" in created.output and "legal_name" in created.output
    partner = _partner("boutique-nord")
    assert partner.status == PartnerStatus.DRAFT
    assert [d.host for d in partner.domains] == ["boutique-nord.example.fr"]
    assert client.get("/p/boutique-nord/").status_code == 404

    refused = runner.invoke(args=["partners", "open", "boutique-nord"])
    assert refused.exit_code == 1
    for field in ("legal_name", "siren", "vat_number", "mediator_url", "support_email", "offers"):
        assert f"{field}:" in refused.output
    assert _partner("boutique-nord").status == PartnerStatus.DRAFT

    assert runner.invoke(args=["partners", "update", "boutique-nord", *LEGAL_SETS,
                               "--set", "support_email=aide@boutique-nord.example"]
                         ).exit_code == 0
    priced = runner.invoke(args=["partners", "price", "boutique-nord", "OFFICE-HOME-2024-WIN",
                                 "139,90"])
    assert priced.exit_code == 0, priced.output
    opened = runner.invoke(args=["partners", "open", "boutique-nord"])
    assert opened.exit_code == 0, opened.output

    page = client.get("/", headers={"Host": "boutique-nord.example.fr"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Boutique Nord" in text and "139,90" in text
    legal = client.get("/p/boutique-nord/legal").get_data(as_text=True)
    assert LEGAL_IDENTITY["siren"] in legal and LEGAL_IDENTITY["vat_number"] in legal
    assert LEGAL_IDENTITY["mediator_url"] in legal

    assert runner.invoke(args=["partners", "suspend", "boutique-nord"]).exit_code != 0  # reason
    assert runner.invoke(args=["partners", "suspend", "boutique-nord",
                               "--reason", "unpaid invoices"]).exit_code == 0
    assert client.get("/p/boutique-nord/").status_code == 404
    assert runner.invoke(args=["partners", "reopen", "boutique-nord"]).exit_code == 0
    assert client.get("/p/boutique-nord/").status_code == 200

    actions = [c.action for c in services.history(_partner("boutique-nord"))]
    assert actions == ["reopened", "suspended", "opened", "price", "updated", "created"]
    suspended = next(c for c in services.history(_partner("boutique-nord"))
                     if c.action == "suspended")
    assert suspended.actor == "cli" and suspended.reason == "unpaid invoices"
    assert suspended.changes == {"status": ["open", "suspended"]}


def test_every_bad_field_is_named_and_nothing_is_stored(db, runner):
    before = (_count(Partner), _count(PartnerChange))
    result = runner.invoke(args=[
        "partners", "create", "Bad Slug!", "--kind", "shop", "--wholesaler", "amazon",
        "--domain", "not a domain", "--set", "siren=123456789", "--set", "vat_number=FR00123",
        "--set", "primary_color=red", "--set", "support_email=nobody",
        "--set", "mediator_url=http://mediator.example"])
    assert result.exit_code == 1
    for field in ("slug", "name", "kind", "wholesaler_code", "domains", "siren", "vat_number",
                  "primary_color", "support_email", "mediator_url"):
        assert f"{field}:" in result.output, field
    assert (_count(Partner), _count(PartnerChange)) == before


def test_updates_are_checked_audited_before_and_after_and_seen_at_once(
        db, runner, client, make_partner, office):
    partner = make_partner(slug="rive", name="Rive Gauche", products=[office])
    assert "Rive Gauche" in client.get("/p/rive/").get_data(as_text=True)

    bad = runner.invoke(args=["partners", "update", "rive", "--set", "siren=732829321",
                              "--set", "name=Rive Droite"])
    assert bad.exit_code == 1 and "siren:" in bad.output
    assert _partner("rive").name == "Rive Gauche"  # nothing stored, not even the good field

    emptied = runner.invoke(args=["partners", "update", "rive", "--set", "legal_name="])
    assert emptied.exit_code == 1 and "required while the shop is open" in emptied.output

    unknown = runner.invoke(args=["partners", "update", "rive", "--set", "is_admin=yes"])
    assert unknown.exit_code == 1 and "is_admin: is not a partner field" in unknown.output

    good = runner.invoke(args=["partners", "update", "rive", "--set", "name=Rive Droite",
                               "--set", "allow_failover=yes",
                               "--set", "merchant_of_record=partner"])
    assert good.exit_code == 0, good.output
    assert "Rive Droite" in client.get("/p/rive/").get_data(as_text=True)
    change = services.history(_partner("rive"))[0]
    assert change.actor == "cli" and change.action == "updated"
    assert change.changes == {"name": ["Rive Gauche", "Rive Droite"],
                              "allow_failover": [False, True],
                              "merchant_of_record": ["platform", "partner"]}
    assert partner.slug == "rive"


def test_domains_are_normalised_unique_and_never_the_platforms(db, app, make_partner):
    assert normalise_host("https://Shop.EXAMPLE.fr:8443/path") == "shop.example.fr"
    assert normalise_host("boutique.café.fr.") == "boutique.xn--caf-dma.fr"
    for bad in ("localhost", "-bad.example", "shop..example", "1.2.3.4", "a" * 64 + ".fr"):
        with pytest.raises(PartnerError):
            normalise_host(bad)
    make_partner(slug="first", domains=["shop.first.example"])
    second = make_partner(slug="second", domains=["shop.second.example"])
    with app.test_request_context():
        with pytest.raises(PartnerError) as taken:
            services.set_domains(second, ["SHOP.first.example"], actor="test")
        assert "already serves the partner first" in taken.value.english()["domains"]
        _db.session.rollback()
        app.config["PLATFORM_HOSTS"] = "localhost,admin.comptoir.example"
        with pytest.raises(PartnerError) as platform:
            services.set_domains(second, ["Admin.Comptoir.example"], actor="test")
        _db.session.rollback()
        services.set_domains(second, ["www.second.example", "Shop.Second.example"],
                             actor="test", primary="shop.second.example")
        _db.session.commit()
    assert "one of the platform's own hosts" in platform.value.english()["domains"]
    hosts = _db.session.scalars(select(PartnerDomain.host).where(
        PartnerDomain.partner_id == second.id).order_by(PartnerDomain.host)).all()
    assert hosts == ["shop.second.example", "www.second.example"]
    assert _partner("second").primary_host == "shop.second.example"
    assert [d.host for d in _partner("first").domains] == ["shop.first.example"]


def test_embed_origins_are_origins_and_https(db, runner, make_partner):
    make_partner(slug="frame")
    assert normalise_origin("https://WWW.Example.fr:443/") == "https://www.example.fr"
    assert normalise_origin("http://localhost:8000") == "http://localhost:8000"
    refused = runner.invoke(args=["partners", "embed", "frame", "http://www.example.fr"])
    assert refused.exit_code == 1 and "only https://" in refused.output
    refused = runner.invoke(args=["partners", "embed", "frame", "https://example.fr/shop"])
    assert refused.exit_code == 1 and "embed_origins:" in refused.output
    done = runner.invoke(args=["partners", "embed", "frame", "https://www.example.fr",
                               "https://shop.example.com"])
    assert done.exit_code == 0, done.output
    assert _partner("frame").embed_origin_list == ["https://www.example.fr",
                                                   "https://shop.example.com"]
    assert runner.invoke(args=["partners", "embed", "frame", "--clear"]).exit_code == 0
    assert _partner("frame").embed_origin_list == []


def test_prices_parse_in_euros_and_refuse_nonsense():
    assert parse_price("149,90") == 14990 and parse_price("149") == 14900
    assert parse_price("0.5") == 50 and parse_price(12900) == 12900
    for bad in ("", "-1", "0", "abc", "12.345", "99999999"):
        with pytest.raises(PartnerError):
            parse_price(bad)


def test_a_scheduled_price_applies_when_due_once_and_the_shop_shows_it(
        db, app, runner, client, make_partner, office):
    partner = make_partner(slug="promo", products=[office], prices={office.code: 14900})
    past = runner.invoke(args=["partners", "price", "promo", office.code, "99",
                               "--at", "2020-01-01T00:00"])
    assert past.exit_code == 1 and "starts_at: must be in the future" in past.output
    starts = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    scheduled = runner.invoke(args=["partners", "price", "promo", office.code, "119.90",
                                    "--at", starts.isoformat()])
    assert scheduled.exit_code == 0, scheduled.output
    assert _partner("promo").next_price_at == starts
    assert "149,00" in client.get("/p/promo/").get_data(as_text=True)

    with app.app_context():
        assert services.apply_due_prices(starts - timedelta(seconds=1)) == 0
        assert services.apply_due_prices(starts + timedelta(seconds=1)) == 1
        assert services.apply_due_prices(starts + timedelta(seconds=2)) == 0
        _db.session.commit()
    found = _partner("promo")
    assert found.offers[0].price_cents == 11990 and found.next_price_at is None
    assert "119,90" in client.get("/p/promo/").get_data(as_text=True)
    applied = services.history(found)[0]
    assert applied.action == "price_applied"
    assert applied.changes == {f"offers.{office.code}.price_cents": [14900, 11990]}
    assert partner.id == found.id


def test_a_due_price_applies_at_the_next_page_without_the_job(db, client, make_partner, office):
    partner = make_partner(slug="soon", products=[office], prices={office.code: 14900})
    offer = partner.offers[0]
    _db.session.add(ScheduledPrice(offer=offer, price_cents=9900, actor="test",
                                   starts_at=utcnow() - timedelta(seconds=1)))
    partner.next_price_at = utcnow() - timedelta(seconds=1)
    _db.session.commit()
    assert "99,00" in client.get("/p/soon/").get_data(as_text=True)
    assert _partner("soon").next_price_at is None


def test_two_processes_applying_the_same_due_price_apply_it_once(
        db, app, make_partner, office, is_postgres):
    partner = make_partner(slug="race", products=[office], prices={office.code: 14900})
    offer = partner.offers[0]
    for minutes in (1, 2, 3):
        _db.session.add(ScheduledPrice(offer=offer, price_cents=10000 + minutes, actor="test",
                                       starts_at=utcnow() - timedelta(minutes=10 - minutes)))
    _db.session.commit()
    counts: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def apply() -> None:
        with app.app_context():
            try:
                barrier.wait(5)
                counts.append(services.apply_due_prices())
                _db.session.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                _db.session.rollback()
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=apply) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    if not is_postgres:  # SQLite serialises writers: the loser may be told the base is locked
        errors = [e for e in errors if "locked" not in str(e)]
    assert not errors, errors
    assert sum(counts) == 3
    applied = _db.session.scalar(select(func.count()).select_from(PartnerChange).where(
        PartnerChange.partner_id == partner.id, PartnerChange.action == "price_applied"))
    assert applied == 3
    assert _partner("race").offers[0].price_cents == 10003


def test_illegal_status_changes_are_refused(db, app, make_partner, office):
    partner = make_partner(slug="steady", products=[office])
    with app.test_request_context():
        with pytest.raises(PartnerError) as again:
            services.change_status(partner, PartnerStatus.OPEN, actor="test")
        assert "the shop is open: it cannot become open" in again.value.english()["status"]
        services.change_status(partner, PartnerStatus.SUSPENDED, actor="test", reason="audit")
        with pytest.raises(PartnerError):
            services.change_status(partner, PartnerStatus.DRAFT, actor="test")
        _db.session.commit()
    assert _partner("steady").status == PartnerStatus.SUSPENDED


def test_show_prints_the_partner_as_json(db, runner, make_partner, office):
    make_partner(slug="shown", products=[office], embed_origins="https://a.example")
    shown = json.loads(runner.invoke(args=["partners", "show", "shown"]).output)
    assert shown["slug"] == "shown" and shown["status"] == "open"
    assert shown["offers"][0]["product"] == office.code
    assert shown["embed_origins"] == ["https://a.example"]
    assert shown["missing_for_opening"] == []
    listed = runner.invoke(args=["partners", "list"]).output
    assert "shown" in listed and "open" in listed


# --- the back office --------------------------------------------------------------------------


@pytest.fixture
def post(client, form_token):  # type: ignore[no-untyped-def]
    """Post a back-office form with the CSRF token of the page that shows it."""

    def send(url: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
        section = re.match(r"(/admin/partners/[^/]+)/", url)
        page = section.group(1) if section and not url.endswith("/new") else url
        return client.post(url, data={"csrf_token": form_token(page), **data})

    return send


def test_an_operator_brings_a_partner_on_board_in_the_back_office(
        db, client, post, sign_in_operator, office):
    sign_in_operator(client)
    refused = post("/admin/partners/new", {"slug": "admin", "name": "",
                                                    "kind": "retail", "wholesaler_code": "nexway",
                                                    "merchant_of_record": "platform"})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "reserved by the platform" in page and "name</a>: is required" in page
    assert _count(Partner) == 0

    created = post("/admin/partners/new", {
        "slug": "ouest", "name": "Ouest Informatique", "kind": "channel",
        "wholesaler_code": "nexway", "merchant_of_record": "partner",
        "support_email": "aide@ouest.example", "domains": "boutique.ouest.example"})
    assert created.status_code == 302, created.get_data(as_text=True)
    assert created.location.endswith("/admin/partners/ouest")

    legal = post("/admin/partners/ouest/legal", {**LEGAL_IDENTITY,
                                                          "siren": "111111111"})
    assert legal.status_code == 400 and "valid SIREN" in legal.get_data(as_text=True)
    assert _partner("ouest").legal_name == ""
    assert post("/admin/partners/ouest/legal", LEGAL_IDENTITY).status_code == 302
    offered = post("/admin/partners/ouest/offers", {
        "product": office.code, "price": "129.00", "starts_at": "", "availability": ""})
    assert offered.status_code == 302
    opened = post("/admin/partners/ouest/status", {"action": "open"})
    assert opened.status_code == 302
    assert _partner("ouest").status == PartnerStatus.OPEN
    assert client.get("/p/ouest/").status_code == 200

    page = client.get("/admin/partners/ouest").get_data(as_text=True)
    assert "operator:op@comptoir.example" in page and "opened" in page
    assert "offers.OFFICE-HOME-2024-WIN" in page
    suspended = post("/admin/partners/ouest/status", {"action": "suspend", "reason": ""})
    assert suspended.status_code == 400
    assert "say why" in suspended.get_data(as_text=True)
    assert _partner("ouest").status == PartnerStatus.OPEN
    listing = client.get("/admin/partners").get_data(as_text=True)
    assert "Ouest Informatique" in listing and "Channel partner" in listing

    embedded = post("/admin/partners/ouest/embed",
                    {"embed_origins": "https://www.ouest.example\nhttp://evil.example"})
    assert embedded.status_code == 400 and "only https://" in embedded.get_data(as_text=True)
    assert post("/admin/partners/ouest/embed",
                {"embed_origins": "https://www.ouest.example"}).status_code == 302
    page = client.get("/admin/partners/ouest").get_data(as_text=True)
    assert 'data-partner="ouest" data-product="OFFICE-HOME-2024-WIN"' in page.replace("&#34;", '"')
    assert "http://boutique.ouest.example" in page and "/static/js/embed.js" in page


def test_the_partner_pages_need_an_operator(db, client, form_token, make_partner):
    make_partner(slug="closed")
    for url in ("/admin/partners", "/admin/partners/new", "/admin/partners/closed"):
        response = client.get(url)
        assert response.status_code in (302, 401, 403), url
        assert "/admin/login" in response.headers.get("Location", "/admin/login")
    token = form_token("/admin/login")
    response = client.post("/admin/partners/closed/status",
                           data={"csrf_token": token, "action": "suspend", "reason": "x"})
    assert response.status_code in (302, 401, 403)
    assert _partner("closed").status == PartnerStatus.OPEN


def test_an_operator_adds_rotates_and_disables_a_webhook_endpoint(
        db, client, post, sign_in_operator, make_partner):
    from webhooks.models import WebhookEndpoint

    make_partner(slug="hooked")
    sign_in_operator(client)
    refused = post("/admin/partners/hooked/webhooks", {"url": "http://hooks.example/in"})
    assert refused.status_code == 400 and "https://" in refused.get_data(as_text=True)
    assert _count(WebhookEndpoint) == 0
    added = client.post("/admin/partners/hooked/webhooks", data={
        "csrf_token": _token(client, "/admin/partners/hooked"),
        "url": "https://hooks.example/in", "events": ["order.paid", "order.refunded"]})
    assert added.status_code == 302
    page = client.get("/admin/partners/hooked").get_data(as_text=True)
    assert "whsec_" in page  # the secret, in the flash message, this once
    assert "whsec_" not in client.get("/admin/partners/hooked").get_data(as_text=True)
    endpoint = _db.session.scalar(select(WebhookEndpoint))
    assert endpoint.events == ["order.paid", "order.refunded"]
    before = endpoint.secret_sealed
    assert post(f"/admin/partners/hooked/webhooks/{endpoint.id}",
                {"action": "rotate"}).status_code == 302
    assert post(f"/admin/partners/hooked/webhooks/{endpoint.id}",
                {"action": "disable"}).status_code == 302
    _db.session.expire_all()
    endpoint = _db.session.get(WebhookEndpoint, endpoint.id)
    assert endpoint.secret_sealed != before and endpoint.previous_secret_sealed == before
    assert endpoint.active is False
    other = make_partner(slug="other-hooked")
    assert post(f"/admin/partners/{other.slug}/webhooks/{endpoint.id}",
                {"action": "enable"}).status_code == 404  # not that partner's endpoint


def _token(client, url: str) -> str:  # type: ignore[no-untyped-def]
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_refusals_speak_the_pages_language_and_commands_speak_english(
        db, client, post, runner, sign_in_operator, make_partner):
    make_partner(slug="bilingue")
    sign_in_operator(client)
    client.get("/admin/partners?lang=fr")  # the operator switches the back office to French
    legal = post("/admin/partners/bilingue/legal", {**LEGAL_IDENTITY, "siren": "111111111"})
    assert legal.status_code == 400
    assert "doit être les 9 chiffres d&#39;un SIREN valide" in legal.get_data(as_text=True)
    hook = post("/admin/partners/bilingue/webhooks", {"url": "ftp://hooks.example/in"})
    assert hook.status_code == 400
    assert "doit être une adresse https://" in hook.get_data(as_text=True)
    hostile = post("/admin/partners/bilingue/domains", {"domains": "<img/src=x>.example"})
    assert hostile.status_code == 400  # what was typed is quoted in the message, escaped
    assert "« &lt;img/src=x&gt;.example » n&#39;est pas un nom de domaine" in hostile.get_data(
        as_text=True)
    assert "<img/src=x>" not in hostile.get_data(as_text=True)
    client.get("/admin/partners?lang=en")
    again = post("/admin/partners/bilingue/legal", {**LEGAL_IDENTITY, "siren": "111111111"})
    assert "must be the 9 digits of a valid SIREN" in again.get_data(as_text=True)

    result = runner.invoke(args=["partners", "update", "bilingue", "--set", "siren=111111111"])
    assert result.exit_code == 1
    assert "siren: must be the 9 digits of a valid SIREN" in result.output
    assert _partner("bilingue").siren != "111111111"
