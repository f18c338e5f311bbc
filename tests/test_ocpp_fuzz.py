"""Fuzzing the OCPP parsers with payloads generated from the official JSON schemas.

Every 2.0.1 smart-charging message of :mod:`smartcharge.ocpp.v201` and every 1.6 one of
:mod:`smartcharge.ocpp.v16`, with the schemas shipped in the ``ocpp`` package.

- Valid payloads: drawn from each action's official schema, tightened with the spec's value
  rules the models enforce (ranges of ``numberPhases``, ``stackLevel``, ``evseId``, ...) and
  projected onto one-decimal limits. (``hypothesis-jsonschema`` 0.23.1 cannot draw objects with
  the installed hypothesis 6.170 -- it calls the removed ``many.more()`` -- so a small
  schema-to-strategy walker below covers the keywords these schemas use.) Every one is
  accepted, re-serialises to a payload the official schema accepts, and parses back to the
  same model.
- Invalid payloads: one mutation of a valid payload (a required field dropped, an unknown field,
  a ``null``, a wrong type, a bad enum value, a value out of range, a string too long, too many
  or too few items, a bad date-time, a two-decimal limit). Every one raises
  ``InvalidPayloadError`` and nothing else, naming the mutated JSON path and the expected OCPP
  CALLERROR code; each mutated payload is also invalid for the (tightened) official schema
  (except where jsonschema cannot tell: one-decimal limits in 2.0.1, whose schema only says so
  in prose, and date-time formats without the optional ``rfc3339-validator``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator, Draft6Validator
from ocpp_schemas import schema

from smartcharge.errors import InvalidPayloadError
from smartcharge.model import OcppModel
from smartcharge.ocpp import v16, v201
from smartcharge.ocpp._schema import format_path

# (version, schema name): every 2.0.1 smart-charging message and every 1.6 one
CASES = [("v201", a) for a in sorted(v201.MESSAGES)] + [("v16", a) for a in sorted(v16.MESSAGES16)]
CASE_IDS = [f"{v}:{a}" for v, a in CASES]

# The spec's value rules the models enforce beyond the schema, as schema keywords.
_RANGES: dict[str, dict[str, float]] = {
    "stackLevel": {"minimum": 0},
    "startPeriod": {"minimum": 0},
    "duration": {"minimum": 0},
    "start": {"minimum": 0},
    "evseId": {"minimum": 0},
    "numberPhases": {"minimum": 1, "maximum": 3},
    "phaseToUse": {"minimum": 1, "maximum": 3},
    "amountMultiplier": {"minimum": -3, "maximum": 3},
    "limit": {"minimum": 0},
    "minChargingRate": {"minimum": 0},
    "connectorId": {"minimum": 0},  # 1.6
    "chargingSchedulePeriod": {"minItems": 1},  # 1.6 (2.0.1 says so in its schema)
}
# Bounds on generation only (not rules): limits up to 1 GW keep one-decimal rounding exact.
_GENERATION_BOUNDS: dict[str, dict[str, float]] = {
    "limit": {"maximum": 1e9},
    "minChargingRate": {"maximum": 1e9},
}
# Messages about one EV: "EvseId may not be 0".
_POSITIVE_EVSE = {
    "NotifyEVChargingNeedsRequest",
    "NotifyChargingLimitRequest",
    "NotifyEVChargingScheduleRequest",
}
_ONE_DECIMAL = {"limit", "minChargingRate"}
_MAX_ITEMS_DRAWN = 3  # keep generated arrays small (a subset of the valid space)


def _tighten(node: Any, rules: dict[str, dict[str, float]] = _RANGES) -> Any:
    if isinstance(node, dict):
        out = {k: _tighten(v, rules) for k, v in node.items()}
        props = out.get("properties")
        if isinstance(props, dict):
            for name, rule in rules.items():
                if name in props and "$ref" not in props[name]:
                    props[name] = {**props[name], **rule}
        return out
    if isinstance(node, list):
        return [_tighten(v, rules) for v in node]
    return node


def tightened(version: str, action: str) -> dict[str, Any]:
    """The official schema of ``action`` with the models' value rules added."""
    sch: dict[str, Any] = _tighten(copy.deepcopy(schema(version, action)))
    if action in _POSITIVE_EVSE:
        sch["properties"]["evseId"] = {**sch["properties"]["evseId"], "minimum": 1}
    custom = sch.get("definitions", {}).get("CustomDataType")
    if custom is not None:
        # vendor properties: non-null scalars (the models drop null vendor values on output)
        custom["additionalProperties"] = {"type": ["string", "integer", "boolean"]}
    return sch


def _generation_schema(version: str, action: str) -> dict[str, Any]:
    def cap(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: cap(v) for k, v in node.items()}
            if out.get("type") == "array":
                out["maxItems"] = min(out.get("maxItems", _MAX_ITEMS_DRAWN), _MAX_ITEMS_DRAWN)
            return out
        if isinstance(node, list):
            return [cap(v) for v in node]
        return node

    result: dict[str, Any] = cap(_tighten(tightened(version, action), _GENERATION_BOUNDS))
    return result


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = root["definitions"][name]
    return node


_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_DATETIMES = st.builds(
    lambda dt, utc_z: dt.isoformat().replace("+00:00", "Z") if utc_z else dt.isoformat(),
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=_OFFSETS
    ),
    st.booleans(),
)


def from_schema(
    root: dict[str, Any], node: dict[str, Any] | None = None, *, full: bool = False
) -> st.SearchStrategy[Any]:
    """A strategy for the JSON values ``node`` (default: the whole schema) accepts.

    ``full``: every optional property present and every array non-empty.

    Covers the keywords of the OCPP schemas: ``$ref``, ``type``, ``properties``, ``required``,
    ``additionalProperties`` (false or a schema), ``items``, ``minItems``/``maxItems``,
    ``minimum``/``maximum``, ``enum``, ``maxLength`` and ``format: date-time``.
    """
    node = _resolve(root, root if node is None else node)
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "object":
        props = node.get("properties", {})
        required = set(props if full else node.get("required", []))
        strategy: st.SearchStrategy[Any] = st.fixed_dictionaries(
            {k: from_schema(root, v, full=full) for k, v in props.items() if k in required},
            optional={
                k: from_schema(root, v, full=full) for k, v in props.items() if k not in required
            },
        )
        extra = node.get("additionalProperties", True)
        if isinstance(extra, dict):
            names = st.text("abcdefgh", min_size=1, max_size=6).filter(lambda n: n not in props)
            extras = st.dictionaries(names, from_schema(root, extra, full=full), max_size=2)
            strategy = st.builds(lambda a, b: {**b, **a}, strategy, extras)
        return strategy
    if kind == "array":
        return st.lists(
            from_schema(root, node["items"], full=full),
            min_size=max(node.get("minItems", 0), 1 if full else 0),
            max_size=node.get("maxItems", _MAX_ITEMS_DRAWN),
        )
    if kind == "integer":
        return st.integers(
            None if "minimum" not in node else int(node["minimum"]),
            None if "maximum" not in node else int(node["maximum"]),
        )
    if kind == "number":
        low, high = node.get("minimum"), node.get("maximum")
        return st.floats(low, high, allow_nan=False, allow_infinity=False) | st.integers(
            None if low is None else int(low), None if high is None else int(high)
        )
    if kind == "string":
        if node.get("format") == "date-time":
            return _DATETIMES
        return st.text(max_size=node.get("maxLength", 40))
    if kind == "boolean":
        return st.booleans()
    if isinstance(kind, list):
        return st.one_of([from_schema(root, {**node, "type": k}, full=full) for k in kind])
    raise AssertionError(f"schema keyword not covered: {node}")


def _project(value: Any) -> Any:
    """Round one-decimal fields to one decimal (still schema-valid)."""
    if isinstance(value, dict):
        return {
            k: (round(v, 1) if k in _ONE_DECIMAL and isinstance(v, float) else _project(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_project(v) for v in value]
    return value


_STRATEGIES = {case: from_schema(_generation_schema(*case)).map(_project) for case in CASES}


def is_valid(version: str, action: str, payload: Any, *, official: bool = False) -> bool:
    """Whether the (tightened, or official) schema accepts ``payload``.

    1.6 schemas say ``multipleOf: 0.1``, which jsonschema gets wrong on binary floats
    (``8.1 / 0.1``): like the ``ocpp`` package, read schema and payload with Decimal floats.
    """
    sch = schema(version, action) if official else tightened(version, action)
    if version == "v16":
        dec = json.loads(json.dumps(sch), parse_float=Decimal)
        value = json.loads(json.dumps(payload), parse_float=Decimal)
        validator: Any = Draft4Validator(dec, format_checker=Draft4Validator.FORMAT_CHECKER)
        return bool(validator.is_valid(value))
    return bool(
        Draft6Validator(sch, format_checker=Draft6Validator.FORMAT_CHECKER).is_valid(payload)
    )


def parse(version: str, action: str, payload: Any) -> OcppModel:
    return v201.parse(action, payload) if version == "v201" else v16.parse(action, payload)


# --------------------------------------------------------------------------------------------
# Valid payloads are accepted
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "action"), CASES, ids=CASE_IDS)
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_valid_payloads_are_accepted(version: str, action: str, data: st.DataObject) -> None:
    payload = data.draw(_STRATEGIES[version, action], label="payload")
    assert is_valid(version, action, payload)
    message = parse(version, action, payload)
    registry: Any = v201.MESSAGES if version == "v201" else v16.MESSAGES16
    assert type(message) is registry[action]
    out = message.to_json_dict()
    assert is_valid(version, action, out, official=True)
    assert parse(version, action, out) == message
    assert json.dumps(out, sort_keys=True) == json.dumps(
        parse(version, action, out).to_json_dict(), sort_keys=True
    )
    if version == "v201":  # the ocpp package's dataclasses carry every message unchanged
        assert isinstance(message, v201.Message)
        assert v201.from_ocpp(v201.to_ocpp(message)) == message


# --------------------------------------------------------------------------------------------
# Mutated payloads are refused with the right path and code
# --------------------------------------------------------------------------------------------

Path = tuple[int | str, ...]


def _sites(
    root: dict[str, Any], node: dict[str, Any], value: Any, path: Path
) -> Iterator[tuple[Path, dict[str, Any], Any]]:
    node = _resolve(root, node)
    yield path, node, value
    if isinstance(value, dict) and node.get("type") == "object":
        if path and path[-1] == "customData":
            props = {"vendorId": node["properties"]["vendorId"]}
        else:
            props = node.get("properties", {})
        for key, sub in props.items():
            if key in value:
                yield from _sites(root, sub, value[key], (*path, key))
    elif isinstance(value, list) and node.get("type") == "array":
        for index, item in enumerate(value):
            yield from _sites(root, node["items"], item, (*path, index))


def _set(payload: Any, path: Path, new: Any) -> Callable[[], Any]:
    """The mutation, built lazily (only the drawn one is materialised)."""
    return partial(_set_now, payload, path, new)


def _delete(payload: Any, path: Path) -> Callable[[], Any]:
    return partial(_delete_now, payload, path)


def _set_now(payload: Any, path: Path, new: Any) -> Any:
    if not path:
        return new
    out = copy.deepcopy(payload)
    target = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return out


def _delete_now(payload: Any, path: Path) -> Any:
    out = copy.deepcopy(payload)
    target = out
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return out


_WRONG_TYPE = {
    "integer": "1",
    "number": "1.0",
    "string": 12345,
    "boolean": "true",
    "array": {"item": 1},
    "object": [1],
}

Mutation = tuple[str, Any, Path, str]

# Mutations the (tightened) schema validator itself recognises as invalid: not the one-decimal
# rule (the spec's text, not its schema), and date-time formats only when jsonschema can check
# them (it needs the optional rfc3339-validator package).
_SCHEMA_CAN_TELL = {
    "not an object",
    "null",
    "drop",
    "extra field",
    "too many items",
    "no items",
    "bad enum value",
    "too long",
    "below minimum",
    "above maximum",
} | {f"wrong type ({k})" for k in _WRONG_TYPE}
if "date-time" in Draft6Validator.FORMAT_CHECKER.checkers:
    _SCHEMA_CAN_TELL.add("bad date-time")  # (name, mutated payload, expected path, expected code)


def _mutations(payload: dict[str, Any], root: dict[str, Any]) -> list[Mutation]:
    out: list[Mutation] = [
        ("not an object", partial(list, [payload]), (), "FormationViolation"),
    ]
    for path, node, value in _sites(root, root, payload, ()):
        kind = node.get("type")
        parent_is_custom = len(path) >= 1 and path[-1] == "customData"
        if path:
            out.append(("null", _set(payload, path, None), path, "TypeConstraintViolation"))
            if kind in _WRONG_TYPE:
                out.append(
                    (
                        f"wrong type ({kind})",
                        _set(payload, path, _WRONG_TYPE[kind]),
                        path,
                        "TypeConstraintViolation",
                    )
                )
        if kind == "object":
            for key in node.get("required", []):
                out.append(
                    (
                        "drop",
                        _delete(payload, (*path, key)),
                        (*path, key),
                        "FormationViolation",
                    )
                )
            if not parent_is_custom:
                out.append(
                    (
                        "extra field",
                        _set(payload, (*path, "unexpectedField"), 1),
                        (*path, "unexpectedField"),
                        "FormationViolation",
                    )
                )
        elif kind == "array":
            if "maxItems" in node:
                grown = list(value) + [value[0]] * (node["maxItems"] + 1 - len(value))
                out.append(
                    (
                        "too many items",
                        _set(payload, path, grown),
                        path,
                        "OccurrenceConstraintViolation",
                    )
                )
            if node.get("minItems", 0) >= 1:
                out.append(
                    ("no items", _set(payload, path, []), path, "OccurrenceConstraintViolation")
                )
        elif kind == "string":
            if "enum" in node:
                out.append(
                    (
                        "bad enum value",
                        _set(payload, path, "NotAValidValue"),
                        path,
                        "PropertyConstraintViolation",
                    )
                )
            if "maxLength" in node:
                out.append(
                    (
                        "too long",
                        _set(payload, path, "x" * (node["maxLength"] + 1)),
                        path,
                        "PropertyConstraintViolation",
                    )
                )
            if node.get("format") == "date-time":
                out.append(
                    (
                        "bad date-time",
                        _set(payload, path, "yesterday at noon"),
                        path,
                        "PropertyConstraintViolation",
                    )
                )
        elif kind in ("integer", "number"):
            if "minimum" in node:
                low = node["minimum"] - (1 if kind == "integer" else 0.5)
                low = int(low) if kind == "integer" else low
                out.append(
                    ("below minimum", _set(payload, path, low), path, "PropertyConstraintViolation")
                )
            if "maximum" in node:
                high = node["maximum"] + (1 if kind == "integer" else 0.5)
                high = int(high) if kind == "integer" else high
                out.append(
                    (
                        "above maximum",
                        _set(payload, path, high),
                        path,
                        "PropertyConstraintViolation",
                    )
                )
            if path and path[-1] in _ONE_DECIMAL:
                out.append(
                    ("two decimals", _set(payload, path, 8.15), path, "PropertyConstraintViolation")
                )
    return out


@pytest.mark.parametrize(("version", "action"), CASES, ids=CASE_IDS)
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_mutated_payloads_are_refused(version: str, action: str, data: st.DataObject) -> None:
    payload = data.draw(_STRATEGIES[version, action], label="payload")
    mutations = _mutations(payload, tightened(version, action))
    name, build, path, code = data.draw(st.sampled_from(mutations), label="mutation")
    bad = build()
    if name in _SCHEMA_CAN_TELL or (name == "two decimals" and version == "v16"):
        assert not is_valid(version, action, bad), (name, path)
    with pytest.raises(InvalidPayloadError) as info:
        parse(version, action, bad)
    err = info.value
    assert err.path == format_path(path), (name, str(err))
    assert err.ocpp_error == code, (name, str(err))
    assert err.rule


@pytest.mark.parametrize(("version", "action"), CASES, ids=CASE_IDS)
def test_every_mutation_kind_is_refused_for_a_fixed_payload(version: str, action: str) -> None:
    """Deterministic sweep: every mutation of one valid payload, checked exhaustively."""
    payload = _full_valid(version, action)
    parse(version, action, payload)
    mutations = _mutations(payload, tightened(version, action))
    assert len(mutations) >= 5
    for name, build, path, code in mutations:
        bad = build()
        with pytest.raises(InvalidPayloadError) as info:
            parse(version, action, bad)
        assert (info.value.path, info.value.ocpp_error) == (format_path(path), code), name


def _full_valid(version: str, action: str) -> dict[str, Any]:
    """The simplest valid payload with every optional field present (found by hypothesis)."""
    result: dict[str, Any] = find(
        from_schema(_generation_schema(version, action), full=True).map(_project),
        lambda p: True,
        settings=settings(
            database=None, max_examples=10, derandomize=True, phases=[Phase.generate]
        ),
    )
    return result


def test_the_sweep_covers_every_mutation_kind() -> None:
    kinds: set[str] = set()
    for version, action in CASES:
        kinds |= {
            m[0] for m in _mutations(_full_valid(version, action), tightened(version, action))
        }
    expected = {
        "not an object", "null", "drop", "extra field", "too many items", "no items",
        "bad enum value", "too long", "below minimum", "above maximum", "bad date-time",
        "two decimals",
    } | {f"wrong type ({k})" for k in _WRONG_TYPE}  # fmt: skip
    assert expected <= kinds, expected - kinds
