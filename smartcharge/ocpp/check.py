"""What a station would answer to SetChargingProfile payloads: CALLERROR, Rejected or nothing.

:func:`validate_requests` checks one payload or a list against the schema and value rules
(CALLERROR and its code) and then the K01 rules on a permissive station (Rejected and its
reasonCode), with every problem's JSON path into the document. It is what
``smartcharge validate`` prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smartcharge.errors import InvalidPayloadError, SmartChargeError, TranslationError
from smartcharge.model import ChargingProfile, ChargingProfilePurpose
from smartcharge.ocpp import v201
from smartcharge.ocpp._schema import format_path, parse_model
from smartcharge.validation import EVSEInfo, StationContext, conform_profile, validate_profile

__all__ = ["PayloadProblem", "validate_requests"]

_REQUEST_KEYS = frozenset({"evseId", "chargingProfile", "customData"})


@dataclass(frozen=True)
class PayloadProblem:
    """One problem found by ``smartcharge validate``.

    Attributes
    ----------
    path
        JSON path into the document (``[1].chargingProfile.stackLevel``), ``None`` = the whole.
    message
        What is wrong.
    rule
        The rule broken (``OCPP:evseId>=0``, ``K01.FR.35``, ...).
    answer
        What a station answers: ``CALLERROR <code>`` for a malformed payload, or
        ``Rejected (<reasonCode>)`` for a profile that breaks a K01 rule.
    """

    path: str | None
    message: str
    rule: str | None
    answer: str

    @classmethod
    def from_error(cls, err: SmartChargeError) -> PayloadProblem:
        """The problem of a payload error (a CALLERROR)."""
        answer = f"CALLERROR {err.ocpp_error}" if err.ocpp_error else "CALLERROR"
        return cls(err.path, err.message, err.rule, answer)

    def to_json_dict(self) -> dict[str, Any]:
        """The problem as JSON."""
        return {"path": self.path, "message": self.message, "rule": self.rule,
                "answer": self.answer}


def _payload_problem(message: str, path: str | None, rule: str, code: str) -> PayloadProblem:
    return PayloadProblem(path, message, rule, f"CALLERROR {code}")


def validate_requests(
    doc: object, *, now: datetime, version: str = "2.0.1"
) -> list[PayloadProblem]:
    """Every problem found in SetChargingProfile payloads (one object or a list).

    An object with a ``chargingProfile`` or an ``evseId`` key is a
    SetChargingProfileRequest; any other object is read as a bare ChargingProfile sent to
    EVSE 1. Each payload is checked against the schema and value rules (the models and
    :func:`smartcharge.ocpp.v201.parse_set_charging_profile_request`), then
    against the K01 rules (:func:`smartcharge.validation.validate_profile`) on a permissive
    station: every EVSE the document names exists (AC, three phases, phase switching, both
    units), a transaction runs wherever a TxProfile names one, and the payloads of a list
    are sent in order, so an accepted profile is installed and later ones can clash with it.

    With ``version="1.6"`` the payloads are OCPP 1.6 ``SetChargingProfile.req``
    (``connectorId``, ``csChargingProfiles``), read with
    :func:`smartcharge.ocpp.v16.parse_set_charging_profile_request`; the K01 rules then run
    on the 2.0.1 translation (paths in 1.6 names where the field exists in 1.6).

    Parameters
    ----------
    doc
        The parsed JSON document.
    now
        The station's clock (aware UTC), for validity periods.
    version
        ``"2.0.1"`` or ``"1.6"``.

    Returns
    -------
    list of PayloadProblem
        Empty when every payload would be accepted. Paths point into ``doc``.
    """
    items: list[tuple[str | None, object]]
    if isinstance(doc, list):
        if not doc:
            return [_payload_problem("the list is empty", None, "minItems", "FormationViolation")]
        items = [(f"[{i}]", item) for i, item in enumerate(doc)]
    else:
        items = [(None, doc)]
    parsed: list[tuple[str | None, int, ChargingProfile]] = []
    problems: list[PayloadProblem] = []
    if version not in ("2.0.1", "1.6"):
        raise TranslationError(
            f"unknown OCPP version {version!r} (2.0.1 or 1.6)", path="version", rule="enum"
        )
    for prefix, item in items:
        found, ok = _parse_one(item, prefix) if version == "2.0.1" else _parse_v16(item, prefix)
        problems.extend(found)
        if ok is not None:
            parsed.append((prefix, *ok))
    problems.extend(_check_k01(parsed, now, version))
    order = {prefix: i for i, (prefix, _) in enumerate(items)}
    if isinstance(doc, list):  # group the problems by payload, in document order
        problems.sort(key=lambda p: order.get(_item_of(p.path), 0))
    return problems


def _parse_v16(
    item: object, prefix: str | None
) -> tuple[list[PayloadProblem], tuple[int, ChargingProfile] | None]:
    from smartcharge.ocpp import v16

    try:
        request = v16.parse_set_charging_profile_request(item)
    except InvalidPayloadError as exc:
        full = format_path([p for p in (prefix, exc.path) if p])
        answer = f"CALLERROR {exc.ocpp_error}" if exc.ocpp_error else "CALLERROR"
        return [PayloadProblem(full, exc.message, exc.rule, answer)], None
    return [], (request.evse_id, request.charging_profile)


def _item_of(path: str | None) -> str | None:
    """``"[3].chargingProfile.id"`` -> ``"[3]"``."""
    if not path or not path.startswith("["):
        return None
    return path[: path.index("]") + 1]


def _parse_one(
    item: object, prefix: str | None
) -> tuple[list[PayloadProblem], tuple[int, ChargingProfile] | None]:
    def at(*parts: str) -> str | None:
        return format_path([p for p in (prefix, *parts) if p])

    if not isinstance(item, Mapping):
        return [_payload_problem(f"must be a JSON object, got {type(item).__name__}", prefix,
                                 "schema:type", "FormationViolation")], None
    if "chargingProfile" not in item and "evseId" not in item:  # a bare ChargingProfile
        try:
            return [], (1, parse_model(ChargingProfile, item, prefix=prefix))
        except InvalidPayloadError as exc:
            return [PayloadProblem.from_error(exc)], None
    problems = [
        _payload_problem("unknown field (additional properties are not allowed)", at(key),
                         "schema:additionalProperties", "FormationViolation")
        for key in sorted(set(item) - _REQUEST_KEYS)
    ]
    evse: int | None = None
    if "evseId" not in item:
        problems.append(_payload_problem("required field is missing", at("evseId"),
                                         "schema:required", "FormationViolation"))
    else:
        value = item["evseId"]
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(_payload_problem(f"must be an integer, got {type(value).__name__}",
                                             at("evseId"), "schema:type",
                                             "TypeConstraintViolation"))
        elif value < 0:
            problems.append(_payload_problem(f"must be >= 0, got {value}", at("evseId"),
                                             "OCPP:evseId>=0", "PropertyConstraintViolation"))
        else:
            evse = value
    if "chargingProfile" not in item:
        problems.append(_payload_problem("required field is missing", at("chargingProfile"),
                                         "schema:required", "FormationViolation"))
        return problems, None
    try:
        profile = parse_model(ChargingProfile, item["chargingProfile"],
                              prefix=at("chargingProfile"))
    except InvalidPayloadError as exc:
        problems.append(PayloadProblem.from_error(exc))
        return problems, None
    if problems or evse is None:
        return problems, None
    try:  # the adapter's parser: the whole request (customData, message-level rules)
        v201.parse_set_charging_profile_request(item)
    except InvalidPayloadError as exc:
        full = format_path([p for p in (prefix, exc.path) if p])
        answer = f"CALLERROR {exc.ocpp_error}" if exc.ocpp_error else "CALLERROR"
        return [PayloadProblem(full, exc.message, exc.rule, answer)], None
    return problems, (evse, profile)


def _check_k01(
    parsed: Sequence[tuple[str | None, int, ChargingProfile]], now: datetime,
    version: str = "2.0.1",
) -> list[PayloadProblem]:
    """K01 rules on a permissive station, installing accepted profiles in order."""
    evses = {e: EVSEInfo() for _, e, _ in parsed if e > 0} or {1: EVSEInfo()}
    transactions: dict[int, tuple[str, datetime]] = {}
    for _, e, p in parsed:
        if p.charging_profile_purpose is ChargingProfilePurpose.TxProfile and e > 0 and \
                p.transaction_id is not None and e not in transactions:
            transactions[e] = (p.transaction_id, now)
    installed: dict[int, list[ChargingProfile]] = {}
    problems: list[PayloadProblem] = []
    for prefix, e, p in parsed:
        ctx = StationContext(evses=evses, phase_switching=True, installed=installed,
                             transactions=transactions)
        result = validate_profile(e, p, ctx, now=now)
        if result.accepted:
            for key in installed:  # the same id replaces (K01.FR.05)
                installed[key] = [q for q in installed[key] if q.id != p.id]
            installed.setdefault(e, []).append(conform_profile(e, p, ctx))
            continue
        root, sub = "chargingProfile", result.path
        if version == "1.6":  # the same field in 1.6's names
            root = "csChargingProfiles"
            if sub == "id":
                sub = "chargingProfileId"
            elif sub is not None and sub.startswith("chargingSchedule[0]"):
                sub = "chargingSchedule" + sub[len("chargingSchedule[0]"):]
        base = format_path([part for part in (prefix, root) if part])
        path = base if sub is None else f"{base}.{sub}"
        message = result.message
        if result.path and message.startswith(f"{result.path}: "):
            message = message[len(result.path) + 2:]
        if result.rule and message.endswith(f" ({result.rule})"):
            message = message[: -len(result.rule) - 3]
        problems.append(PayloadProblem(path, message or str(result.reason), result.rule,
                                f"Rejected ({result.reason_code})"))
    return problems
