"""A plan in OCPP terms: the evseId of each EVSE, and its SetChargingProfileRequest payloads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartcharge.optimizer import Plan, Problem

__all__ = ["ocpp_evse_ids", "profile_requests"]


def ocpp_evse_ids(problem: Problem) -> dict[str, int]:
    """OCPP ``evseId`` of each EVSE of ``problem``: its id when every id is a positive
    integer (``"3"`` -> 3), else its position + 1 (problem order)."""
    ids = [e.id for e in problem.evses]
    if ids and all(i.isdigit() and int(i) > 0 for i in ids):
        return {i: int(i) for i in ids}
    return {i: k + 1 for k, i in enumerate(ids)}


def profile_requests(
    plan: Plan, evse_numbers: Mapping[str, int], unit: str = "A"
) -> list[dict[str, Any]]:
    """The SetChargingProfileRequest payloads of ``plan``: one TxProfile per session."""
    out = []
    for item in plan.to_charging_profiles(unit):  # type: ignore[arg-type]
        out.append({"evseId": evse_numbers[item.evse_id],
                    "chargingProfile": item.profile.to_json_dict()})
    return out
