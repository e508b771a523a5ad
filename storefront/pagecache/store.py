"""Where cached pages and the catalogue's version counters live: Redis, or this process.

Both stores keep the counters (`global` and one per partner) apart from the pages, and a page
only with the counters it was rendered under: a page is good while they still match. A counter
only ever grows, so a page rendered before a change can never match again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("comptoir.pagecache")

GLOBAL = "global"
Versions = tuple[int, int]


@dataclass(frozen=True)
class Entry:
    """A stored answer: the bytes and headers sent, for whom and under which counters."""

    partner_id: str
    versions: Versions
    expires: float
    etag: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def encode(self) -> bytes:
        meta = {"p": self.partner_id, "v": list(self.versions), "x": self.expires,
                "e": self.etag, "h": [list(h) for h in self.headers]}
        return json.dumps(meta, separators=(",", ":")).encode() + b"\0" + self.body

    @classmethod
    def decode(cls, raw: bytes) -> Entry | None:
        meta_bytes, sep, body = raw.partition(b"\0")
        try:
            meta = json.loads(meta_bytes) if sep else None
            if meta is None:
                return None
            return cls(str(meta["p"]), (int(meta["v"][0]), int(meta["v"][1])),
                       float(meta["x"]), str(meta["e"]),
                       tuple((str(n), str(v)) for n, v in meta["h"]), body)
        except (ValueError, KeyError, IndexError, TypeError):
            return None


class MemoryStore:
    """Pages in this process (least recently used first out); counters in files shared by every
    process of this machine (the instance folder), so a change made by another worker or by a
    command invalidates this one's pages too. A counter is its file's size: a change appends a
    byte (an atomic append), reading it is one stat."""

    def __init__(self, directory: Path, max_entries: int = 2000) -> None:
        self.directory = directory
        self.max_entries = max_entries
        self._pages: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def _counter(self, scope: str) -> int:
        try:
            return os.stat(self.directory / scope).st_size
        except FileNotFoundError:
            return 0

    def versions(self, partner_id: str | None) -> Versions:
        return self._counter(GLOBAL), self._counter(partner_id) if partner_id else 0

    def lookup(self, key: str, partner_id: str | None) -> tuple[Entry | None, Versions]:
        """The page stored under key, whatever its counters, and the counters now."""
        with self._lock:
            entry = self._pages.get(key)
            if entry is not None:
                self._pages.move_to_end(key)
        return entry, self.versions(partner_id)

    def put(self, key: str, entry: Entry) -> None:
        with self._lock:
            self._pages[key] = entry
            self._pages.move_to_end(key)
            while len(self._pages) > self.max_entries:
                self._pages.popitem(last=False)

    def bump(self, scopes: set[str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for scope in scopes:
            with open(self.directory / scope, "ab") as counter:
                counter.write(b".")


class RedisStore:
    """Pages and counters in Redis, shared by every worker and machine. Pages expire (SET EX);
    counters never do, so Redis must evict only keys with an expiry (`volatile-lru`)."""

    PREFIX = "comptoir:pagecache:"

    def __init__(self, url: str) -> None:
        from redis import Redis

        self.redis = Redis.from_url(url, socket_timeout=1)

    def _v(self, scope: str) -> str:
        return f"{self.PREFIX}v:{scope}"

    def versions(self, partner_id: str | None) -> Versions:
        return self.lookup("", partner_id)[1]

    def lookup(self, key: str, partner_id: str | None) -> tuple[Entry | None, Versions]:
        """One round trip: the page (when key is given) and both counters."""
        names = [self._v(GLOBAL), self._v(partner_id or "none")]
        if key:
            names.append(f"{self.PREFIX}page:{key}")
        values: list[Any] = self.redis.mget(names)
        versions = (int(values[0] or 0), int(values[1] or 0) if partner_id else 0)
        raw = values[2] if key else None
        return (Entry.decode(raw) if raw else None), versions

    def put(self, key: str, entry: Entry) -> None:
        ttl = max(1, int(entry.expires - time.time()))
        self.redis.set(f"{self.PREFIX}page:{key}", entry.encode(), ex=ttl)

    def bump(self, scopes: set[str]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for scope in scopes:
            pipe.incr(self._v(scope))
        pipe.execute()


Store = MemoryStore | RedisStore
