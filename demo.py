"""Demo data: partners of every kind with their own brands, a realistic catalogue, demo logins."""

from __future__ import annotations

import io
import unicodedata
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from commerce.models import (
    Partner,
    PartnerDomain,
    PartnerProduct,
    PartnerStatus,
    Product,
    ProductSku,
    Role,
    User,
)
from commerce.orders import ADDON_BACKUP, ADDON_INSTALL
from commerce.passwords import check_password, hash_password
from extensions import db, utcnow
from partners.validation import french_vat_key, luhn_ok

VAT = Decimal("20.00")

# code, family, name, edition, platform, seats, unit, type, term, price (cents TTC), sku, text
PRODUCTS: list[tuple[Any, ...]] = [
    (
        "OFFICE-HOME-2024-WIN",
        "office",
        "Office Famille 2024",
        "Home 2024",
        "windows",
        1,
        "device",
        "perpetual",
        None,
        14900,
        "OFF-HOME-24-W",
        "Word, Excel, PowerPoint et OneNote pour un PC, en licence définitive.",
    ),
    (
        "OFFICE-HOME-2024-MAC",
        "office",
        "Office Famille 2024 pour Mac",
        "Home 2024",
        "mac",
        1,
        "device",
        "perpetual",
        None,
        14900,
        "OFF-HOME-24-M",
        "Word, Excel, PowerPoint et OneNote pour un Mac, en licence définitive.",
    ),
    (
        "OFFICE-HB-2024-WIN",
        "office",
        "Office Famille et Petite Entreprise 2024",
        "Home & Business 2024",
        "windows",
        1,
        "device",
        "perpetual",
        None,
        29900,
        "OFF-HB-24-W",
        "Les applications Office et Outlook pour un PC, utilisables à des fins professionnelles.",
    ),
    (
        "OFFICE-HB-2024-MAC",
        "office",
        "Office Famille et Petite Entreprise 2024 pour Mac",
        "Home & Business 2024",
        "mac",
        1,
        "device",
        "perpetual",
        None,
        29900,
        "OFF-HB-24-M",
        "Les applications Office et Outlook pour un Mac, utilisables à des fins professionnelles.",
    ),
    (
        "M365-PERSONAL-1Y",
        "microsoft365",
        "Microsoft 365 Personnel",
        "Personal",
        "multi",
        1,
        "user",
        "subscription",
        12,
        9900,
        "M365-PERS-12",
        "Abonnement d'un an pour une personne : applications Office, 1 To de stockage OneDrive.",
    ),
    (
        "M365-FAMILY-1Y",
        "microsoft365",
        "Microsoft 365 Famille",
        "Family",
        "multi",
        6,
        "user",
        "subscription",
        12,
        12900,
        "M365-FAM-12",
        "Abonnement d'un an partagé jusqu'à six personnes, 1 To de stockage chacune.",
    ),
    (
        "M365-BASIC-1Y",
        "microsoft365",
        "Microsoft 365 Basic",
        "Basic",
        "multi",
        1,
        "user",
        "subscription",
        12,
        2400,
        "M365-BASIC-12",
        "Abonnement d'un an : 100 Go de stockage OneDrive et Outlook sans publicité.",
    ),
    (
        "M365-BUSINESS-STD-1Y",
        "microsoft365",
        "Microsoft 365 Business Standard",
        "Business Standard",
        "multi",
        1,
        "user",
        "subscription",
        12,
        18000,
        "M365-BSTD-12",
        "Abonnement d'un an par utilisateur : applications Office, Teams, messagerie "
        "professionnelle.",
    ),
    (
        "M365-BUSINESS-STD-1M",
        "microsoft365",
        "Microsoft 365 Business Standard (mensuel)",
        "Business Standard",
        "multi",
        1,
        "user",
        "subscription",
        1,
        1800,
        "M365-BSTD-1M",
        "Abonnement mensuel par utilisateur, sans engagement au-delà du mois : applications "
        "Office, Teams, messagerie professionnelle.",
    ),
    (
        "M365-BUSINESS-BASIC-1Y",
        "microsoft365",
        "Microsoft 365 Business Basic",
        "Business Basic",
        "multi",
        1,
        "user",
        "subscription",
        12,
        7200,
        "M365-BBAS-12",
        "Abonnement d'un an par utilisateur : Office sur le web, Teams, messagerie "
        "professionnelle, 1 To de stockage.",
    ),
    (
        "M365-BUSINESS-BASIC-1M",
        "microsoft365",
        "Microsoft 365 Business Basic (mensuel)",
        "Business Basic",
        "multi",
        1,
        "user",
        "subscription",
        1,
        720,
        "M365-BBAS-1M",
        "Abonnement mensuel par utilisateur : Office sur le web, Teams, messagerie "
        "professionnelle, 1 To de stockage.",
    ),
    (
        "VISIO-PLAN2-1Y",
        "visio",
        "Visio Plan 2",
        "Plan 2",
        "multi",
        1,
        "user",
        "subscription",
        12,
        18000,
        "VISIO-P2-12",
        "Abonnement d'un an par utilisateur : Visio de bureau et sur le web, à ajouter à "
        "Microsoft 365.",
    ),
    (
        "WIN11-HOME",
        "windows",
        "Windows 11 Famille",
        "Home",
        "windows",
        1,
        "device",
        "perpetual",
        None,
        14500,
        "WIN11-HOME",
        "Le système d'exploitation Windows 11 pour un PC, en téléchargement.",
    ),
    (
        "WIN11-PRO",
        "windows",
        "Windows 11 Professionnel",
        "Pro",
        "windows",
        1,
        "device",
        "perpetual",
        None,
        25900,
        "WIN11-PRO",
        "Windows 11 avec BitLocker, Bureau à distance et gestion professionnelle.",
    ),
    (
        "VISIO-STD-2024",
        "visio",
        "Visio Standard 2024",
        "Standard 2024",
        "windows",
        1,
        "device",
        "perpetual",
        None,
        57900,
        "VISIO-STD-24",
        "Diagrammes, organigrammes et schémas pour un PC.",
    ),
    (
        "VISIO-PRO-2024",
        "visio",
        "Visio Professionnel 2024",
        "Professional 2024",
        "windows",
        1,
        "device",
        "perpetual",
        None,
        107900,
        "VISIO-PRO-24",
        "Visio avec la collaboration et les modèles avancés.",
    ),
    (
        "PROJECT-STD-2024",
        "project",
        "Project Standard 2024",
        "Standard 2024",
        "windows",
        1,
        "device",
        "perpetual",
        None,
        112900,
        "PROJ-STD-24",
        "Planification et suivi de projets pour un PC.",
    ),
    (
        "PROJECT-PRO-2024",
        "project",
        "Project Professionnel 2024",
        "Professional 2024",
        "windows",
        1,
        "device",
        "perpetual",
        None,
        189900,
        "PROJ-PRO-24",
        "Project avec la gestion des ressources et la collaboration.",
    ),
    (
        "SQL-2022-STD-CORE2",
        "server",
        "SQL Server 2022 Standard, licence 2 cœurs",
        "Standard 2022 (per core)",
        "windows",
        1,
        "device",
        "perpetual",
        None,
        468000,
        "SQL22-STD-2C",
        "Licence par cœur de SQL Server 2022 Standard, pour 2 cœurs : serveur sans CAL, "
        "accès illimité.",
    ),
    (
        "SQL-2022-STD-SERVER",
        "server",
        "SQL Server 2022 Standard, licence serveur",
        "Standard 2022 (Server + CAL)",
        "windows",
        1,
        "device",
        "perpetual",
        None,
        126000,
        "SQL22-STD-SRV",
        "Licence serveur de SQL Server 2022 Standard ; chaque utilisateur ou appareil a "
        "besoin d'une CAL SQL Server.",
    ),
    (
        "SQL-2022-CAL-USER",
        "server",
        "CAL utilisateur SQL Server 2022",
        "CAL 2022 (user)",
        "windows",
        1,
        "user",
        "perpetual",
        None,
        30000,
        "SQL22-CAL-U",
        "Licence d'accès client : un utilisateur accède à vos serveurs SQL Server 2022 en "
        "licence serveur + CAL.",
    ),
    (
        "WINSRV-2025-STD",
        "server",
        "Windows Server 2025 Standard, 16 cœurs",
        "Standard 2025",
        "windows",
        1,
        "device",
        "perpetual",
        None,
        138000,
        "WS25-STD-16C",
        "Windows Server 2025 Standard pour un serveur de 16 cœurs, avec deux machines virtuelles.",
    ),
    (
        "WINSRV-2025-DC",
        "server",
        "Windows Server 2025 Datacenter, 16 cœurs",
        "Datacenter 2025",
        "windows",
        1,
        "device",
        "perpetual",
        None,
        792000,
        "WS25-DC-16C",
        "Windows Server 2025 Datacenter pour un serveur de 16 cœurs, machines virtuelles "
        "illimitées.",
    ),
    (
        "WINSRV-2025-CAL-USER",
        "server",
        "CAL utilisateur Windows Server 2025",
        "CAL 2025 (user)",
        "windows",
        1,
        "user",
        "perpetual",
        None,
        5400,
        "WS25-CAL-U",
        "Licence d'accès client : un utilisateur accède à vos serveurs Windows Server "
        "2025, depuis tout appareil.",
    ),
    (
        "WINSRV-2025-CAL-DEVICE",
        "server",
        "CAL appareil Windows Server 2025",
        "CAL 2025 (device)",
        "windows",
        1,
        "device",
        "perpetual",
        None,
        4800,
        "WS25-CAL-D",
        "Licence d'accès client : un appareil accède à vos serveurs Windows Server 2025, "
        "quel que soit l'utilisateur.",
    ),
]

ADDONS = [
    (
        ADDON_BACKUP,
        "Sauvegarde de la licence, 2 ans",
        990,
        "Nous conservons votre licence, votre clé et vos liens de téléchargement pendant deux ans.",
    ),
    (
        ADDON_INSTALL,
        "Aide à l'installation",
        2900,
        "Un technicien vous accompagne pour installer et activer votre logiciel.",
    ),
]

# slug, name, kind, wholesaler, brand, host, catalogue {code: price, None for the list price}
PARTNERS: list[dict[str, Any]] = [
    {
        "slug": "numeriland",
        "name": "Numériland",
        "kind": "retail",
        "wholesaler_code": "nexway",
        "primary_color": "#0b5394",
        "secondary_color": "#eef4fb",
        "accent_color": "#b45309",
        "font": "geometric",
        "tagline": "Les logiciels en téléchargement, livrés en quelques minutes",
        "host": "numeriland.localhost",
        "support_email": "aide@numeriland.example",
        "support_phone": "01 84 60 12 34",
        "allow_failover": True,
        "catalogue": {"*": None, "OFFICE-HOME-2024-WIN": 13990, "WIN11-HOME": 13900},
    },
    {
        "slug": "novatech",
        "name": "Novatech Store",
        "kind": "oem",
        "wholesaler_code": "arvato",
        "primary_color": "#1b1f24",
        "secondary_color": "#f2f5f3",
        "accent_color": "#00785a",
        "font": "humanist",
        "tagline": "Les logiciels de votre PC Novatech",
        "host": "store.novatech.localhost",
        "support_email": "support@novatech.example",
        "support_phone": "09 70 80 90 10",
        "catalogue": {
            "OFFICE-HOME-2024-WIN": 12900,
            "OFFICE-HB-2024-WIN": 27900,
            "WIN11-HOME": None,
            "WIN11-PRO": 23900,
            "M365-PERSONAL-1Y": None,
            "M365-FAMILY-1Y": 11900,
            ADDON_BACKUP: None,
            ADDON_INSTALL: 2400,
        },
    },
    {
        "slug": "telcomobile",
        "name": "Télco Mobile",
        "kind": "telecom",
        "wholesaler_code": "nexway",
        "primary_color": "#5b21b6",
        "secondary_color": "#f6f2fe",
        "accent_color": "#be185d",
        "font": "rounded",
        "theme": "vitrine",  # the demo theme (themes/vitrine): another layout
        "tagline": "Vos logiciels Microsoft, réglés sur votre facture",
        "host": "logiciels.telcomobile.localhost",
        "support_email": "logiciels@telcomobile.example",
        "support_phone": "3900",
        "catalogue": {
            "M365-BASIC-1Y": None,
            "M365-PERSONAL-1Y": 9500,
            "M365-FAMILY-1Y": 12500,
            "OFFICE-HOME-2024-WIN": None,
            "OFFICE-HOME-2024-MAC": None,
            ADDON_BACKUP: 0,
        },
        "backup_by_default": True,
    },
    {
        "slug": "reseaupro",
        "name": "Réseau Pro Informatique",
        "kind": "channel",
        "wholesaler_code": "arvato",
        "primary_color": "#14532d",
        "secondary_color": "#f0f7f2",
        "accent_color": "#9a3412",
        "font": "classic",
        "tagline": "Le réseau des informaticiens de proximité",
        "host": "boutique.reseaupro.localhost",
        "support_email": "contact@reseaupro.example",
        "support_phone": "04 72 00 11 22",
        "catalogue": {"*": None},
        "allow_failover": True,
    },
    {
        "slug": "comptoir",
        "name": "Comptoir",
        "kind": "direct",
        "wholesaler_code": "nexway",
        "primary_color": "#1f4e79",
        "secondary_color": "#f4f6f8",
        "accent_color": "#c2410c",
        "font": "system",
        "tagline": "La boutique officielle des logiciels Microsoft en téléchargement",
        "host": "boutique.comptoir.localhost",
        "support_email": "support@comptoir.example",
        "support_phone": "01 23 45 67 89",
        "catalogue": {"*": None},
    },
]

# Partners that run a network of resellers in the demo.
RESELLER_NETWORKS = ("reseaupro", "numeriland")

LOGINS = {
    "buyer": {
        "email": "acheteur@demo-comptoir.example",
        "password": "demo-acheteur-2026",
        "name": "Camille Martin",
    },
    "operator": {
        "email": "operateur@demo-comptoir.example",
        "password": "demo-operateur-2026",
        "name": "Équipe Comptoir",
    },
}


def load(history: bool = True) -> dict[str, int]:
    """Create or refresh the demo data, and its history once; running it twice changes nothing."""
    products = {code: _upsert_product(row) for row in PRODUCTS for code in [row[0]]}
    for code, name, price, description in ADDONS:
        products[code] = _upsert_addon(code, name, price, description)
    for spec in PARTNERS:
        _upsert_partner(spec, products)
    for role, login in LOGINS.items():
        _upsert_user(login, Role.OPERATOR if role == "operator" else Role.BUYER)
    db.session.commit()
    from commissions import seed_demo
    from licensing.keys import ensure_signing_key
    from partner_api.keys import demo_api_key

    ensure_signing_key(actor="demo")
    resellers = [r for slug in RESELLER_NETWORKS for r in seed_demo(slug)["resellers"]]
    for partner in db.session.scalars(select(Partner)):
        demo_api_key(partner)
    import demo_history

    history = demo_history.load(resellers[0]["code"]) if history else {"orders": 0}
    return {
        "products": len(products),
        "partners": len(PARTNERS),
        "logins": len(LOGINS),
        "resellers": len(resellers),
        "history_orders": history["orders"],
    }


# The catalogue's English texts (French is the products' own language).
ENGLISH: dict[str, tuple[str, str]] = {
    "OFFICE-HOME-2024-WIN": ("Office Home 2024", "Word, Excel, PowerPoint and OneNote for one "
                                                 "PC, a perpetual licence."),
    "OFFICE-HOME-2024-MAC": ("Office Home 2024 for Mac", "Word, Excel, PowerPoint and OneNote "
                                                         "for one Mac, a perpetual licence."),
    "OFFICE-HB-2024-WIN": ("Office Home & Business 2024",
                           "The Office apps and Outlook for one PC, for business use too."),
    "OFFICE-HB-2024-MAC": ("Office Home & Business 2024 for Mac",
                           "The Office apps and Outlook for one Mac, for business use too."),
    "M365-PERSONAL-1Y": ("Microsoft 365 Personal",
                         "A one-year subscription for one person: the Office apps, 1 TB of "
                         "OneDrive storage."),
    "M365-FAMILY-1Y": ("Microsoft 365 Family",
                       "A one-year subscription shared by up to six people, 1 TB of storage "
                       "each."),
    "M365-BASIC-1Y": ("Microsoft 365 Basic",
                      "A one-year subscription: 100 GB of OneDrive storage and ad-free Outlook."),
    "M365-BUSINESS-STD-1Y": ("Microsoft 365 Business Standard",
                             "A one-year subscription per user: the Office apps, Teams, business "
                             "e-mail."),
    "M365-BUSINESS-STD-1M": ("Microsoft 365 Business Standard (monthly)",
                             "A monthly subscription per user, committed one month at a time: "
                             "the Office apps, Teams, business e-mail."),
    "M365-BUSINESS-BASIC-1Y": ("Microsoft 365 Business Basic",
                               "A one-year subscription per user: Office on the web, Teams, "
                               "business e-mail, 1 TB of storage."),
    "M365-BUSINESS-BASIC-1M": ("Microsoft 365 Business Basic (monthly)",
                               "A monthly subscription per user: Office on the web, Teams, "
                               "business e-mail, 1 TB of storage."),
    "VISIO-PLAN2-1Y": ("Visio Plan 2", "A one-year subscription per user: Visio on the desktop "
                                       "and the web, added to Microsoft 365."),
    "WIN11-HOME": ("Windows 11 Home", "The Windows 11 operating system for one PC, to download."),
    "WIN11-PRO": ("Windows 11 Pro", "Windows 11 with BitLocker, Remote Desktop and business "
                                    "management."),
    "VISIO-STD-2024": ("Visio Standard 2024", "Diagrams, org charts and drawings for one PC."),
    "VISIO-PRO-2024": ("Visio Professional 2024", "Visio with collaboration and advanced "
                                                  "templates."),
    "PROJECT-STD-2024": ("Project Standard 2024", "Project planning and tracking for one PC."),
    "PROJECT-PRO-2024": ("Project Professional 2024", "Project with resource management and "
                                                      "collaboration."),
    "SQL-2022-STD-CORE2": ("SQL Server 2022 Standard, 2-core licence",
                           "A per-core licence of SQL Server 2022 Standard for 2 cores: no CALs "
                           "needed."),
    "SQL-2022-STD-SERVER": ("SQL Server 2022 Standard, server licence",
                            "The server licence of SQL Server 2022 Standard; each user or device "
                            "needs a SQL Server CAL."),
    "SQL-2022-CAL-USER": ("SQL Server 2022 user CAL",
                          "A client access licence: one user reaches your SQL Server 2022 "
                          "servers licensed per server + CAL."),
    "WINSRV-2025-STD": ("Windows Server 2025 Standard, 16 cores",
                        "Windows Server 2025 Standard for one 16-core server, with two virtual "
                        "machines."),
    "WINSRV-2025-DC": ("Windows Server 2025 Datacenter, 16 cores",
                       "Windows Server 2025 Datacenter for one 16-core server, unlimited virtual "
                       "machines."),
    "WINSRV-2025-CAL-USER": ("Windows Server 2025 user CAL",
                             "A client access licence: one user reaches your Windows Server 2025 "
                             "servers, from any device."),
    "WINSRV-2025-CAL-DEVICE": ("Windows Server 2025 device CAL",
                               "A client access licence: one device reaches your Windows Server "
                               "2025 servers, whoever uses it."),
    ADDON_BACKUP: ("Licence backup, 2 years",
                   "We keep your licence, your key and your download links for two years."),
    ADDON_INSTALL: ("Installation help",
                    "A technician helps you install and activate your software."),
}
TAGLINES_EN = {
    "numeriland": "Software to download, delivered in minutes",
    "novatech": "The software for your Novatech PC",
    "telcomobile": "Your Microsoft software, on your phone bill",
    "reseaupro": "The network of local IT professionals",
    "comptoir": "The official shop for downloadable Microsoft software",
}


# The product lines whose editions a buyer picks from and compares on a product page.
LINES = {
    **dict.fromkeys(("OFFICE-HOME-2024-WIN", "OFFICE-HOME-2024-MAC", "OFFICE-HB-2024-WIN",
                     "OFFICE-HB-2024-MAC"), "office-2024"),
    **dict.fromkeys(("M365-PERSONAL-1Y", "M365-FAMILY-1Y", "M365-BASIC-1Y"), "m365-home"),
    **dict.fromkeys(("M365-BUSINESS-BASIC-1Y", "M365-BUSINESS-STD-1Y"), "m365-business-year"),
    **dict.fromkeys(("M365-BUSINESS-BASIC-1M", "M365-BUSINESS-STD-1M"), "m365-business-month"),
    **dict.fromkeys(("WIN11-HOME", "WIN11-PRO"), "windows-11"),
    **dict.fromkeys(("VISIO-STD-2024", "VISIO-PRO-2024"), "visio-2024"),
    **dict.fromkeys(("PROJECT-STD-2024", "PROJECT-PRO-2024"), "project-2024"),
}


def _upsert_product(row: tuple[Any, ...]) -> Product:
    code, family, name, edition, platform, seats, unit, kind, term, price, sku, description = row
    product = db.session.scalar(select(Product).where(Product.code == code)) or Product(code=code)
    product.kind, product.family, product.name, product.edition = "software", family, name, edition
    product.platform, product.seats, product.seat_unit, product.licence_type = (
        platform,
        seats,
        unit,
        kind,
    )
    product.term_months, product.list_price_cents, product.vat_rate = term, price, VAT
    product.description, product.image = description, f"img/products/{family}.svg"
    product.line = LINES.get(code, "")
    if code in ENGLISH:
        english_name, english_description = ENGLISH[code]
        product.translations = {"en": {"name": english_name, "description": english_description}}
    _set_skus(product, {"nexway": f"NX-{sku}", "arvato": f"AR-{sku}"})
    db.session.add(product)
    return product


def _upsert_addon(code: str, name: str, price: int, description: str) -> Product:
    product = db.session.scalar(select(Product).where(Product.code == code)) or Product(code=code)
    product.kind, product.family, product.name, product.edition = "addon", "addon", name, ""
    if code in ENGLISH:
        english_name, english_description = ENGLISH[code]
        product.translations = {"en": {"name": english_name, "description": english_description}}
    product.platform, product.seats, product.seat_unit, product.licence_type = (
        "multi",
        1,
        "device",
        "perpetual",
    )
    product.list_price_cents, product.vat_rate, product.description = price, VAT, description
    product.image = "img/products/addon.svg"
    db.session.add(product)
    return product


def _set_skus(product: Product, skus: dict[str, str]) -> None:
    existing = {s.wholesaler_code: s for s in product.skus}
    for wholesaler, sku in skus.items():
        if wholesaler in existing:
            existing[wholesaler].sku = sku
        else:
            product.skus.append(ProductSku(wholesaler_code=wholesaler, sku=sku))


def _upsert_partner(spec: dict[str, Any], products: dict[str, Product]) -> Partner:
    partner = db.session.scalar(select(Partner).where(Partner.slug == spec["slug"])) or Partner(
        slug=spec["slug"]
    )
    for field in (
        "name",
        "kind",
        "wholesaler_code",
        "primary_color",
        "secondary_color",
        "accent_color",
        "font",
        "tagline",
        "support_email",
        "support_phone",
    ):
        setattr(partner, field, spec[field])
    partner.status = PartnerStatus.OPEN
    for field, value in _legal_identity(spec).items():
        setattr(partner, field, value)
    partner.allow_failover = spec.get("allow_failover", False)
    partner.theme = spec.get("theme")
    if spec["slug"] in TAGLINES_EN:
        partner.translations = {"en": {"tagline": TAGLINES_EN[spec["slug"]]}}
    partner.backup_by_default = spec.get("backup_by_default", False)
    partner.legal_notice = (
        f"{spec['name']} SAS, société de démonstration. Vente de logiciels en téléchargement "
        "opérée par Comptoir. Contenu numérique livré immédiatement après paiement, à la demande "
        "expresse de l'acheteur."
    )
    if not partner.logo_data:
        partner.logo_data, partner.logo_mime = (
            _logo_png(spec["name"], spec["primary_color"]),
            "image/png",
        )
    if not any(d.host == spec["host"] for d in partner.domains):
        partner.domains.append(PartnerDomain(host=spec["host"]))
    catalogue: dict[str, int | None] = dict(spec["catalogue"])
    if "*" in catalogue:
        catalogue.pop("*")
        catalogue = {code: catalogue.get(code) for code in products} | catalogue
    offers = {o.product.code: o for o in partner.offers if o.product is not None}
    for position, (code, price) in enumerate(catalogue.items()):
        product = products[code]
        offer = offers.get(code) or PartnerProduct(product=product)
        offer.price_cents = product.list_price_cents if price is None else price
        offer.position, offer.available = position, True
        if code not in offers:
            partner.offers.append(offer)
    db.session.add(partner)
    return partner


def _legal_identity(spec: dict[str, Any]) -> dict[str, str]:
    """A demo company's legal identity, with a SIREN and VAT number that pass their checks."""
    seed = str(int.from_bytes(spec["slug"].encode(), "big") % 10**8).zfill(8)
    siren = next(seed + d for d in "0123456789" if luhn_ok(seed + d))
    return {
        "legal_name": f"{spec['name']} SAS", "legal_form": "SAS", "siren": siren,
        "rcs_city": "Paris", "vat_number": f"FR{french_vat_key(siren)}{siren}",
        "registered_office": "10 rue de la Démonstration, 75002 Paris",
        "publication_director": "Camille Durand",
        "host_details": "Comptoir (plateforme), 10 rue du Port, 75001 Paris",
        "mediator_name": "Médiateur de démonstration",
        "mediator_url": "https://mediateur.example",
    }


def _upsert_user(login: dict[str, str], role: Role) -> None:
    user = db.session.scalar(select(User).where(User.email == login["email"]))
    if user is None:
        user = User(email=login["email"], password_hash=hash_password(login["password"]))
    elif not check_password(user.password_hash, login["password"]):
        user.password_hash = hash_password(login["password"])
    user.name, user.role, user.active = login["name"], role, True
    user.email_verified_at = user.email_verified_at or utcnow()
    db.session.add(user)
    db.session.flush()
    if role == Role.OPERATOR and not user.totp_secret:
        # Operators always pass a second factor: the demo's gets a secret of its own install,
        # shown by `comptoir demo-credentials`, its current code by `comptoir users totp-code`.
        from accounts.factors import set_totp_secret
        from accounts.totp import new_secret

        set_totp_secret(user, new_secret())


def _logo_png(name: str, colour: str) -> bytes:
    """A simple wordmark logo, drawn here so the demo needs no network."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (360, 96), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 8, 80, 88), radius=18, fill=colour)
    initials = "".join(word[0] for word in name.split()[:2]).upper()
    font_big, font_name = _font(40), _font(30)
    if not _has_accents(font_name):
        # Pillow's built-in font has no accented letters: draw "Numeriland" rather than a box.
        name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    draw.text((40, 48), initials, fill="white", font=font_big, anchor="mm")
    draw.text((96, 48), name, fill=colour, font=font_name, anchor="lm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def _font(size: int):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    try:
        return ImageFont.truetype(DEJAVU, size)
    except OSError:
        return ImageFont.load_default(size=size)


def _has_accents(font) -> bool:  # type: ignore[no-untyped-def]
    return getattr(font, "path", None) == DEJAVU


def _operator_totp_secret() -> str | None:
    from accounts.totp import open_secret

    user = db.session.scalar(select(User).where(User.email == LOGINS["operator"]["email"]))
    if user is None or not user.totp_secret:
        return None
    return open_secret(user.totp_secret, str(user.id))


def credentials(base_url: str) -> dict[str, Any]:
    """The demo's partners, logins and keys, for a person or a script."""
    from commissions import seed_demo
    from partner_api.keys import demo_api_key

    partners = db.session.scalars(select(Partner).order_by(Partner.name)).all()
    return {
        "partners": [
            {
                "slug": p.slug,
                "name": p.name,
                "kind": p.kind,
                "host": p.domains[0].host if p.domains else None,
                "url": f"{base_url.rstrip('/')}/p/{p.slug}/",
                "api_key": demo_api_key(p),
            }
            for p in partners
        ],
        "logins": {
            "buyer": {k: LOGINS["buyer"][k] for k in ("email", "password")},
            "operator": {**{k: LOGINS["operator"][k] for k in ("email", "password")},
                         "totp_secret": _operator_totp_secret()},
        },
        "resellers": [
            {key: r[key] for key in ("code", "partner", "email", "password")}
            for slug in RESELLER_NETWORKS
            if any(p.slug == slug for p in partners)
            for r in seed_demo(slug)["resellers"]
        ],
    }
