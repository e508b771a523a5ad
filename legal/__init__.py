"""The shop's legal texts: who sells (the merchant of record), the versioned terms of sale."""
