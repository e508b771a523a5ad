"""The application factory and the `comptoir` command-line group."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup

import accounts
import backups
import commissions
import config
import credit
import events
import extensions
import fulfilment
import invoicing
import licensing
import partners
import payments
import storefront
import subscriptions
import webhooks
from storefront import themes


def create_app(config_mapping: Mapping[str, Any] | None = None) -> Flask:
    """Build the Comptoir app: settings, extensions, then each package in dependency order."""
    overrides = dict(config_mapping or {})
    instance_path = overrides.pop("INSTANCE_PATH", None) or os.environ.get("COMPTOIR_INSTANCE_PATH")
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    config.load(app, overrides)
    themes.init_app(app)  # before anything builds the template environment
    extensions.init_app(app)
    accounts.init_app(app)
    events.init_app(app)
    licensing.init_app(app)
    backups.init_app(app)
    fulfilment.init_app(app)
    commissions.init_app(app)
    invoicing.init_app(app)
    subscriptions.init_app(app)
    credit.init_app(app)
    storefront.init_app(app)
    payments.init_app(app)
    partners.init_app(app)
    webhooks.init_app(app)
    return app


def _app_for_commands() -> Flask:
    """The app for `comptoir` commands: settings it refuses are an error message, not a trace."""
    try:
        return create_app()
    except config.ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(cls=FlaskGroup, create_app=_app_for_commands, add_version_option=False)
def cli() -> None:
    """Comptoir: the white-label shop for downloadable Microsoft software."""
