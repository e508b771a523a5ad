"""Anonymous shop pages served from a cache (docs/caching.md).

The home page, the catalogue (with its family, search and page arguments) and product pages of
a visitor who is not signed in and has no cart are the same for every such visitor of a shop,
language and VAT country. `PageCacheMiddleware` keeps their bytes and serves them again before
Flask does anything (no session, no database, no template) while the catalogue's counters
(storefront/pagecache/versions.py) have not moved; otherwise the request goes through Flask,
whose `plan` hook says whether the page may be stored, and the middleware stores it on the way
out. A cached page holds nothing personal: no CSRF token (adding to the cart checks the
request's origin instead, storefront/security/origin.py), no cart count other than an empty
cart's, no sign-in, and it never sets a cookie. Embedded shops (/embed/…) are never cached.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import Flask, Response, current_app, g, request, session
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from storefront.embed import EMBED_KEY
from storefront.pagecache.store import Entry, MemoryStore, RedisStore, Store, Versions

log = logging.getLogger("comptoir.pagecache")

PLAN_KEY = "comptoir.pagecache"
PAGE_RE = re.compile(r"^/(?:products(?:/[A-Za-z0-9._-]{1,80})?)?$")
ALLOWED_ARGS = frozenset({"family", "q", "page"})
SUMMARY_PATH = "/cart/summary"
EMPTY_SUMMARY = b'{"count":0,"signed_in":false}'
REMEMBER_COOKIE = "remember_token"  # Flask-Login's: a visitor it could sign in is not anonymous
PERSONAL = "private, no-store"
CACHED_TEMPLATE_DIRS = ("templates", "translations", "legal", "commerce/data")


@dataclass
class Pending:
    """A cacheable-looking request on its way through Flask, and what Flask decided."""

    root: str
    path: str
    query: str
    partner_id: str | None
    versions: Versions
    key: str = ""
    expires: float = 0.0
    anonymous: bool = False  # rendered as for anyone: no CSRF token, even when not stored
    storing: bool = False
    personal: bool = False


@dataclass
class PageCache:
    """The store and what serving from it needs, one per app."""

    store: Store
    session_cookie: str
    locales: tuple[str, ...]
    default_locale: str
    config: Any  # the app's: the country header may be set after the app is built
    ttl: float
    cache_control: str
    build_dirs: tuple[Path, ...]
    roots: dict[str, str] = field(default_factory=dict)  # scheme://host/script root -> partner
    hits: int = 0
    stores: int = 0
    _fingerprint: str = ""
    _languages: dict[str, str] = field(default_factory=dict)
    _rates: dict[str, tuple[str, float]] = field(default_factory=dict)

    def bump(self, scopes: set[str]) -> None:
        try:
            self.store.bump(scopes)
        except Exception:  # a store that is down: its pages expire within the TTL
            log.exception("pagecache: could not bump %s", sorted(scopes))

    def fingerprint(self) -> str:
        """What the deployed templates, translations and rates look like: a deploy that changes
        them changes every key (pages in Redis outlive the processes)."""
        if not self._fingerprint:
            digest = hashlib.blake2b(digest_size=8)
            for top in self.build_dirs:
                for dirpath, _dirs, files in sorted(os.walk(top)):
                    for name in sorted(files):
                        stat = os.stat(os.path.join(dirpath, name))
                        digest.update(f"{dirpath}/{name}:{stat.st_mtime_ns}:{stat.st_size}".encode())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def rate(self, country: str) -> str:
        """The VAT rate prices are shown at for this country today (rates change at dates)."""
        known = self._rates.get(country)
        now = time.monotonic()
        if known is None or known[1] < now:
            from commerce.tax import decide

            known = self._rates[country] = (str(decide(country).rate), now + 60)
        return known[0]

    def key(self, root: str, path: str, query: str, locale: str, country: str) -> str:
        parts = (self.fingerprint(), root, path, query, locale, country, self.rate(country))
        return hashlib.blake2b("\n".join(parts).encode(), digest_size=16).hexdigest()

    def language(self, header: str) -> str:
        """Babel's choice for a visitor without a session: the browser's, else the default."""
        chosen = self._languages.get(header)
        if chosen is None:
            best = parse_accept_header(header, LanguageAccept).best_match(self.locales)
            chosen = best or self.default_locale
            if len(self._languages) > 1000:
                self._languages.clear()
            self._languages[header] = chosen
        return chosen

    def header_country(self, environ: dict[str, Any]) -> str:
        """storefront/shop/pricing.py's visitor_country for a visitor without a session."""
        from commerce.tax import HOME_COUNTRY, eu_countries

        header = self.config.get("IP_COUNTRY_HEADER")
        if header:
            value = environ.get("HTTP_" + str(header).upper().replace("-", "_"), "")
            value = value.strip().upper()
            if len(value) == 2 and value.isalpha() and value in eu_countries():
                return str(value)
        return HOME_COUNTRY

    @property
    def vary(self) -> str:
        header = self.config.get("IP_COUNTRY_HEADER")
        return "Accept-Language, Cookie" + (f", {header}" if header else "")

    def has_session(self, environ: dict[str, Any]) -> bool:
        cookies = environ.get("HTTP_COOKIE", "")
        return bool(cookies) and (f"{self.session_cookie}=" in cookies
                                  or f"{REMEMBER_COOKIE}=" in cookies)


def _root(environ: dict[str, Any]) -> str:
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    scheme = environ.get("wsgi.url_scheme", "http")
    return f"{scheme}://{host.lower()}{environ.get('SCRIPT_NAME', '')}"


def _query(environ: dict[str, Any]) -> str | None:
    """The query in a stable order, or None when it carries anything but listing arguments."""
    raw = environ.get("QUERY_STRING", "")
    if not raw:
        return ""
    pairs = parse_qsl(raw, keep_blank_values=True)
    if any(name not in ALLOWED_ARGS for name, _ in pairs):
        return None
    return urlencode(sorted(pairs))


def _etag_matches(environ: dict[str, Any], etag: str) -> bool:
    header = environ.get("HTTP_IF_NONE_MATCH")
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return etag in tags or "*" in tags


class PageCacheMiddleware:
    """Serve stored anonymous pages; store the ones Flask marked as storable."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], cache: PageCache) -> None:
        self.wsgi_app = wsgi_app
        self.cache = cache

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if (method != "GET" and method != "HEAD") or environ.get(EMBED_KEY):
            return self.wsgi_app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        cache = self.cache
        if path == SUMMARY_PATH and not cache.has_session(environ):
            # No session: an empty cart and no one signed in, known without Flask.
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(EMPTY_SUMMARY))),
                                      ("Cache-Control", PERSONAL)])
            return [EMPTY_SUMMARY]
        query = _query(environ) if PAGE_RE.match(path) else None
        if query is None:
            return self.wsgi_app(environ, start_response)
        root = _root(environ)
        partner_id = cache.roots.get(root)
        key = ""
        if not cache.has_session(environ):
            locale = cache.language(environ.get("HTTP_ACCEPT_LANGUAGE", ""))
            key = cache.key(root, path, query, locale, cache.header_country(environ))
        try:
            entry, versions = cache.store.lookup(key, partner_id)
        except Exception:
            log.exception("pagecache: the store did not answer")
            return self.wsgi_app(environ, start_response)
        if entry is not None and valid(entry, partner_id, versions):
            cache.hits += 1
            return self._serve(entry, environ, start_response)
        pending = environ[PLAN_KEY] = Pending(root, path, query, partner_id, versions)
        return self._through_flask(environ, start_response, pending)

    def _serve(self, entry: Entry, environ: dict[str, Any],
               start_response: Callable[..., Any]) -> Iterable[bytes]:
        if _etag_matches(environ, entry.etag):
            start_response("304 Not Modified", [
                (n, v) for n, v in entry.headers if n in ("ETag", "Cache-Control", "Vary")])
            return []
        start_response("200 OK", list(entry.headers))
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [entry.body]

    def _through_flask(self, environ: dict[str, Any], start_response: Callable[..., Any],
                       pending: Pending) -> Iterable[bytes]:
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers, exc_info]
            return lambda data: None  # the app's write() is never used by Flask

        body = self.wsgi_app(environ, capture)
        status, headers, exc_info = captured
        if pending.personal:
            headers = _replaced(headers, "Cache-Control", PERSONAL)
        elif pending.storing and status.startswith("200"):
            if not any(n.lower() == "set-cookie" for n, _ in headers) and \
                    environ.get("REQUEST_METHOD") == "GET":
                return self._store(environ, start_response, pending, headers, body)
        start_response(status, headers, exc_info)
        return body

    def _store(self, environ: dict[str, Any], start_response: Callable[..., Any],
               pending: Pending, headers: list[tuple[str, str]],
               body: Iterable[bytes]) -> Iterable[bytes]:
        try:
            data = b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        etag = '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'
        kept = [(n, v) for n, v in headers
                if n.lower() not in ("cache-control", "vary", "etag", "pragma", "expires")]
        stored = (*kept, ("ETag", etag), ("Cache-Control", self.cache.cache_control),
                  ("Vary", self.cache.vary))
        entry = Entry(str(pending.partner_id), pending.versions, pending.expires, etag, stored,
                      data)
        try:
            self.cache.store.put(pending.key, entry)
            self.cache.stores += 1
        except Exception:
            log.exception("pagecache: could not store a page")
        return self._serve(entry, environ, start_response)


def _replaced(headers: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    return [*((n, v) for n, v in headers if n.lower() != name.lower()), (name, value)]


def valid(entry: Entry, partner_id: str | None, versions: Versions) -> bool:
    return (partner_id is not None and entry.partner_id == partner_id
            and entry.versions == versions and entry.expires > time.time())


def personal() -> bool:
    """This visitor's pages are theirs: signed in (or remembered), a cart here, or a message
    waiting to be shown."""
    from storefront.security import sessions
    from storefront.shop import cart

    if sessions.current() is not None or "_user_id" in session or "_flashes" in session:
        return True
    if request.cookies.get(REMEMBER_COOKIE):
        return True
    return cart.SESSION_KEY in session and cart.has_items(g.partner)


def anonymous_render() -> bool:
    """This page is rendered as for any visitor (cached or not, the cache on or off): leave out
    anything personal, such as a CSRF token, which would also start a session."""
    pending = request.environ.get(PLAN_KEY)
    if isinstance(pending, Pending):
        return pending.anonymous
    if g.get("partner") is None or request.environ.get(EMBED_KEY):
        return False  # a frame keeps its token: its pages are its own (never cached)
    return not personal()


def plan() -> Response | None:
    """before_request: decide whether this page is stored; serve a stored one to a visitor with
    an anonymous session (a language chosen, a billing country, no cart)."""
    pending = request.environ.get(PLAN_KEY)
    partner = g.get("partner")
    if not isinstance(pending, Pending) or partner is None:
        return None
    if personal():
        pending.personal = True
        return None
    pending.anonymous = True
    cache: PageCache = current_app.extensions["pagecache"]
    partner_id = str(partner.id)
    if pending.partner_id != partner_id:
        # First page of this address in this process: its counters were not read before the
        # partner was, so this one is not stored; the next one will be.
        cache.roots[pending.root] = partner_id
        return None
    from flask_babel import get_locale

    from storefront.shop.pricing import visitor_country

    pending.key = cache.key(pending.root, pending.path, pending.query, str(get_locale()),
                            visitor_country())
    pending.expires = time.time() + cache.ttl
    if partner.next_price_at is not None:  # a scheduled price falls due: the page ends then
        pending.expires = min(pending.expires, partner.next_price_at.timestamp())
    if request.cookies.get(cache.session_cookie):
        entry, _ = cache.store.lookup(pending.key, partner_id)
        if entry is not None and valid(entry, partner_id, pending.versions):
            cache.hits += 1
            return _response(entry)
    pending.storing = True
    return None


def _response(entry: Entry) -> Response:
    if _etag_matches(request.environ, entry.etag):
        return Response(status=304, headers=[
            (n, v) for n, v in entry.headers if n in ("ETag", "Cache-Control", "Vary")])
    return Response(entry.body, status=200,
                    headers=[(n, v) for n, v in entry.headers if n != "Content-Length"])


def _store_for(app: Flask) -> Store | None:
    shared = app.config.get("PAGE_CACHE_REDIS_URL") or (
        app.config["SESSION_STORE"] == "redis" and app.config.get("SESSION_REDIS_URL"))
    kind = app.config.get("PAGE_CACHE") or ("redis" if shared else "memory")
    if kind == "off":
        return None
    if kind == "redis":
        url = app.config.get("PAGE_CACHE_REDIS_URL") or app.config.get("SESSION_REDIS_URL")
        if not url:
            raise RuntimeError("COMPTOIR_PAGE_CACHE=redis needs COMPTOIR_PAGE_CACHE_REDIS_URL")
        return RedisStore(str(url))
    if kind == "memory":
        directory = app.config.get("PAGE_CACHE_DIR") or os.path.join(app.instance_path,
                                                                      "pagecache")
        return MemoryStore(Path(directory))
    raise RuntimeError(f"COMPTOIR_PAGE_CACHE must be memory, redis or off, not {kind!r}")


def install(app: Flask) -> None:
    """Wrap the app in the page cache, inside the prefix, embed and proxy middlewares (so that
    it sees the partner's script root, the embed flag and the visitor's real host)."""
    from storefront.pagecache import versions  # noqa: F401 - registers the session events

    store = _store_for(app)
    if store is None:
        return
    shared = int(app.config["PAGE_CACHE_SHARED_MAX_AGE"])
    stale = int(app.config["PAGE_CACHE_STALE"])
    root = Path(app.root_path)
    dirs = tuple(root / d for d in CACHED_TEMPLATE_DIRS)
    from partners.themes import themes_dir

    with app.app_context():
        dirs += (themes_dir(),)
    cache = PageCache(
        store=store, session_cookie=str(app.config["SESSION_COOKIE_NAME"]),
        locales=tuple(c.strip() for c in app.config["LOCALES"].split(",") if c.strip()),
        default_locale=str(app.config["DEFAULT_LOCALE"]),
        config=app.config,
        ttl=float(app.config["PAGE_CACHE_TTL"]),
        cache_control=f"public, max-age=0, s-maxage={shared}, stale-while-revalidate={stale}",
        build_dirs=dirs,
    )
    app.extensions["pagecache"] = cache
    app.wsgi_app = PageCacheMiddleware(app.wsgi_app, cache)  # type: ignore[method-assign]


def init_app(app: Flask) -> None:
    """The hook that decides, once the partner and the session are known."""
    if "pagecache" in app.extensions:
        app.before_request(plan)
