"""`comptoir subscriptions`: list, show, cancel and the renewal job from the shell, with clear
refusals."""

from __future__ import annotations

from datetime import timedelta

from support.subscription_helpers import set_term, subscription_of

from commerce.models import utcnow
from subscriptions.models import SubscriptionStatus


def test_the_commands_list_show_cancel_and_renew(db, buy, reseller, runner):
    sub = subscription_of(db, buy("M365-BUSINESS-STD-1Y", seats=4))
    now = utcnow().replace(microsecond=0)
    set_term(db, sub, now - timedelta(days=360), now + timedelta(days=5))

    listed = runner.invoke(args=["subscriptions", "list"])
    assert listed.exit_code == 0 and sub.number in listed.output and "4 users" in listed.output
    shown = runner.invoke(args=["subscriptions", "show", sub.number.lower()])
    assert shown.exit_code == 0 and "4 × Microsoft 365 Business Standard" in shown.output
    assert "started" in shown.output

    early = runner.invoke(args=["subscriptions", "renew-due", "--now", now.isoformat()])
    assert early.exit_code == 0 and "renewed 0" in early.output
    naive = runner.invoke(args=["subscriptions", "renew-due", "--now", "2030-01-01T00:00:00"])
    assert naive.exit_code != 0 and "time zone" in naive.output
    both = runner.invoke(args=["subscriptions", "renew-due", "--loop", "1", "--now",
                               now.isoformat()])
    assert both.exit_code != 0 and "real clock" in both.output

    cancelled = runner.invoke(args=["subscriptions", "cancel", sub.number])
    assert cancelled.exit_code == 0 and "ends on" in cancelled.output
    later = (sub.current_period_end + timedelta(minutes=1)).isoformat()
    ended = runner.invoke(args=["subscriptions", "renew-due", "--now", later])
    assert ended.exit_code == 0 and "ended 1" in ended.output
    db.session.expire_all()
    assert sub.status == SubscriptionStatus.ENDED
    again = runner.invoke(args=["subscriptions", "cancel", sub.number])
    assert again.exit_code == 1
    assert "already ended" in again.output or "déjà terminé" in again.output
    missing = runner.invoke(args=["subscriptions", "show", "AB-1999-000001"])
    assert missing.exit_code == 1 and "no subscription" in missing.output
