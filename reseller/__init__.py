"""Resellers' work, apart from the portal's pages: clients and their licences, the weekly digest
and its schedule. The portal's HTTP side is `storefront/reseller`."""
