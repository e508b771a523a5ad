"""The versioned terms of sale (CGV): which version is in force, and each version's text.

The versions are data (legal/terms.json: a version id and the Paris date it takes effect), each
with its text as one template per language (templates/legal/terms/<version>.<lang>.html). A
published version is never edited; a change is a new version with a later effective date, and
the old ones stay readable at /legal/terms/<version>. docs/legal.md says how to publish one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
VERSION = re.compile(r"^\d{4}-\d{2}-v\d{1,3}$")
LANGUAGES = ("fr", "en")
DATA = Path(__file__).with_name("terms.json")


class TermsError(ValueError):
    """Terms of sale that were not accepted, or not the version in force."""


@dataclass(frozen=True)
class TermsVersion:
    version: str
    effective: date
    summary: str

    @property
    def effective_at(self) -> datetime:
        """Midnight in Paris on the effective date, as UTC."""
        return datetime(self.effective.year, self.effective.month, self.effective.day,
                        tzinfo=PARIS).astimezone(UTC)

    def template(self, language: str) -> str:
        """The template of this version's text in `language` (French when not written)."""
        lang = language[:2] if language[:2] in LANGUAGES else "fr"
        return f"legal/terms/{self.version}.{lang}.html"


@lru_cache(maxsize=1)
def versions() -> tuple[TermsVersion, ...]:
    """Every published version, oldest first; the data file is checked as it is read."""
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    found = []
    for item in raw["versions"]:
        version = str(item["version"])
        if not VERSION.match(version):
            raise ValueError(f"terms.json: bad version id {version!r}")
        found.append(TermsVersion(version, date.fromisoformat(item["effective"]),
                                  str(item.get("summary", ""))))
    found.sort(key=lambda v: v.effective)
    if len({v.version for v in found}) != len(found) or \
            len({v.effective for v in found}) != len(found):
        raise ValueError("terms.json: a version id or effective date is repeated")
    return tuple(found)


def in_force(now: datetime | None = None) -> TermsVersion:
    """The version in force at `now`: the latest whose effective date has come."""
    moment = now or datetime.now(UTC)
    current = [v for v in versions() if v.effective_at <= moment]
    if not current:
        raise LookupError("no terms of sale are in force yet")
    return current[-1]


def find(version: str) -> TermsVersion | None:
    """A published version by its id; None for one never published (or not in force yet)."""
    found = next((v for v in versions() if v.version == version), None)
    if found is None or found.effective_at > datetime.now(UTC):
        return None
    return found


def accepted(version: object, now: datetime | None = None) -> str:
    """The version a buyer accepted, if it is the one in force; raise TermsError otherwise."""
    current = in_force(now)
    if not version:
        raise TermsError(f"the buyer must accept the terms of sale in force "
                         f"(version {current.version})")
    if version != current.version:
        raise TermsError(f"the terms of sale in force are version {current.version}, "
                         f"not {version}")
    return current.version
