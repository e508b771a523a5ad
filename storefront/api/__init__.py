"""The partner order API: API keys, catalogue and orders as JSON under /api/v1."""
