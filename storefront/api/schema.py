"""The OpenAPI document, loaded once, and validation of requests and responses against it."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT = Path(__file__).with_name("openapi.yaml")
BASE_URI = "urn:comptoir:api:openapi"
JSON = "application/json"
METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Violation:
    """Where a value breaks the document, and how."""

    field: str
    message: str


@functools.cache
def document() -> dict[str, Any]:
    """Return the OpenAPI document (read from disk once per process)."""
    with DOCUMENT.open(encoding="utf-8") as fh:
        loaded: dict[str, Any] = yaml.safe_load(fh)
    return loaded


@functools.cache
def _registry() -> Registry:  # type: ignore[type-arg]
    resource = Resource(contents=document(), specification=DRAFT202012)
    return Registry().with_resource(BASE_URI, resource)  # type: ignore[no-any-return]


@functools.cache
def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": f"{BASE_URI}#{pointer}"},
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _pointer(*parts: str) -> str:
    return "".join("/" + quote(p.replace("~", "~0").replace("/", "~1"), safe="~") for p in parts)


@functools.cache
def operations() -> dict[str, tuple[str, str]]:
    """Return each operationId's path and method."""
    found: dict[str, tuple[str, str]] = {}
    for path, item in document()["paths"].items():
        for method in METHODS:
            if method in item:
                found[item[method]["operationId"]] = (path, method)
    return found


def operation(operation_id: str) -> dict[str, Any]:
    """Return the operation object of an operationId."""
    path, method = operations()[operation_id]
    op: dict[str, Any] = document()["paths"][path][method]
    return op


def needs_key(operation_id: str) -> bool:
    """Say whether an operation requires the partner API key."""
    security = operation(operation_id).get("security", document().get("security", []))
    return bool(security)


def has_json_body(operation_id: str) -> bool:
    """Say whether an operation takes a JSON request body."""
    return JSON in operation(operation_id).get("requestBody", {}).get("content", {})


def check_body(operation_id: str, body: Any) -> Violation | None:
    """Return the first way a request body breaks its schema, or None."""
    path, method = operations()[operation_id]
    pointer = _pointer("paths", path, method, "requestBody", "content", JSON, "schema")
    return _first_violation(_validator(pointer).iter_errors(body))


def check_headers(operation_id: str, headers: Mapping[str, str]) -> Violation | None:
    """Return the first header parameter that breaks its schema (or is missing), or None."""
    for param in operation(operation_id).get("parameters", []):
        param = _resolve(param)
        if param["in"] != "header":
            continue
        name = param["name"]
        value = headers.get(name)
        if value is None:
            if param.get("required"):
                return Violation(name, f"the {name} header is required")
            continue
        error = best_match(Draft202012Validator(param["schema"]).iter_errors(value))
        if error is not None:
            return Violation(name, f"the {name} header {_plain(error)}")
    return None


def check_response(operation_id: str, status: int, body: Any) -> str | None:
    """Return why a JSON response breaks the document, or None when it conforms."""
    path, method = operations()[operation_id]
    responses = operation(operation_id)["responses"]
    key = str(status) if str(status) in responses else "default"
    if key not in responses:
        return f"{method.upper()} {path}: status {status} is not documented"
    response = responses[key]
    if "$ref" in response:
        pointer = response["$ref"].removeprefix("#") + _pointer("content", JSON, "schema")
        response = _resolve(response)
    else:
        pointer = _pointer("paths", path, method, "responses", key, "content", JSON, "schema")
    if JSON not in response.get("content", {}):
        return f"{method.upper()} {path}: status {status} documents no JSON body"
    violation = _first_violation(_validator(pointer).iter_errors(body))
    if violation is None:
        return None
    return f"{method.upper()} {path} {status}: {violation.field or '(body)'}: {violation.message}"


def _resolve(obj: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in obj:
        return obj
    target: Any = document()
    for part in obj["$ref"].removeprefix("#/").split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    resolved: dict[str, Any] = target
    return resolved


def _first_violation(errors: Iterable[ValidationError]) -> Violation | None:
    error = best_match(errors)
    if error is None:
        return None
    parts: list[str | int] = list(error.absolute_path)
    message = _plain(error)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = next((p for p in error.validator_value if p not in error.instance), None)
        if missing is not None:
            parts.append(missing)
            message = "this field is required"
    elif error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(
        error.instance, dict
    ):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = sorted(p for p in error.instance if p not in known)
        if extra:
            parts.append(extra[0])
            message = "this field is not part of the API"
    return Violation(field_path(parts), message)


def _plain(error: ValidationError) -> str:
    if error.validator == "pattern":
        return "is not in the expected format"
    if error.validator == "format":
        return f"is not a valid {error.validator_value}"
    return error.message


def field_path(parts: Iterable[str | int]) -> str:
    """Write a JSON path the way a developer reads it: lines[0].quantity."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
