"""Access to the official OCPP JSON schemas shipped in the ``ocpp`` PyPI package (test helper)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft6Validator


@cache
def schema(version: str, action: str) -> dict[str, Any]:
    """The official schema, e.g. ``schema("v201", "SetChargingProfileRequest")``."""
    path = resources.files("ocpp") / version / "schemas" / f"{action}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def assert_valid(version: str, action: str, payload: dict[str, Any]) -> None:
    """Fail with every schema error when ``payload`` breaks the official schema of ``action``."""
    validator = Draft6Validator(
        schema(version, action), format_checker=Draft6Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
