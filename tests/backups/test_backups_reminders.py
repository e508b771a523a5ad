"""The reminder e-mail 30 days before a backup expires: sent once per expiry date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backups_support import mails

from backups.reminders import send_reminders
from backups.vault import extend_backup, get_backup
from backups.vault.models import utcnow

TWO_YEARS_AGO_PLUS_20_DAYS = timedelta(days=2 * 365 - 20)


def _expiring(backed_order, shops, **kwargs):
    return backed_order(shops.a, delivered_at=datetime.now(UTC) - TWO_YEARS_AGO_PLUS_20_DAYS,
                        **kwargs)


def test_reminder_goes_out_once_with_a_renewal_link(app, shops, backed_order, db):
    app.config["PUBLIC_URL"] = "https://comptoir.example"
    due = _expiring(backed_order, shops)
    backed_order(shops.a, "fresh@example.com")  # two years left: no reminder

    first = send_reminders()
    second = send_reminders()

    assert [(o.backup_id, o.sent) for o in first] == [(due.backup.id, True)]
    assert second == []
    [mail] = mails(db)
    assert mail.to == "camille@example.com" and mail.subject.startswith("Shop A · ")
    # The link is on the partner's own domain, with the platform's scheme.
    assert f"https://shop-a.example/backups/renew?order={due.order.number}" in mail.text_body
    assert due.order.number in mail.html_body
    db.session.expire_all()
    assert get_backup(due.backup.id).reminder_sent_at is not None


def test_reminder_is_sent_again_after_a_renewal_nears_its_new_expiry(shops, backed_order, db):
    due = _expiring(backed_order, shops)
    send_reminders()
    extended = extend_backup(due.backup.id, due.backup.expires_at + timedelta(days=365))
    db.session.commit()
    assert send_reminders() == []
    later = extended.expires_at - timedelta(days=10)
    assert [o.sent for o in send_reminders(now=later)] == [True]
    assert len(mails(db)) == 2


def test_failed_reminder_is_retried_next_run(app, shops, backed_order, db):
    due = _expiring(backed_order, shops)
    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=9)
    [failed] = send_reminders()
    assert not failed.sent and failed.detail
    app.config["MAIL_BACKEND"] = "capture"
    [sent] = send_reminders()
    assert sent.sent and sent.backup_id == due.backup.id
    assert len(mails(db)) == 1


def test_remind_command_dry_run_sends_nothing(runner, shops, backed_order, db):
    due = _expiring(backed_order, shops)
    result = runner.invoke(args=["vault", "remind", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"would remind {due.backup.id} partner=shop-a" in result.output
    assert mails(db) == []
    result = runner.invoke(args=["vault", "remind"])
    assert result.exit_code == 0, result.output
    assert "sent 1 reminders" in result.output and len(mails(db)) == 1


def test_reminder_job_is_on_the_beat_schedule(app):
    from extensions import celery

    entry = celery.conf.beat_schedule["backups-send-reminders"]
    assert entry["task"] == "comptoir.backups.send_reminders"
    assert entry["schedule"] == 86_400.0
    assert utcnow().tzinfo is not None


def test_an_expiring_backup_tells_the_partners_webhooks_once_per_expiry(app, shops, backed_order,
                                                                         db):
    import json

    from sqlalchemy import select
    from support.receiver import receiving

    from events import relay
    from events.models import OutboxEvent
    from webhooks import services as webhooks
    from webhooks.signing import verify

    with receiving() as receiver:
        _endpoint, secret = webhooks.create_endpoint(shops.a, receiver.url, actor="test",
                                                     events=["backup.expiring"])
        db.session.commit()
        due = _expiring(backed_order, shops)
        send_reminders()
        send_reminders()  # the second run sends nothing, and says nothing either
        events = db.session.scalars(select(OutboxEvent.id).where(
            OutboxEvent.kind == "BackupExpiring")).all()
        assert len(events) == 1
        relay.deliver(events)
        (received,) = receiver.wait_for(1)
        body = json.loads(received.body)
        assert body["type"] == "backup.expiring" and verify(secret, received.body,
                                                            received.headers["Comptoir-Signature"])
        assert body["data"]["backup"] == {"id": str(due.backup.id),
                                          "expires_at": due.backup.expires_at.isoformat()}
        assert body["data"]["order"]["number"] == due.order.number
