"""Subscriptions: Microsoft 365 sold monthly or annually per user, renewed, changed and ended."""
