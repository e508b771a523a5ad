"""The themes an operator has installed (THEMES_DIR, one folder each): what a partner may
choose. Rendering with them is storefront/themes.py; docs/themes.md says how to make one."""

from __future__ import annotations

import json
import re
from pathlib import Path

from flask import current_app

THEME_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def themes_dir() -> Path:
    return Path(str(current_app.config["THEMES_DIR"]))


def available_themes() -> dict[str, str]:
    """The installed themes: name -> label."""
    root = themes_dir()
    found: dict[str, str] = {}
    if not root.is_dir():
        return found
    for folder in sorted(root.iterdir()):
        if not (folder / "templates").is_dir() or not THEME_NAME.match(folder.name):
            continue
        label = folder.name
        meta = folder / "theme.json"
        if meta.is_file():
            try:
                label = str(json.loads(meta.read_text(encoding="utf-8")).get("label") or label)
            except (OSError, ValueError):
                pass
        found[folder.name] = label
    return found
