"""The shop's domain core shared by storefront and fulfilment: partners, catalogue, orders."""
