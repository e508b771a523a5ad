"""The operator's back office."""

from storefront.backoffice import (  # noqa: F401 - each adds its pages to the blueprint
    auth,
    backups,
    credit,
    invoices,
    partners,
    payouts,
    people,
    products,
    programmes,
    resellers,
    views,
)
from storefront.backoffice.blueprint import bp

__all__ = ["bp"]
