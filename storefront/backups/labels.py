"""Human labels for backup statuses and access audit entries, translated at render time."""

from __future__ import annotations

from flask_babel import gettext as _


def backup_status_label(code: str) -> str:
    """Return how a buyer reads a backup's status."""
    return {
        "pending": _("Being saved"), "stored": _("Kept safe"), "expired": _("Expired"),
        "purged": _("Expired"), "erased": _("Erased"),
    }.get(code, code)


def access_actor_label(code: str) -> str:
    """Return who opened a backup, as the buyer reads it."""
    return {
        "buyer": _("You"), "reseller": _("Your reseller"), "operator": _("Our support team"),
        "system": _("Automatic"),
    }.get(code, code)


def access_action_label(code: str) -> str:
    """Return what was done with a backup."""
    return {
        "view": _("Viewed"), "resend": _("Sent by e-mail"), "download": _("Downloaded"),
        "erase": _("Erased"),
    }.get(code, code)


def access_outcome_label(code: str) -> str:
    """Return how an access ended."""
    return {
        "ok": _("Done"), "denied": _("Refused"), "expired": _("Refused: expired"),
        "tampered": _("Refused: failed verification"), "unavailable": _("Failed: unavailable"),
    }.get(code, code)


LABELS = (backup_status_label, access_actor_label, access_action_label, access_outcome_label)
