"""Themes: folders of template overrides an operator installs, chosen per partner.

A theme is `THEMES_DIR/<name>/` with `templates/` (overrides, same paths as the app's own
templates) and optionally `static/` (served at /themes/<name>/static/…) and `theme.json`
(`{"label": "…"}`). When a partner's shop renders a template, the theme's file of that name is
used if there is one, else the app's. A theme's file overrides block by block by extending the
base template under its `base/` name, e.g. `{% extends "base/storefront/base.html" %}`, and
redefining only the blocks it changes; everything it leaves alone comes from the base.

Templates are looked up by a name that carries the theme (`theme/<name>/<path>`), so Jinja's
template cache holds each theme's version apart, and choosing another theme for a partner takes
effect at its next page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, abort, g, has_request_context, send_from_directory
from flask.templating import Environment
from jinja2 import BaseLoader, ChoiceLoader, PrefixLoader, TemplateNotFound

from partners.themes import THEME_NAME, themes_dir

THEME_PREFIX = "theme/"
BASE_PREFIX = "base/"


def current_theme() -> str | None:
    if not has_request_context():
        return None
    partner = g.get("partner")
    theme = getattr(partner, "theme", None) if partner is not None else None
    return theme if theme and THEME_NAME.match(theme) else None


class ThemeLoader(BaseLoader):
    """`theme/<name>/<path>` from `THEMES_DIR/<name>/templates/<path>` (of the current app)."""

    @staticmethod
    def _file(theme: str, path: str) -> Path | None:
        if not THEME_NAME.match(theme) or not path or ".." in Path(path).parts:
            return None
        return themes_dir() / theme / "templates" / path

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
        name, _, path = template.partition("/")
        file = self._file(name, path)
        if file is None or not file.is_file():
            raise TemplateNotFound(template)
        if not file.is_file():
            raise TemplateNotFound(template)
        mtime = file.stat().st_mtime
        return file.read_text(encoding="utf-8"), str(file), \
            lambda: file.is_file() and file.stat().st_mtime == mtime

    def has(self, theme: str, template: str) -> bool:
        file = self._file(theme, template)
        return file is not None and file.is_file()


class ThemedEnvironment(Environment):
    """Flask's environment, asking the current partner's theme first for every template (pages,
    `extends`, `include`, `import`)."""

    themes = ThemeLoader()

    def get_template(self, name: Any, parent: str | None = None,
                     globals: Any = None) -> Any:  # noqa: A002 - Jinja's own name
        if isinstance(name, str) and not name.startswith((THEME_PREFIX, BASE_PREFIX)):
            theme = current_theme()
            if theme is not None and self.themes.has(theme, name):
                name = f"{THEME_PREFIX}{theme}/{name}"
        return super().get_template(name, parent, globals)


def init_app(app: Flask) -> None:
    """Give the app its themed template environment and the themes' static files."""
    if not app.config.get("THEMES_DIR"):
        app.config["THEMES_DIR"] = str(Path(app.root_path) / "themes")
    app.jinja_environment = ThemedEnvironment  # type: ignore[assignment]
    base = app.jinja_loader
    assert base is not None
    app.jinja_loader = ChoiceLoader([  # type: ignore[assignment]
        PrefixLoader({"theme": ThemedEnvironment.themes, "base": base}, delimiter="/"),
        base,
    ])

    @app.get("/themes/<name>/static/<path:filename>")
    def theme_static(name: str, filename: str) -> Any:
        if not THEME_NAME.match(name):
            abort(404)
        return send_from_directory(themes_dir() / name / "static", filename, max_age=3600)
