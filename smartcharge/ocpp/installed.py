"""Installed profiles per EVSE from a JSON document (the input of a composite schedule).

Two forms are accepted: an object ``{"installed": {"<evseId>": [ChargingProfile, ...]},
"transactions": {...}, "evseIds": [...]}`` or a list of SetChargingProfileRequest payloads,
installed in order. Bad input raises :class:`~smartcharge.errors.InvalidPayloadError` with
the JSON path.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from smartcharge.errors import InvalidPayloadError
from smartcharge.model import ChargingProfile, parse_datetime
from smartcharge.ocpp._schema import parse_model

__all__ = ["load_installed"]


def _evse_id(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise InvalidPayloadError(
            f"an EVSE id must be an integer >= 0, got {value!r}", path=path, rule="schema:type"
        )
    if value < 0:
        raise InvalidPayloadError(
            f"an EVSE id must be >= 0, got {value}", path=path, rule="OCPP:evseId>=0"
        )
    return value


def _profile_list(value: object, path: str) -> list[ChargingProfile]:
    if not isinstance(value, list):
        raise InvalidPayloadError("must be a list of ChargingProfiles", path=path, rule="type")
    return [parse_model(ChargingProfile, item, prefix=f"{path}[{i}]") for i, item in
            enumerate(value)]


def load_installed(
    doc: object,
) -> tuple[dict[int, list[ChargingProfile]], dict[int, tuple[str, datetime]], list[int] | None]:
    """Read a composite-schedule input document.

    Two forms are accepted:

    - an object ``{"installed": {"<evseId>": [ChargingProfile, ...], ...},
      "transactions": {"<evseId>": {"transactionId": "...", "startTime": "..."}},
      "evseIds": [1, 2]}`` (``transactions`` and ``evseIds`` optional);
    - a list of SetChargingProfileRequest payloads ``[{"evseId": n, "chargingProfile":
      {...}}, ...]``, installed in order.

    Returns
    -------
    installed, transactions, evse_ids
    """
    installed: dict[int, list[ChargingProfile]] = {}
    transactions: dict[int, tuple[str, datetime]] = {}
    evse_ids: list[int] | None = None
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            if not isinstance(item, Mapping):
                raise InvalidPayloadError(
                    "must be an object {evseId, chargingProfile}", path=f"[{i}]", rule="type"
                )
            if "evseId" not in item or "chargingProfile" not in item:
                raise InvalidPayloadError(
                    "needs evseId and chargingProfile", path=f"[{i}]", rule="schema:required"
                )
            evse = _evse_id(item["evseId"], f"[{i}].evseId")
            profile = parse_model(ChargingProfile, item["chargingProfile"],
                                  prefix=f"[{i}].chargingProfile")
            installed.setdefault(evse, []).append(profile)
        return installed, transactions, evse_ids
    if not isinstance(doc, Mapping):
        raise InvalidPayloadError(
            "the document must be an object with 'installed' or a list of "
            "{evseId, chargingProfile}", rule="type"
        )
    unknown = sorted(set(doc) - {"installed", "transactions", "evseIds"})
    if unknown:
        raise InvalidPayloadError(
            f"unknown key {unknown[0]!r} (expected installed, transactions, evseIds)",
            path=unknown[0], rule="format",
        )
    raw = doc.get("installed")
    if not isinstance(raw, Mapping):
        raise InvalidPayloadError(
            "must be an object mapping EVSE ids to lists of ChargingProfiles",
            path="installed", rule="format",
        )
    for key, profiles in raw.items():
        evse = _evse_id(key, f"installed.{key}")
        installed[evse] = _profile_list(profiles, f"installed.{key}")
    raw_tx = doc.get("transactions", {})
    if not isinstance(raw_tx, Mapping):
        raise InvalidPayloadError("must be an object", path="transactions", rule="format")
    for key, tx in raw_tx.items():
        evse = _evse_id(key, f"transactions.{key}")
        path = f"transactions.{key}"
        if not isinstance(tx, Mapping) or not isinstance(tx.get("transactionId"), str):
            raise InvalidPayloadError(
                "must be {transactionId: string, startTime: date-time}", path=path,
                rule="format",
            )
        try:
            started = parse_datetime(tx.get("startTime"))
        except (ValueError, OverflowError):
            raise InvalidPayloadError(
                "not an RFC 3339 date-time", path=f"{path}.startTime", rule="format"
            ) from None
        transactions[evse] = (tx["transactionId"], started)
    if "evseIds" in doc:
        ids = doc["evseIds"]
        if not isinstance(ids, list):
            raise InvalidPayloadError("must be a list of integers", path="evseIds", rule="type")
        evse_ids = [_evse_id(v, f"evseIds[{i}]") for i, v in enumerate(ids)]
    return installed, transactions, evse_ids
