"""The buyer's shop: catalogue, cart, checkout, order pages."""
