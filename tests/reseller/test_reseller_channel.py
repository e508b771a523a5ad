"""The portal of direct and indirect resellers: a distributor's network, language, benefit."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from commerce.models import CapturedMail, utcnow
from commerce.orders import ADDON_BACKUP
from commissions.benefits import set_benefit
from commissions.channel import set_distributor_share, set_programme_role
from commissions.models import ResellerChange
from reseller.digest import send_digests


def _row(html: str, code: str) -> dict[str, str]:
    match = re.search(rf'<tr data-reseller="{code}">(.*?)</tr>', html, re.S)
    assert match, f"no row {code}"
    cells = dict(re.findall(r'data-figure="([a-z-]+)">([^<]*)<', match.group(1)))
    return {k: v.replace("\u202f", " ").replace("\xa0", " ") for k, v in cells.items()}


def test_a_distributor_sees_its_indirect_resellers_sales_and_shares(client, world, sell, deliver,
                                                                      sign_in, db):
    set_programme_role(world.a, "distributor", None, "test")
    set_programme_role(world.b, "indirect", "RP-AAAA", "test")
    set_distributor_share(world.n, Decimal("0.25"), "test")
    # Visio 579.00 TTC: 482.50 net × 10% = 48.25; distributor 25% = 12.0625 -> 12.06; B 36.19
    order = sell(world.n, [("VISIO-STD-2024", 1)], "zoe@example.com", "Zoé Blanc",
                 code="RP-BBBB", paid_at=utcnow() - timedelta(days=3))
    deliver(order, utcnow() - timedelta(days=3))

    sign_in("reseau-n", "a@dupont.example")
    page = client.get("/p/reseau-n/reseller/network")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Indirect resellers" in html and "25%" in html
    assert _row(html, "RP-BBBB") == {"sales": "1", "net-sales": "€482.50",  # no choice: English
                                     "their-share": "€36.19", "your-share": "€12.06"}
    assert _row(html, "total")["your-share"] == "€12.06"
    assert order.number in html


def test_the_network_page_is_for_distributors_only(client, world, sign_in):
    sign_in("reseau-n", "b@marais.example")
    assert client.get("/p/reseau-n/reseller/network").status_code == 404
    html = client.get("/p/reseau-n/reseller/").get_data(as_text=True)
    assert "Indirect resellers" not in html


def test_the_portal_speaks_the_resellers_language(client, world, sign_in, db, form_token):
    world.a.locale = "en"
    db.session.commit()
    sign_in("reseau-n", "a@dupont.example")
    assert "<h1>Dashboard</h1>" in client.get("/p/reseau-n/reseller/").get_data(as_text=True)
    token = form_token("/p/reseau-n/reseller/settings")

    refused = client.post("/p/reseau-n/reseller/settings",
                          data={"csrf_token": token, "locale": "de"})
    assert refused.status_code == 400
    db.session.refresh(world.a)
    assert world.a.locale == "en"

    saved = client.post("/p/reseau-n/reseller/settings",
                        data={"csrf_token": token, "locale": "fr"})
    assert saved.status_code == 302
    db.session.refresh(world.a)
    assert world.a.locale == "fr"
    # The session says English (the tests' default); the reseller chose French: French wins.
    html = client.get("/p/reseau-n/reseller/?lang=en").get_data(as_text=True)
    assert "<h1>Tableau de bord</h1>" in html and 'lang="fr"' in html
    [change] = db.session.scalars(select(ResellerChange).where(
        ResellerChange.reseller_id == world.a.id)).all()
    assert (change.actor, change.changes) == ("reseller:RP-AAAA", {"locale": ["en", "fr"]})


def test_the_digest_is_written_in_the_resellers_language(world, sell, deliver, db, runner):
    now = utcnow()
    for code, email in (("RP-AAAA", "ines@example.com"), ("RP-BBBB", "marc@example.com")):
        order = sell(world.n, [("M365-BUSINESS-STD-1Y", 1, (ADDON_BACKUP,))], email, "Client",
                     code=code, paid_at=now - timedelta(days=355))
        deliver(order, now - timedelta(days=355))
    assert runner.invoke(args=["resellers", "set-language", "RP-BBBB", "en"]).exit_code == 0

    send_digests(now)

    mails = {m.to: m for m in db.session.scalars(select(CapturedMail))}
    assert mails["a@dupont.example"].text_body.startswith("Bonjour Dupont Informatique,")
    assert mails["b@marais.example"].text_body.startswith("Hello Atelier du Marais,")


def test_the_dashboard_says_where_the_reseller_stands_with_the_benefit(client, world, sell,
                                                                        sign_in, db):
    set_benefit(world.n, "Microsoft 365 Business Standard, 5 users", 63_000,
                utcnow() - timedelta(days=1), "test")
    newcomer = world.a
    newcomer.created_at = utcnow() - timedelta(hours=2)
    db.session.commit()
    from commissions.benefits import run_benefits

    run_benefits()
    sell(world.n, [("OFFICE-HOME-2024-WIN", 1)], "ines@example.com", code="RP-AAAA",
         paid_at=utcnow() - timedelta(hours=1))

    sign_in("reseau-n", "a@dupont.example")
    html = client.get("/p/reseau-n/reseller/").get_data(as_text=True)

    assert "Microsoft 365 Business Standard, 5 users" in html
    assert "1 sale counted since" in html
    assert "One more sale before" in html and "€315.00" in html


def test_the_operator_sets_a_resellers_role_distributor_and_language(client, world,
                                                                     sign_in_operator, db,
                                                                     form_token):
    sign_in_operator(client)
    set_programme_role(world.a, "distributor", None, "test")
    html = client.get("/admin/partners/reseau-n/resellers").get_data(as_text=True)
    assert "RP-BBBB" in html and "Atelier du Marais" in html
    token = form_token("/admin/partners/reseau-n/resellers")

    refused = client.post("/admin/partners/reseau-n/resellers/RP-BBBB", data={
        "csrf_token": token, "programme_role": "indirect", "distributor": "RP-CCCC",
        "locale": "en", "reason": ""})
    assert refused.status_code == 302
    db.session.refresh(world.b)
    assert (world.b.programme_role, world.b.locale) == ("direct", None)  # nothing changed
    assert "no reseller &#39;RP-CCCC&#39; in this network" in client.get(
        refused.location).get_data(as_text=True)

    saved = client.post("/admin/partners/reseau-n/resellers/RP-BBBB", data={
        "csrf_token": token, "programme_role": "indirect", "distributor": "RP-AAAA",
        "locale": "en", "reason": "signed with Dupont"})
    assert saved.status_code == 302
    db.session.refresh(world.b)
    assert (world.b.programme_role, world.b.distributor_id, world.b.locale) == (
        "indirect", world.a.id, "en")
    changes = db.session.scalars(select(ResellerChange).where(
        ResellerChange.reseller_id == world.b.id).order_by(ResellerChange.action)).all()
    assert [(c.action, c.actor, c.reason) for c in changes] == [
        ("language", "operator:op@comptoir.example", ""),
        ("programme_role", "operator:op@comptoir.example", "signed with Dupont")]
    assert "signed with Dupont" in client.get(
        "/admin/partners/reseau-n/resellers").get_data(as_text=True)
    assert client.post("/admin/partners/reseau-n/resellers/RP-CCCC", data={
        "csrf_token": token, "programme_role": "direct", "locale": "fr"}).status_code == 404
