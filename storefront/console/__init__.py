"""The partner console under /partner/ on the platform's host: a partner's own staff follow
its orders and sales and manage its brand, prices within the operator's bounds, API keys,
webhooks, embed snippets and team. Never framed; every query is scoped to the member's
partner."""

from storefront.console import auth, views  # noqa: F401 - each adds its pages to the blueprint
from storefront.console.blueprint import bp

__all__ = ["bp"]
