"""Turning raw JSON payloads into models, and pydantic's errors into :class:`InvalidPayloadError`.

Every incoming payload goes through :func:`parse_model`: a first pass over the raw JSON rejects
``null`` values (the OCPP schemas allow none) and date-times no calendar can hold, then pydantic
validates structure, types and value rules, and its first error becomes an
:class:`~smartcharge.errors.InvalidPayloadError` that names the JSON path in camelCase, the rule
and the OCPP CALLERROR code a receiver should answer with.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from smartcharge.errors import InvalidPayloadError
from smartcharge.model import parse_datetime

__all__ = [
    "FORMATION",
    "OCCURRENCE",
    "PROPERTY",
    "SCHEMA_BOUNDED_V21",
    "SCHEMA_BOUNDED_V201",
    "TYPE",
    "dump",
    "format_path",
    "parse_model",
    "payload_error",
    "plain_json",
]

FORMATION = "FormationViolation"
PROPERTY = "PropertyConstraintViolation"
OCCURRENCE = "OccurrenceConstraintViolation"
TYPE = "TypeConstraintViolation"

# camelCase keys that hold an OCPP date-time in any smart-charging message (1.6 and 2.0.1)
_DATETIME_KEYS = frozenset(
    {"validFrom", "validTo", "startSchedule", "scheduleStart", "departureTime", "timeBase"}
)

# fields whose bounds the official 2.0.1 JSON schemas state (``minimum``/``maximum``); the
# bounds of every other field (stackLevel, evseId, duration, numberPhases, ...) are the spec's
# own rules, stated in its text, and are labelled ``OCPP:<field>>=<bound>``
SCHEMA_BOUNDED_V201 = frozenset({"ePriceLevel", "stateOfCharge", "fullSoC", "bulkSoC"})
"""The fields the official 2.0.1 smart-charging schemas bound (``minimum`` / ``maximum``)."""
SCHEMA_BOUNDED_V21 = frozenset(
    {
        "bulkSoC", "carbonDioxideEmission", "dischargeLimit", "dischargeLimit_L2",
        "dischargeLimit_L3", "ePriceLevel", "evseId", "fullSoC", "id", "maxScheduleTuples",
        "numEPriceLevels", "numberOfPriceLevels", "numberPhases", "phaseToUse", "priceLevel",
        "priceScheduleID", "priceScheduleId", "randomizedDelay",
        "renewableGenerationPercentage", "selectedChargingScheduleId", "signatureId", "soc",
        "stackLevel", "stateOfCharge", "targetSoC", "taxRuleID",
    }
)  # fmt: skip
"""The fields the official 2.1 smart-charging schemas bound (1.6's bound none)."""

# a snake_case key (``evse_id``); OCPP's keys are camelCase, 2.1's per-phase ones ``limit_L2``
_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")

M = TypeVar("M", bound=BaseModel)


def plain_json(value: object) -> Any:
    """``value`` with every :class:`~decimal.Decimal` made a JSON number (int or float).

    The ``ocpp`` package re-reads some OCPP 1.6 payloads with ``parse_float=Decimal`` to check
    their one-digit fractions, and hands those Decimals on to handlers and ``call()`` results.
    A Decimal written without a fraction (``Decimal("16")``) becomes an ``int``, any other one
    a ``float``, as the JSON text it came from would read. Mappings become dicts, tuples lists.

    >>> plain_json({"limit": Decimal("10.5"), "startPeriod": Decimal("60"), "x": [Decimal("1.0")]})
    {'limit': 10.5, 'startPeriod': 60, 'x': [1.0]}
    """
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        if value.is_finite() and isinstance(exponent, int) and exponent >= 0:
            return int(value)
        return float(value)
    if isinstance(value, Mapping):
        return {key: plain_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(item) for item in value]
    return value


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


def _has_decimal(value: object) -> bool:
    if isinstance(value, Decimal):
        return True
    if isinstance(value, Mapping):
        return any(_has_decimal(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_decimal(item) for item in value)
    return False


def _check_raw(value: object, loc: list[int | str], prefix: str | None) -> bool:
    """Reject ``null`` and snake_case keys anywhere (outside vendor ``customData``) and
    impossible date-times; return whether a :class:`~decimal.Decimal` number was seen.

    Paths are built only for an error: the walk allocates nothing else.
    """
    seen = False
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and "_" in key and _SNAKE.fullmatch(key):
                raise InvalidPayloadError(
                    f"unknown field {key!r}: OCPP keys are camelCase; snake_case keys look like "
                    "the keyword arguments of an ocpp package handler: read those with "
                    "from_ocpp(kwargs, action=...)",
                    path=_join(prefix, [*loc, key]),
                    rule="schema:additionalProperties",
                    ocpp_error=FORMATION,
                )
            if item is None:
                raise InvalidPayloadError(
                    "null is not allowed (leave the field out instead)",
                    path=_join(prefix, [*loc, str(key)]),
                    rule="schema:type",
                    ocpp_error=TYPE,
                )
            if key in _DATETIME_KEYS and isinstance(item, str):
                try:
                    parse_datetime(item)
                except (ValueError, OverflowError) as exc:
                    raise InvalidPayloadError(
                        f"not a valid RFC 3339 date-time: {item!r}",
                        path=_join(prefix, [*loc, str(key)]),
                        rule="schema:format(date-time)",
                        ocpp_error=PROPERTY,
                    ) from exc
            if isinstance(item, Decimal):
                seen = True
            elif key == "customData":  # vendor properties are free-form
                seen = seen or _has_decimal(item)
            elif isinstance(item, (Mapping, list, tuple)):
                seen = _check_raw(item, [*loc, str(key)], prefix) or seen
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if item is None:
                raise InvalidPayloadError(
                    "null is not allowed in an array",
                    path=_join(prefix, [*loc, index]),
                    rule="schema:type",
                    ocpp_error=TYPE,
                )
            if isinstance(item, Decimal):
                seen = True
            elif isinstance(item, (Mapping, list, tuple)):
                seen = _check_raw(item, [*loc, index], prefix) or seen
    return seen


_BOUNDS = {
    "greater_than_equal": ("minimum", ">=", "ge"),
    "greater_than": ("exclusiveMinimum", ">", "gt"),
    "less_than_equal": ("maximum", "<=", "le"),
    "less_than": ("exclusiveMaximum", "<", "lt"),
}


def _bound_rule(
    kind: str,
    loc: Sequence[int | str],
    ctx: Mapping[str, object],
    bounded: frozenset[str] = SCHEMA_BOUNDED_V201,
) -> str:
    """``schema:minimum`` where the official schema states the bound, else the spec's rule.

    >>> _bound_rule("greater_than_equal", ("chargingProfile", "stackLevel"), {"ge": 0})
    'OCPP:stackLevel>=0'
    >>> _bound_rule("less_than_equal", ("chargingNeeds", "x", "fullSoC"), {"le": 100})
    'schema:maximum'
    """
    keyword, sign, key = _BOUNDS[kind]
    field = next((part for part in reversed(loc) if isinstance(part, str)), "value")
    if field in bounded:
        return f"schema:{keyword}"
    return f"OCPP:{field}{sign}{ctx.get(key, '')}"


def payload_error(
    exc: ValidationError,
    *,
    prefix: str | None = None,
    bounded: frozenset[str] = SCHEMA_BOUNDED_V201,
) -> InvalidPayloadError:
    """The :class:`InvalidPayloadError` for pydantic's first error in ``exc``.

    Parameters
    ----------
    exc
        The pydantic error.
    prefix
        A JSON path to put in front of the error's location (for nested payloads).
    bounded
        The fields whose bounds the official schema states (``schema:minimum``); the
        bounds of the others are labelled as the spec's own rule, ``OCPP:<field>>=<n>``.
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
    if kind in _BOUNDS:
        return InvalidPayloadError(
            message, path=path, rule=_bound_rule(kind, loc, ctx, bounded), ocpp_error=PROPERTY
        )
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


def parse_model(
    cls: type[M],
    payload: object,
    *,
    prefix: str | None = None,
    bounded: frozenset[str] = SCHEMA_BOUNDED_V201,
) -> M:
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
    data: dict[str, Any] = (
        plain_json(payload) if _check_raw(payload, [], prefix) else dict(payload)
    )
    try:
        return cls.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise payload_error(exc, prefix=prefix, bounded=bounded) from None


def dump(model: BaseModel) -> dict[str, Any]:
    """The official camelCase JSON of ``model`` (``None`` fields left out)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
