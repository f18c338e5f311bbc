"""Turning raw JSON payloads into models, and pydantic's errors into :class:`InvalidPayloadError`.

Every incoming payload goes through :func:`parse_model`: a first pass over the raw JSON rejects
``null`` values (the OCPP schemas allow none) and date-times no calendar can hold, then pydantic
validates structure, types and value rules, and its first error becomes an
:class:`~smartcharge.errors.InvalidPayloadError` that names the JSON path in camelCase, the rule
and the OCPP CALLERROR code a receiver should answer with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from smartcharge.errors import InvalidPayloadError
from smartcharge.model import parse_datetime

__all__ = [
    "FORMATION",
    "OCCURRENCE",
    "PROPERTY",
    "TYPE",
    "dump",
    "format_path",
    "parse_model",
    "payload_error",
]

FORMATION = "FormationViolation"
PROPERTY = "PropertyConstraintViolation"
OCCURRENCE = "OccurrenceConstraintViolation"
TYPE = "TypeConstraintViolation"

# camelCase keys that hold an OCPP date-time in any smart-charging message (1.6 and 2.0.1)
_DATETIME_KEYS = frozenset(
    {"validFrom", "validTo", "startSchedule", "scheduleStart", "departureTime", "timeBase"}
)

M = TypeVar("M", bound=BaseModel)


def format_path(loc: Sequence[int | str]) -> str | None:
    """A JSON path from a location tuple: ``("a", 0, "b")`` -> ``"a[0].b"``; ``()`` -> ``None``.

    >>> format_path(("chargingSchedule", 0, "chargingSchedulePeriod", 3, "limit"))
    'chargingSchedule[0].chargingSchedulePeriod[3].limit'
    """
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or None


def _join(prefix: str | None, loc: Sequence[int | str]) -> str | None:
    parts: list[int | str] = [prefix] if prefix else []
    parts.extend(loc)
    return format_path(parts)


def _check_raw(value: object, loc: list[int | str], prefix: str | None) -> None:
    """Reject ``null`` anywhere (outside vendor ``customData``) and impossible date-times."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = [*loc, str(key)]
            if item is None:
                raise InvalidPayloadError(
                    "null is not allowed (leave the field out instead)",
                    path=_join(prefix, here),
                    rule="schema:type",
                    ocpp_error=TYPE,
                )
            if key in _DATETIME_KEYS and isinstance(item, str):
                try:
                    parse_datetime(item)
                except (ValueError, OverflowError) as exc:
                    raise InvalidPayloadError(
                        f"not a valid RFC 3339 date-time: {item!r}",
                        path=_join(prefix, here),
                        rule="schema:format(date-time)",
                        ocpp_error=PROPERTY,
                    ) from exc
            if key != "customData":  # vendor properties are free-form
                _check_raw(item, here, prefix)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            here = [*loc, index]
            if item is None:
                raise InvalidPayloadError(
                    "null is not allowed in an array",
                    path=_join(prefix, here),
                    rule="schema:type",
                    ocpp_error=TYPE,
                )
            _check_raw(item, here, prefix)


def payload_error(exc: ValidationError, *, prefix: str | None = None) -> InvalidPayloadError:
    """The :class:`InvalidPayloadError` for pydantic's first error in ``exc``.

    Parameters
    ----------
    exc
        The pydantic error.
    prefix
        A JSON path to put in front of the error's location (for nested payloads).
    """
    err = exc.errors(include_url=False)[0]
    kind: str = err["type"]
    loc = tuple(err["loc"])
    path = _join(prefix, loc)
    value = err.get("input")
    ctx = err.get("ctx") or {}
    message: str = err["msg"]
    if kind == "missing":
        return InvalidPayloadError(
            "required field is missing", path=path, rule="schema:required", ocpp_error=FORMATION
        )
    if kind == "extra_forbidden":
        return InvalidPayloadError(
            "unknown field (additional properties are not allowed)",
            path=path,
            rule="schema:additionalProperties",
            ocpp_error=FORMATION,
        )
    if kind in {"model_type", "dict_type", "model_attributes_type"} and not loc:
        return InvalidPayloadError(
            f"the payload must be a JSON object, got {type(value).__name__}",
            path=path,
            rule="schema:type",
            ocpp_error=FORMATION,
        )
    if kind in {"enum", "literal_error"}:
        if not isinstance(value, str):
            return InvalidPayloadError(
                f"must be a string, got {type(value).__name__}",
                path=path,
                rule="schema:type",
                ocpp_error=TYPE,
            )
        expected = ctx.get("expected", "")
        return InvalidPayloadError(
            f"{value!r} is not one of {expected}".rstrip(),
            path=path,
            rule="schema:enum",
            ocpp_error=PROPERTY,
        )
    if kind in {"too_short", "too_long"}:
        rule = "schema:minItems" if kind == "too_short" else "schema:maxItems"
        return InvalidPayloadError(message, path=path, rule=rule, ocpp_error=OCCURRENCE)
    if kind in {"string_too_long", "string_too_short"}:
        rule = "schema:maxLength" if kind == "string_too_long" else "schema:minLength"
        return InvalidPayloadError(message, path=path, rule=rule, ocpp_error=PROPERTY)
    if kind in {"greater_than_equal", "greater_than"}:
        return InvalidPayloadError(message, path=path, rule="schema:minimum", ocpp_error=PROPERTY)
    if kind in {"less_than_equal", "less_than"}:
        return InvalidPayloadError(message, path=path, rule="schema:maximum", ocpp_error=PROPERTY)
    if kind.endswith(("_type", "_parsing")) or kind in {"int_from_float", "is_instance_of"}:
        return InvalidPayloadError(
            f"{message} (got {type(value).__name__})",
            path=path,
            rule="schema:type",
            ocpp_error=TYPE,
        )
    if kind == "value_error":
        text = message.removeprefix("Value error, ")
        if "must be a string" in text:
            return InvalidPayloadError(text, path=path, rule="schema:type", ocpp_error=TYPE)
        if "date-time" in text:
            return InvalidPayloadError(
                text, path=path, rule="schema:format(date-time)", ocpp_error=PROPERTY
            )
        if "digit fraction" in text:
            return InvalidPayloadError(
                text, path=path, rule="OCPP:one-digit-fraction", ocpp_error=PROPERTY
            )
        return InvalidPayloadError(text, path=path, rule="value", ocpp_error=PROPERTY)
    if kind == "finite_number":
        return InvalidPayloadError(message, path=path, rule="value", ocpp_error=PROPERTY)
    return InvalidPayloadError(message, path=path, rule=f"pydantic:{kind}", ocpp_error=FORMATION)


def parse_model(cls: type[M], payload: object, *, prefix: str | None = None) -> M:
    """Validate a raw JSON ``payload`` (camelCase) into ``cls``.

    Raises
    ------
    InvalidPayloadError
        On a ``null``, a schema violation or a broken value rule, naming the JSON path.
    """
    if isinstance(payload, cls):
        return payload
    if not isinstance(payload, Mapping):
        raise InvalidPayloadError(
            f"the payload must be a JSON object, got {type(payload).__name__}",
            path=prefix,
            rule="schema:type",
            ocpp_error=FORMATION,
        )
    _check_raw(payload, [], prefix)
    try:
        return cls.model_validate(dict(payload), by_alias=True, by_name=False)
    except ValidationError as exc:
        raise payload_error(exc, prefix=prefix) from None



def dump(model: BaseModel) -> dict[str, Any]:
    """The official camelCase JSON of ``model`` (``None`` fields left out)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
