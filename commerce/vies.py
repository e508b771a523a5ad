"""Asking VIES, the EU's VAT number register, whether a business buyer's number is valid.

VIES's public REST interface (the European Commission's "VIES REST API",
https://ec.europa.eu/taxation_customs/vies/rest-api): `POST {base}/check-vat-number` with
`{"countryCode", "vatNumber", "requesterMemberStateCode", "requesterNumber"}`; the answer holds
`valid`, `requestDate`, `name`, `address` and, when a requester was given, `requestIdentifier`:
the consultation number that proves to a tax office that the number was checked that day. A
member state's register being down is reported as `userError` (`MS_UNAVAILABLE`, `TIMEOUT`,
`SERVICE_UNAVAILABLE`, `MS_MAX_CONCURRENT_REQ`, `GLOBAL_MAX_CONCURRENT_REQ`) or as an error
answer with `errorWrappers`; those, any other code than VALID or INVALID (a wrong requester
number is `INVALID_REQUESTER_INFO`), and any network failure are "unavailable" here.
`commerce/vies_simulator.py` speaks the same interface for development and tests.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import requests

log = logging.getLogger(__name__)

PUBLIC_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api"

class ViesStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class ViesAnswer:
    status: ViesStatus
    checked_at: datetime
    reference: str | None = None  # the consultation number (requestIdentifier)
    name: str = ""
    detail: str = ""  # why it is unavailable, for the log and the operator

    @property
    def valid(self) -> bool:
        return self.status == ViesStatus.VALID


def check(
    vat_number: str,
    *,
    base_url: str,
    requester: str = "",
    timeout: float = 5.0,
    session: requests.Session | None = None,
) -> ViesAnswer:
    """Ask VIES about a cleaned VAT number (DE136695976), as `requester` (the merchant's)."""
    now = datetime.now(UTC)
    body: dict[str, str] = {"countryCode": vat_number[:2], "vatNumber": vat_number[2:]}
    if requester:
        body["requesterMemberStateCode"] = requester[:2]
        body["requesterNumber"] = requester[2:]
    url = base_url.rstrip("/") + "/check-vat-number"
    try:
        response = (session or requests).post(
            url, json=body, timeout=timeout, allow_redirects=False,
            headers={"Accept": "application/json"},
        )
        answer: Any = response.json()
    except (requests.RequestException, ValueError) as exc:
        log.warning("VIES unreachable for %s: %s", vat_number[:2], type(exc).__name__)
        return ViesAnswer(ViesStatus.UNAVAILABLE, now, detail=type(exc).__name__)
    if not isinstance(answer, dict):
        return ViesAnswer(ViesStatus.UNAVAILABLE, now, detail="unreadable answer")
    errors = [
        str(w.get("error")) for w in answer.get("errorWrappers") or [] if isinstance(w, dict)
    ]
    user_error = str(answer.get("userError") or "")
    # Only a plain VALID or INVALID decides; any other code (a register down, but also
    # INVALID_REQUESTER_INFO when the merchant's own number is wrong) is not an answer.
    if errors or user_error not in ("", "VALID", "INVALID") or response.status_code >= 500:
        detail = ", ".join(errors) or user_error or f"HTTP {response.status_code}"
        log.warning("VIES unavailable for %s: %s", vat_number[:2], detail)
        return ViesAnswer(ViesStatus.UNAVAILABLE, now, detail=detail)
    if response.status_code != 200 or not isinstance(answer.get("valid"), bool):
        return ViesAnswer(ViesStatus.UNAVAILABLE, now, detail=f"HTTP {response.status_code}")
    reference = answer.get("requestIdentifier")
    return ViesAnswer(
        ViesStatus.VALID if answer["valid"] else ViesStatus.INVALID,
        now,
        reference=str(reference)[:64] if reference else None,
        name=str(answer.get("name") or "")[:160],
    )
