"""What invalidates cached pages: any write to the catalogue, a partner, its domains, offers,
scheduled prices, brand, theme or legal identity. Each flush notes the scopes it touched
(`global` for products, which every partner sells, else the partner's id); the commit bumps
their counters. A bulk UPDATE or DELETE of such a table bumps `global`."""

from __future__ import annotations

from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session

from storefront.pagecache.store import GLOBAL

SCOPES_KEY = "pagecache_scopes"
_WATCHED: dict[type, str] = {}  # model -> "global" or the attribute naming its partner


def watched() -> dict[type, str]:
    if not _WATCHED:
        from commerce.models import Partner, PartnerDomain, PartnerProduct, Product, ProductSku
        from partners.models import ScheduledPrice

        _WATCHED.update({Product: GLOBAL, ProductSku: GLOBAL, Partner: "id",
                         PartnerDomain: "partner_id", PartnerProduct: "partner_id",
                         ScheduledPrice: "partner_id"})
    return _WATCHED


def _scope(obj: Any) -> str | None:
    how = watched().get(type(obj))
    if how is None:
        return None
    if how == GLOBAL:
        return GLOBAL
    value = getattr(obj, how, None)
    return str(value) if value is not None else GLOBAL


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, flush_context: Any) -> None:
    scopes: set[str] = session.info.setdefault(SCOPES_KEY, set())
    for obj in (*session.new, *session.deleted):
        scope = _scope(obj)
        if scope is not None:
            scopes.add(scope)
    for obj in session.dirty:
        scope = _scope(obj)
        if scope is not None and session.is_modified(obj):
            scopes.add(scope)
    if not scopes:
        session.info.pop(SCOPES_KEY, None)


@event.listens_for(Session, "do_orm_execute")
def _note_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete) or state.bind_mapper is None:
        return
    if inspect(state.bind_mapper).class_ in watched():
        state.session.info.setdefault(SCOPES_KEY, set()).add(GLOBAL)


@event.listens_for(Session, "after_commit")
def _bump_committed(session: Session) -> None:
    scopes = session.info.pop(SCOPES_KEY, None)
    if scopes and has_app_context():
        cache = current_app.extensions.get("pagecache")
        if cache is not None:
            cache.bump(scopes)


@event.listens_for(Session, "after_transaction_end")
def _forget_rolled_back(session: Session, transaction: Any) -> None:
    """The outermost transaction ended without a commit (a commit popped them first)."""
    if transaction.parent is None:
        session.info.pop(SCOPES_KEY, None)
