"""The French catalogue is complete, in step with the code, and actually used by the shop."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
FRENCH_PO = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po"

# The keywords `make extract-messages` uses: Babel's defaults plus the lazy ones.
KEYWORDS: dict[str, Any] = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}

# A printf-style conversion: %(name)s, %d, %.2f, %% ...
PLACEHOLDER_RE = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]"
)


def _read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def _placeholders(text: str) -> tuple[set[str], str]:
    """The placeholders of a string, and what is left of it once they are taken out."""
    return {m.group(0) for m in PLACEHOLDER_RE.finditer(text)}, PLACEHOLDER_RE.sub("", text)


def _ids(message: Message) -> list[str]:
    return list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]


def _strings(message: Message) -> list[str]:
    if isinstance(message.string, (list, tuple)):
        return list(message.string)
    return [message.string or ""]


def _label(message: Message) -> str:
    return repr(_ids(message)[0]) + (f" (context {message.context!r})" if message.context else "")


@pytest.fixture(scope="module")
def french() -> Catalog:
    return _read(FRENCH_PO)


# --- (a) every French entry is translated, not fuzzy, and keeps its placeholders --------------


def test_french_catalogue_is_fully_translated(french: Catalog) -> None:
    entries = [m for m in french if m.id]
    assert entries, "the French catalogue is empty"
    untranslated = [_label(m) for m in entries if not all(s.strip() for s in _strings(m))]
    fuzzy = [_label(m) for m in entries if m.fuzzy]
    assert not untranslated, (
        f"{len(untranslated)} French entries have no translation:\n" + "\n".join(untranslated)
    )
    assert not fuzzy, f"{len(fuzzy)} French entries are still fuzzy:\n" + "\n".join(fuzzy)
    assert not french.fuzzy, "the French catalogue header is marked fuzzy"


def test_french_translations_keep_the_placeholders(french: Catalog) -> None:
    problems = []
    for message in french:
        if not message.id:
            continue
        expected: set[str] = set()
        for source in _ids(message):
            expected |= _placeholders(source)[0]
        for form, string in enumerate(_strings(message)):
            if not string:
                continue  # reported by the completeness test
            found, rest = _placeholders(string)
            if found != expected:
                problems.append(
                    f"{_label(message)} form {form}: {sorted(found)} instead of {sorted(expected)}"
                )
            if "%" in rest:
                # Jinja's new-style gettext always applies `%`: a lone percent sign breaks the page.
                problems.append(f"{_label(message)} form {form}: stray '%' (write '%%')")
    assert not problems, "placeholders differ from the msgid:\n" + "\n".join(problems)


# --- (b) the French catalogue holds every message the code uses ---------------------------------


def _skip_directory(dirpath: str) -> bool:
    name = os.path.basename(dirpath)
    return not (name.startswith((".", "_")) or name == "node_modules")


def _extract() -> Catalog:
    """What `pybabel extract -F babel.cfg -k _l -k lazy_gettext .` would put in messages.pot."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, str(ROOT / "babel.cfg"))
    template = Catalog()
    for filename, lineno, msgid, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, directory_filter=_skip_directory
    ):
        template.add(msgid, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def test_french_catalogue_is_up_to_date_with_the_code(french: Catalog) -> None:
    extracted = [m for m in _extract() if m.id]
    assert len(extracted) > 50, "extraction found almost nothing: is babel.cfg right?"
    missing = []
    for message in extracted:
        translated = french.get(_ids(message)[0], message.context)
        where = ", ".join(f"{path}:{line}" for path, line in message.locations[:2])
        if translated is None:
            missing.append(f"{_label(message)} ({where})")
        elif message.pluralizable and _ids(translated) != _ids(message):
            plural = _ids(message)[1]
            missing.append(f"{_label(message)} ({where}): plural {plural!r} not in the catalogue")
    assert not missing, (
        f"{len(missing)} messages used in the code are not in the French catalogue; run "
        "`make extract-messages` and translate them:\n" + "\n".join(missing)
    )


# --- (c) the shop speaks French, and English on request -----------------------------------------


def _compile_if_stale(po: Path) -> None:
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return
    catalog = _read(po)
    fd, tmp = tempfile.mkstemp(dir=po.parent, prefix=".messages-", suffix=".mo")
    try:
        with os.fdopen(fd, "wb") as f:
            write_mo(f, catalog)
        os.chmod(tmp, 0o644)
        os.replace(tmp, mo)  # atomic: a concurrent test run never reads half a file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@pytest.fixture(scope="session")
def compiled_translations() -> None:
    """Compile the catalogues like `make translations` when the .mo is missing or older."""
    for po in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        _compile_if_stale(po)


@pytest.fixture
def shop(
    compiled_translations: None,
    make_partner: Callable[..., Any],
    make_product: Callable[..., Any],
) -> str:
    partner = make_partner(products=[make_product(seats=1, seat_unit="device")])
    return f"/p/{partner.slug}"


@pytest.fixture
def fetch(client: FlaskClient) -> Iterator[Callable[..., str]]:
    def get(url: str, **kwargs: Any) -> str:
        response = client.get(url, **kwargs)
        assert response.status_code == 200, (url, response.status_code)
        return response.get_data(as_text=True)

    yield get


def test_catalogue_page_is_in_french_by_default(shop: str, fetch: Callable[..., str]) -> None:
    html = fetch(f"{shop}/products", headers={"Accept-Language": "fr"})
    assert '<html lang="fr">' in html
    for text in ("Panier", "Catalogue", "Se connecter", "Tous les produits", "1 produit", "TTC",
                 "Rechercher"):
        assert text in html, f"{text!r} missing from the French catalogue page"
    for text in ("Cart", "Sign in", "All products", "incl. VAT"):
        assert text not in html, f"English {text!r} on the French catalogue page"


def test_catalogue_page_switches_to_english(shop: str, fetch: Callable[..., str]) -> None:
    html = fetch(f"{shop}/products?lang=en", headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in html
    for text in ("Cart", "Sign in", "All products", "1 product", "incl. VAT"):
        assert text in html, f"{text!r} missing from the English catalogue page"
    assert "Panier" not in html
