"""The partner order API's domain: API keys, remembered idempotent answers, orders placed by
partners' systems, and the `partners` commands. Its HTTP side is `storefront/api`."""
