"""The platform's own pages: health, shop index, payment webhooks, the dev mail page."""
