"""Looking partners up outside a request: by slug, for commands, jobs and the API."""

from __future__ import annotations

from sqlalchemy import select

from commerce.models import Partner, PartnerStatus
from extensions import db


def partner_by_slug(slug: str) -> Partner | None:
    """The active partner with this slug, or None."""
    return db.session.scalar(
        select(Partner).where(Partner.slug == slug, Partner.status == PartnerStatus.OPEN)
    )


def partner_with_catalogue(slug: str) -> Partner | None:
    """Any partner (open or not) with its domains and offers loaded, for the pages, commands
    and API that change it."""
    from sqlalchemy.orm import selectinload

    from commerce.models import PartnerProduct

    return db.session.scalar(
        select(Partner).where(Partner.slug == slug)
        .options(selectinload(Partner.domains),
                 selectinload(Partner.offers).selectinload(PartnerProduct.product)))
