"""Parse a SetChargingProfile payload, see why a bad one is refused, and ask K01's verdict.

Run: python examples/parse_and_validate.py
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone

from smartcharge.errors import InvalidPayloadError
from smartcharge.ocpp import v201
from smartcharge.validation import EVSEInfo, StationContext, validate_profile

REQUEST = {
    "evseId": 1,
    "chargingProfile": {
        "id": 10, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [{
            "id": 1, "chargingRateUnit": "A", "startSchedule": "2024-01-01T08:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0},
                                       {"startPeriod": 1800, "limit": 10.0}]}]},
}


def main() -> None:
    # 1. the payload parses into frozen models with snake_case attributes
    request = v201.parse_set_charging_profile_request(REQUEST)
    profile = request.charging_profile
    periods = profile.charging_schedule[0].charging_schedule_period
    print(f"parsed profile {profile.id}: {profile.purpose.value}, stack level "
          f"{profile.stack_level}, limits {[p.limit for p in periods]} A")

    # 2. a malformed payload: the error names the JSON path, the rule and the CALLERROR code
    bad = copy.deepcopy(REQUEST)
    bad["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][1]["limit"] = 10.25
    try:
        v201.parse_set_charging_profile_request(bad)
    except InvalidPayloadError as err:
        print(f"refused: {err.path}: {err.message} [{err.rule}] -> CALLERROR {err.ocpp_error}")

    # 3. a well-formed profile can still break a station rule (K01): here a TxDefaultProfile
    #    clashing with an installed one of the same stack level
    station = StationContext(evses={1: EVSEInfo(), 2: EVSEInfo()})
    now = datetime(2024, 1, 1, 7, tzinfo=timezone.utc)
    verdict = validate_profile(request.evse_id, profile, station, now=now)
    print(f"on an empty station: {verdict.to_json_dict()}")
    occupied = StationContext(evses=station.evses, installed={1: [profile]})
    clash = profile.model_copy(update={"id": 11})
    verdict = validate_profile(1, clash, occupied, now=now)
    print(f"a second profile at the same level: {verdict.to_json_dict()['status']} "
          f"({verdict.reason_code}, {verdict.rule})")


if __name__ == "__main__":
    main()
