"""HTTP plumbing shared by the adapters: one session, timeouts, retries with full jitter."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self, TypeVar

import requests

from fulfilment.wholesalers.base import TemporaryWholesalerError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter: sleep uniform(0, min(cap, base * 2**n))."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, retry: int) -> float:
        """Return the pause before retry number `retry` (0 for the first retry)."""
        return self.rng.uniform(0, min(self.max_delay, self.base_delay * 2**retry))


@dataclass(frozen=True)
class Answer:
    """An HTTP answer below 500, read whole."""

    status: int
    body: bytes
    content_type: str


class HttpClient:
    """One wholesaler's base URL, session, credentials and timeouts; one request per call."""

    def __init__(self, base_url: str, *, connect_timeout: float, read_timeout: float,
                 headers: Mapping[str, str] | None = None,
                 auth: tuple[str, str] | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        self.session.headers.update(headers or {})
        if auth is not None:
            self.session.auth = auth

    def send(self, method: str, path: str, *, body: bytes | None = None,
             content_type: str | None = None) -> Answer:
        """Send once; raise TemporaryWholesalerError on a 5xx, a timeout or a broken connection."""
        headers = {"Content-Type": content_type} if content_type else {}
        what = f"{method} {path}"
        try:
            response = self.session.request(method, self.base_url + path, data=body,
                                            headers=headers, timeout=self.timeout,
                                            allow_redirects=False)
        except requests.ConnectTimeout as exc:
            raise TemporaryWholesalerError(f"{what}: connection timed out") from exc
        except requests.Timeout as exc:
            raise TemporaryWholesalerError(f"{what}: no answer in time", code="timeout",
                                           maybe_applied=True) from exc
        except requests.RequestException as exc:
            raise TemporaryWholesalerError(f"{what}: connection failed ({type(exc).__name__})",
                                           maybe_applied=True) from exc
        with response:
            if response.status_code >= 500:
                raise TemporaryWholesalerError(f"{what}: answered {response.status_code}",
                                               status=response.status_code)
            return Answer(response.status_code, response.content,
                          response.headers.get("Content-Type", ""))

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()


def with_retries(policy: RetryPolicy, what: str, attempt: Callable[[], T], *,
                 recover: Callable[[], T | None] | None = None) -> T:
    """Run attempt until it succeeds, retrying temporary errors only.

    After an attempt that may have reached the wholesaler (a timeout, a dropped connection),
    recover is asked first (e.g. fetch the order) and its answer, when not None, wins.
    """
    uncertain = False
    last: TemporaryWholesalerError | None = None
    for n in range(max(1, policy.attempts)):
        if n:
            policy.sleep(policy.delay(n - 1))
        try:
            if uncertain and recover is not None:
                found = recover()
                if found is not None:
                    log.info("%s: found after an uncertain attempt, not sent again", what)
                    return found
                uncertain = False
            return attempt()
        except TemporaryWholesalerError as exc:
            last = exc
            uncertain = uncertain or exc.maybe_applied
            log.warning("%s: attempt %d of %d failed: %s", what, n + 1, policy.attempts, exc)
    assert last is not None
    raise TemporaryWholesalerError(f"{what}: gave up after {policy.attempts} attempts: {last}",
                                   status=last.status, code=last.code,
                                   maybe_applied=uncertain) from last


class HttpAdapter:
    """What both adapters share: an HttpClient, a RetryPolicy, and closing."""

    code = ""

    def __init__(self, client: HttpClient, retry: RetryPolicy):
        self.client = client
        self.retry = retry

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
