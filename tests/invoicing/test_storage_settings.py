"""Production refuses to start unless invoices are kept in S3, apart from the licence vault."""

from __future__ import annotations

import pytest
from test_production_settings import production as complete_production  # noqa: F401

from app import create_app
from config import ConfigurationError
from invoicing import storage
from invoicing.storage import S3InvoiceStore


@pytest.fixture
def production(complete_production: dict) -> dict:  # noqa: F811
    """The complete production settings of tests/test_production_settings.py.

    The platform's legal form is set apart from the demo's "SAS", which production refuses.
    """
    return {**complete_production, "PLATFORM_LEGAL_FORM": "SAS au capital de 10 000 €"}


def _refusal(settings: dict) -> str:
    with pytest.raises(ConfigurationError) as caught:
        create_app(settings)
    return str(caught.value)


def test_production_keeps_invoices_under_their_own_prefix_of_the_vaults_bucket(
        production: dict) -> None:
    app = create_app(production)
    store = storage.store_from_settings(app.config)
    assert isinstance(store, S3InvoiceStore)
    assert (store.bucket, store.prefix) == ("comptoir-vault", "invoices/")
    store.close()


def test_production_may_give_invoices_a_bucket_of_their_own(production: dict) -> None:
    app = create_app({**production, "INVOICES_S3_BUCKET": "comptoir-invoices",
                      "INVOICES_S3_PREFIX": "", "INVOICES_S3_REGION": "eu-west-1"})
    store = storage.store_from_settings(app.config)
    assert isinstance(store, S3InvoiceStore)
    assert (store.bucket, store.prefix) == ("comptoir-invoices", "")
    assert store.client.meta.region_name == "eu-west-1"
    store.close()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"INVOICES_BACKEND": "disk"}, "COMPTOIR_INVOICES_BACKEND (disk)"),
        ({"VAULT_BACKEND": "disk"}, "COMPTOIR_INVOICES_BACKEND (disk)"),
        ({"VAULT_S3_BUCKET": None}, "missing setting COMPTOIR_INVOICES_S3_BUCKET"),
        ({"INVOICES_S3_PREFIX": "backups/invoices/"}, "overlaps the licence vault's prefix"),
        ({"INVOICES_S3_PREFIX": ""}, "overlaps the licence vault's prefix"),
        ({"VAULT_S3_PREFIX": ""}, "overlaps the licence vault's prefix"),
    ],
)
def test_production_refuses_invoices_kept_on_disk_or_inside_the_vault(
        production: dict, change: dict, named: str) -> None:
    assert named in _refusal({**production, **change})


def test_a_bucket_of_their_own_needs_no_prefix_apart(production: dict) -> None:
    create_app({**production, "VAULT_S3_PREFIX": "", "INVOICES_S3_BUCKET": "comptoir-invoices"})
