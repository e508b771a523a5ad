"""The operator's back office."""

from storefront.backoffice import backups  # noqa: F401 - adds the backup pages to the blueprint
