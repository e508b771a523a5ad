"""The shop's domain core: partners, catalogue, buyers and orders, shared by storefront and fulfilment."""
