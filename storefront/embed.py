"""The shop inside a partner's own site: /embed/<slug>/… in a frame, or over the page from the
buy button (static/js/embed.js).

- `EmbedMiddleware` serves /embed/<slug>/… as the partner's shop, like /p/<slug>/, with the
  embed flag set. In the frame the session cookie is a cookie of its own,
  `SameSite=None; Secure; Partitioned` (CHIPS): a cross-site frame keeps its cart and its CSRF
  token, the cookie is keyed to the embedding site, and the shop's first-party cookie is never
  sent or changed from inside a frame.
- The embedding page's origin comes with the first request (`?origin=`), is kept only when it is
  one of the partner's embed origins, and is the only origin the frame talks to
  (static/js/embed-frame.js): `postMessage` with that exact target origin, and messages from
  anyone else ignored. `frame-ancestors` lists the same origins, or `'none'`.
- Payment leaves the frame (Stripe Checkout refuses frames): it opens in a window of its own and
  comes back to the partner's page (`return_to`, also checked against the embed origins).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, g, has_request_context, request, session

EMBED_RE = re.compile(r"^/embed/([^/]+)(/.*)?$")
EMBED_KEY = "comptoir.embed"
ORIGIN_KEY = "embed_origin"
RETURN_KEY = "embed_return"
EVENTS_KEY = "embed_events"


def embed_cookie_name(session_cookie: str) -> str:
    return f"{session_cookie}-embed"


def _cookie_pairs(header: str) -> list[tuple[str, str]]:
    pairs = []
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            pairs.append((name, value))
    return pairs


def _embedded_set_cookie(value: str, session_cookie: str, embed_cookie: str) -> str:
    """The session's Set-Cookie, renamed to the embed cookie with the frame's attributes."""
    first, *attributes = [a.strip() for a in value.split(";")]
    _, _, cookie_value = first.partition("=")
    kept = [a for a in attributes
            if a.split("=", 1)[0].strip().lower() not in {"samesite", "secure", "partitioned"}]
    return "; ".join([f"{embed_cookie}={cookie_value}", *kept, "Secure", "SameSite=None",
                      "Partitioned"])


class EmbedMiddleware:
    """Route /embed/<slug>/… to the partner's shop in embed mode, with the frame's cookie."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], app: Flask,
                 slug_key: str) -> None:
        self.wsgi_app = wsgi_app
        self.app = app
        self.slug_key = slug_key

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = EMBED_RE.match(environ.get("PATH_INFO", ""))
        if not match:
            return self.wsgi_app(environ, start_response)
        environ[self.slug_key] = match.group(1)
        environ[EMBED_KEY] = True
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/embed/" + match.group(1)
        environ["PATH_INFO"] = match.group(2) or "/"
        session_cookie = str(self.app.config["SESSION_COOKIE_NAME"])
        embed_cookie = embed_cookie_name(session_cookie)
        pairs = _cookie_pairs(environ.get("HTTP_COOKIE", ""))
        framed = [v for n, v in pairs if n == embed_cookie]
        others = [(n, v) for n, v in pairs if n not in {session_cookie, embed_cookie}]
        if framed:
            others.append((session_cookie, framed[0]))
        environ["HTTP_COOKIE"] = "; ".join(f"{n}={v}" for n, v in others)
        prefix = session_cookie + "="

        def embedded_start(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Any:
            rewritten = [
                (name, _embedded_set_cookie(value, session_cookie, embed_cookie))
                if name.lower() == "set-cookie" and value.startswith(prefix) else (name, value)
                for name, value in headers
            ]
            return start_response(status, rewritten, exc_info)

        return self.wsgi_app(environ, embedded_start)


def is_embedded() -> bool:
    return bool(request.environ.get(EMBED_KEY))


def allowed_origin(partner: Any, value: str | None) -> str | None:
    """value when it is exactly one of the partner's embed origins, else None."""
    if not value:
        return None
    return value if value in partner.embed_origin_list else None


def allowed_return(partner: Any, url: str | None) -> str | None:
    """A page of one of the partner's embedding sites to come back to after paying, or None."""
    if not url or len(url) > 2000:
        return None
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.username:
        return None
    origin = f"{parts.scheme}://{parts.netloc.lower()}"
    return url if allowed_origin(partner, origin) else None


def remember_parent() -> None:
    """before_request in embed mode: keep the embedding page's origin (and page) if allowed."""
    if not is_embedded() or g.get("partner") is None:
        return
    origin = allowed_origin(g.partner, request.args.get("origin"))
    if origin is not None and session.get(ORIGIN_KEY) != origin:
        session[ORIGIN_KEY] = origin
    back = allowed_return(g.partner, request.args.get("return"))
    if back is not None and session.get(RETURN_KEY) != back:
        session[RETURN_KEY] = back


def parent_origin() -> str | None:
    """The embedding page's origin, if this frame has told us one the partner allows."""
    if not is_embedded() or g.get("partner") is None:
        return None
    return allowed_origin(g.partner, session.get(ORIGIN_KEY))


def return_page() -> str | None:
    if g.get("partner") is None:
        return None
    return allowed_return(g.partner, session.get(RETURN_KEY))


def note_event(name: str) -> None:
    """Tell the embedding page, at the frame's next page, that something happened here (the
    cart changed): kept in the frame's session until a page shows it."""
    if has_request_context() and is_embedded():
        events = [e for e in session.get(EVENTS_KEY, []) if e != name]
        session[EVENTS_KEY] = [*events, name]


def pending_events() -> list[str]:
    if EVENTS_KEY not in session:
        return []
    return list(session.pop(EVENTS_KEY, []))


def frame_ancestors() -> str:
    """The CSP frame-ancestors of this answer: the partner's embed origins in embed mode, and
    'none' everywhere else (shop pages, back office, reseller portal, API)."""
    partner = g.get("partner")
    if is_embedded() and partner is not None and partner.embed_origin_list:
        return " ".join(partner.embed_origin_list)
    return "'none'"


def _context() -> dict[str, Any]:
    embedded = is_embedded() if has_request_context() else False
    if not embedded:
        return {"embedded": False, "embed_parent": None, "embed_events": []}
    return {"embedded": True, "embed_parent": parent_origin(), "embed_events": pending_events()}


def init_app(app: Flask, slug_key: str) -> None:
    app.wsgi_app = EmbedMiddleware(app.wsgi_app, app, slug_key)  # type: ignore[method-assign]
    app.context_processor(_context)
