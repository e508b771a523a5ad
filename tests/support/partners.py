"""Values for partners in tests."""

from __future__ import annotations

# A complete legal identity (its SIREN and VAT number check out), for partners that sell.
LEGAL_IDENTITY = {
    "legal_name": "Partner SAS", "legal_form": "SAS", "siren": "732829320",
    "rcs_city": "Paris", "vat_number": "FR44732829320",
    "registered_office": "1 rue de la Paix, 75002 Paris", "publication_director": "Jeanne Martin",
    "host_details": "Comptoir, 10 rue du Port, 75001 Paris, +33 1 00 00 00 00",
    "mediator_name": "Médiateur de la consommation",
    "mediator_url": "https://www.mediateur.example",
}
