"""A subscriber's personal data: exported with the subscriptions, and erased only once no
subscription runs any more (an ended one keeps its terms, not the address)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from support.subscription_helpers import set_term, subscription_of

from accounts import privacy
from commerce.models import utcnow
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.services import cancel_at_period_end, renew_due


def test_a_running_subscription_holds_erasure_back_until_it_has_ended(db, buy, reseller):
    sub = subscription_of(db, buy("M365-BUSINESS-STD-1Y", seats=2))
    now = utcnow()
    set_term(db, sub, now - timedelta(days=300), now + timedelta(days=65))
    exported = privacy.export_data(privacy.subject_for_email("ines@example.com"),
                                   email_proven=True)
    [entry] = exported["subscriptions"]
    assert entry["number"] == sub.number and entry["items"][0]["users"] == 2 and entry["renews"]

    with pytest.raises(privacy.ErasureRefused, match=sub.number):
        privacy.erase(privacy.subject_for_email("ines@example.com"), actor="operator")
    cancel_at_period_end(sub, actor="buyer")
    renew_due(sub.current_period_end + timedelta(minutes=1))
    db.session.expire_all()
    assert sub.status == SubscriptionStatus.ENDED

    report = privacy.erase(privacy.subject_for_email("ines@example.com"), actor="operator")
    ended = db.session.scalar(select(Subscription).where(Subscription.id == sub.id))
    assert ended.email == report.pseudonym and ended.items[0].seats == 2
