"""Buyer accounts: sign up, sign in, order history, claiming a guest order."""
