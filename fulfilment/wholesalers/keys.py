"""Microsoft product keys: the 5x5 format, validation, normalisation and masking."""

from __future__ import annotations

import re

ALPHABET = "BCDFGHJKMPQRTVWXY2346789"
PRODUCT_KEY_RE = re.compile(rf"[{ALPHABET}]{{5}}(?:-[{ALPHABET}]{{5}}){{4}}")


def is_valid_product_key(value: object) -> bool:
    """Say whether value is a product key in the 5x5 format, upper case, with dashes."""
    return isinstance(value, str) and PRODUCT_KEY_RE.fullmatch(value) is not None


def normalize_product_key(value: str) -> str:
    """Turn a key as a person types it (spaces, lower case, no dashes) into the 5x5 form."""
    compact = re.sub(r"[\s-]", "", value).upper()
    key = "-".join(compact[i : i + 5] for i in range(0, len(compact), 5))
    if not is_valid_product_key(key):
        raise ValueError("not a product key in the 5x5 format")
    return key


def mask_product_key(key: str) -> str:
    """Hide all but the last group of a key, for logs and support screens."""
    return "XXXXX-XXXXX-XXXXX-XXXXX-" + key[-5:]
