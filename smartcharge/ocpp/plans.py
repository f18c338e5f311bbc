"""A plan in OCPP terms: the evseId of each EVSE, and the SetChargingProfileRequest payloads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from smartcharge.model import ChargingProfile
from smartcharge.ocpp.fallback import fallback_profiles
from smartcharge.ocpp.reconcile import reconcile, restamp

if TYPE_CHECKING:
    from smartcharge.optimizer import Plan, Problem

__all__ = ["initial_requests", "ocpp_evse_ids", "profile_requests"]


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


def initial_requests(plan: Plan, evse_numbers: Mapping[str, int]) -> list[dict[str, Any]]:
    """What to send to empty stations to install ``plan`` safely.

    Per EVSE, a fallback TxDefaultProfile that keeps the site within its limits with every
    station offline at once (stack level 0, :func:`smartcharge.ocpp.fallback.fallback_profiles`),
    then the plan's TxProfiles (stack level 1), all with stable ids
    (:func:`smartcharge.ocpp.reconcile.restamp`), as the SetChargingProfileRequest payloads
    :func:`smartcharge.reconcile` gives for an empty station (what ``smartcharge demo``
    writes).
    """
    desired: dict[int, list[ChargingProfile]] = {}
    for evse, profile in fallback_profiles(plan.problem, evse_ids=evse_numbers).items():
        desired.setdefault(evse_numbers[evse], []).append(profile)
    for item in plan.to_charging_profiles("A", stack_level=1):
        desired.setdefault(evse_numbers[item.evse_id], []).append(item.profile)
    messages = reconcile({}, restamp(desired))
    return [m.to_json_dict() for m in messages]
