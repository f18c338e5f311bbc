"""GetChargingProfiles both ways: the station's reports, and the CSMS collecting them (K09).

A CSMS asks a station for its installed profiles with GetChargingProfilesRequest
(``requestId`` N); the station answers Accepted (or NoProfiles) and then sends one or more
ReportChargingProfilesRequest, each holding the profiles of ONE EVSE and ONE limit source, all
but the last with ``tbc`` (to be continued) true.

- Station side, :func:`charging_profile_reports`: the response and the report payloads for a
  request, grouped by EVSE and source, from a :class:`~smartcharge.station.ChargingStation`.
- CSMS side, :class:`ProfileReports`: feed it the response and each report; it keeps those of
  its ``requestId``, knows when the last one arrived, and merges them into
  ``{evse_id: (profiles...)}``, what :func:`smartcharge.reconcile` takes as ``current``.

>>> from datetime import datetime, timezone
>>> from smartcharge.model import ChargingProfile
>>> from smartcharge.station import ChargingStation
>>> station = ChargingStation(evses=2)
>>> def default(pid: int) -> ChargingProfile:
...     return ChargingProfile.model_validate({"id": pid, "stackLevel": 0,
...         "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Relative",
...         "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
...         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}]})
>>> now = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)
>>> _ = station.set_charging_profile(1, default(11), now)
>>> _ = station.set_charging_profile(2, default(12), now)
>>> request = v201.get_charging_profiles_request(7)
>>> response, reports = charging_profile_reports(station, request)
>>> response, [(r["evseId"], r.get("tbc")) for r in reports]
({'status': 'Accepted'}, [(1, True), (2, None)])
>>> collector = ProfileReports(7)
>>> collector.answer(response)
False
>>> [collector.add(r) for r in reports]
[False, True]
>>> {e: [p.id for p in ps] for e, ps in collector.profiles.items()}
{1: [11], 2: [12]}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smartcharge.errors import InvalidPayloadError
from smartcharge.model import ChargingLimitSource, ChargingProfile
from smartcharge.ocpp import v201
from smartcharge.station import ChargingStation

__all__ = ["ProfileReports", "charging_profile_reports"]


def charging_profile_reports(
    station: ChargingStation, request: object
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The station's answer to a GetChargingProfilesRequest, and the reports that follow.

    Parameters
    ----------
    station
        The station whose installed profiles are reported.
    request
        The GetChargingProfilesRequest: a parsed model, its JSON payload, an
        ``ocpp.v201.call.GetChargingProfiles`` or (with the package) handler kwargs read by
        :func:`~smartcharge.ocpp.v201.from_ocpp`.

    Returns
    -------
    tuple
        The GetChargingProfilesResponse payload (``Accepted``, or ``NoProfiles`` when nothing
        matches) and the ReportChargingProfilesRequest payloads: one per (EVSE, limit source),
        sorted by EVSE id then source, profiles by id, ``tbc`` true on all but the last.

    Raises
    ------
    InvalidPayloadError
        When the request is invalid.
    """
    req = v201.parse_get_charging_profiles_request(request)
    crit = req.charging_profile
    found = station.get_charging_profiles(
        evse_id=req.evse_id,
        purpose=crit.charging_profile_purpose,
        stack_level=crit.stack_level,
        ids=crit.charging_profile_id,
        sources=crit.charging_limit_source,
    )
    groups: dict[tuple[int, str], list[ChargingProfile]] = {}
    for evse, profile in found:
        source = station.source_of(profile.id) or ChargingLimitSource.CSO
        groups.setdefault((evse, source.value), []).append(profile)
    if not groups:
        return v201.get_charging_profiles_response("NoProfiles"), []
    keys = sorted(groups)
    reports = [
        v201.report_charging_profiles_request(
            req.request_id,
            source,
            evse,
            sorted(groups[(evse, source)], key=lambda p: p.id),
            tbc=True if index < len(keys) - 1 else None,
        )
        for index, (evse, source) in enumerate(keys)
    ]
    return v201.get_charging_profiles_response("Accepted"), reports


class ProfileReports:
    """The CSMS side of GetChargingProfiles: collect the reports of one ``requestId``.

    Parameters
    ----------
    request_id
        The ``requestId`` of the GetChargingProfilesRequest sent.

    Attributes
    ----------
    request_id
        As given.
    done
        ``True`` once the station answered NoProfiles, or the report without ``tbc`` (or
        with ``tbc`` false) of this request arrived.
    """

    def __init__(self, request_id: int) -> None:
        if isinstance(request_id, bool) or not isinstance(request_id, int):
            raise InvalidPayloadError(
                f"requestId must be an integer, got {type(request_id).__name__}",
                path="requestId",
                rule="schema:type",
                ocpp_error="TypeConstraintViolation",
            )
        self.request_id = request_id
        self.done = False
        self._profiles: dict[int, list[ChargingProfile]] = {}
        self._sources: dict[int, ChargingLimitSource] = {}

    def answer(self, response: object) -> bool:
        """Take the GetChargingProfilesResponse; returns :attr:`done`.

        ``NoProfiles`` means no report follows: the collection is done and empty.
        ``Accepted`` means reports follow (:meth:`add`).
        """
        res = v201.parse_get_charging_profiles_response(response)
        if res.status is v201.GetChargingProfileStatus.NoProfiles:
            self.done = True
        return self.done

    def add(self, report: object) -> bool:
        """Take one ReportChargingProfilesRequest; returns :attr:`done`.

        A report of another ``requestId`` is ignored (it answers another request). A report
        after the last one is an error.

        Raises
        ------
        InvalidPayloadError
            When the report is invalid, or arrives after the last one of this request.
        """
        rep = v201.parse_report_charging_profiles_request(report)
        if rep.request_id != self.request_id:
            return self.done
        if self.done:
            raise InvalidPayloadError(
                f"a report of request {self.request_id} after its last one (tbc false)",
                path="tbc",
                rule="tbc",
                ocpp_error="PropertyConstraintViolation",
            )
        self._profiles.setdefault(rep.evse_id, []).extend(rep.charging_profile)
        for profile in rep.charging_profile:
            self._sources[profile.id] = rep.charging_limit_source
        if not rep.tbc:
            self.done = True
        return self.done

    @property
    def profiles(self) -> Mapping[int, tuple[ChargingProfile, ...]]:
        """EVSE id -> the reported profiles (by id), EVSEs sorted: ``current`` of reconcile."""
        return {
            evse: tuple(sorted(self._profiles[evse], key=lambda p: p.id))
            for evse in sorted(self._profiles)
        }

    def source_of(self, charging_profile_id: int) -> ChargingLimitSource | None:
        """The limit source a reported profile came with, or ``None`` if not reported."""
        return self._sources.get(charging_profile_id)
