"""Real CSMS/station pairs of the ``ocpp`` package over a loopback websocket (validation on).

Each test starts a websocket server (the CSMS) on 127.0.0.1, connects a station to it, runs
the CSMS's coroutine and stops both, all under a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import pytest

import smartcharge as sc
from smartcharge.ocpp import ProfileReports, charging_profile_reports, ocpp_errors, v16, v201

websockets = pytest.importorskip("websockets")
pytest.importorskip("ocpp")

from ocpp.exceptions import OCPPError  # noqa: E402
from ocpp.routing import after, on  # noqa: E402
from ocpp.v16 import ChargePoint as ChargePoint16  # noqa: E402
from ocpp.v16 import call as call16  # noqa: E402
from ocpp.v16.enums import Action as Action16  # noqa: E402
from ocpp.v201 import ChargePoint as ChargePoint201  # noqa: E402
from ocpp.v201 import call as call201  # noqa: E402
from ocpp.v201.enums import Action  # noqa: E402

NOW = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _quiet_ocpp_logger() -> None:
    logging.getLogger("ocpp").setLevel(logging.CRITICAL)  # it logs each CALLERROR it sends


def run_pair(
    station_cls: type[Any],
    csms_cls: type[Any],
    subprotocol: str,
    manage: Callable[[Any], Awaitable[Any]],
) -> Any:
    """Run ``manage(csms)`` against a connected ``station_cls``; bounded to 20 s."""

    async def main() -> Any:
        outcome: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def on_connect(websocket: Any) -> None:
            csms = csms_cls("CS", websocket)
            serving = asyncio.create_task(csms.start())
            try:
                outcome.set_result(await manage(csms))
            except Exception as exc:  # handed to the test
                outcome.set_exception(exc)
            finally:
                serving.cancel()

        async with asyncio.timeout(20):
            async with websockets.serve(on_connect, "127.0.0.1", 0,
                                        subprotocols=[subprotocol]) as server:  # fmt: skip
                port = server.sockets[0].getsockname()[1]
                async with websockets.connect(f"ws://127.0.0.1:{port}/CS",
                                              subprotocols=[subprotocol]) as ws:  # fmt: skip
                    station = station_cls("CS", ws)
                    running = asyncio.create_task(station.start())
                    try:
                        return await outcome
                    finally:
                        running.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await running

    return asyncio.run(main())


def tx_default(
    pid: int, amps: float, level: int = 0, purpose: str = "TxDefaultProfile"
) -> sc.ChargingProfile:
    return sc.ChargingProfile.model_validate({
        "id": pid, "stackLevel": level, "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute", "chargingSchedule": [{"id": 1,
        "chargingRateUnit": "A", "startSchedule": "2024-01-01T08:00:00Z",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps},
                                   {"startPeriod": 900, "limit": 6.5}]}]})  # fmt: skip


class Station201(ChargePoint201):  # type: ignore[misc]
    def __init__(self, id: str, connection: Any) -> None:
        super().__init__(id, connection)
        self.model = sc.ChargingStation(evses=3)
        external = tx_default(90, 20.0, purpose="ChargingStationExternalConstraints")
        assert self.model.set_external_constraints(2, external, NOW).accepted
        self.pending: list[dict[str, Any]] = []

    @on(Action.set_charging_profile)
    @ocpp_errors("2.0.1")
    def on_set(self, **kwargs: Any) -> Any:
        req = v201.from_ocpp(kwargs, action=Action.set_charging_profile)
        assert isinstance(req, v201.SetChargingProfileRequest)
        result = self.model.set_charging_profile(req.evse_id, req.charging_profile, NOW)
        return v201.to_ocpp("SetChargingProfileResponse", result.to_json_dict())

    @on(Action.get_charging_profiles)
    @ocpp_errors("2.0.1")
    def on_get_profiles(self, **kwargs: Any) -> Any:
        req = v201.from_ocpp(kwargs, action=Action.get_charging_profiles)
        response, self.pending = charging_profile_reports(self.model, req)
        return v201.to_ocpp("GetChargingProfilesResponse", response)

    @after(Action.get_charging_profiles)
    async def send_reports(self, **kwargs: Any) -> None:
        for report in self.pending:
            await self.call(v201.to_ocpp("ReportChargingProfiles", report), suppress=False)


class Csms201(ChargePoint201):  # type: ignore[misc]
    def __init__(self, id: str, connection: Any) -> None:
        super().__init__(id, connection)
        self.collector = ProfileReports(4)
        self.done = asyncio.Event()
        self.foreign = ProfileReports(5)  # another request: sees nothing

    @on(Action.report_charging_profiles)
    @ocpp_errors("2.0.1")
    def on_report(self, **kwargs: Any) -> Any:
        report = v201.from_ocpp(kwargs, action=Action.report_charging_profiles)
        self.foreign.add(report)
        if self.collector.add(report):
            self.done.set()
        return v201.to_ocpp("ReportChargingProfilesResponse", {})


def test_v201_reconcile_reports_and_callerrors_over_a_websocket() -> None:
    async def manage(csms: Csms201) -> dict[str, Any]:
        mirror = sc.ChargingStation(evses=3)
        desired = {0: [tx_default(10, 32.0, 1)], 1: [tx_default(11, 16.0)],
                   3: [tx_default(13, 10.5)]}  # fmt: skip
        counts = []
        for _ in range(3):
            messages = sc.reconcile(mirror, desired, now=NOW)
            counts.append(len(messages))
            for message in messages:
                answer = v201.from_ocpp(await csms.call(v201.to_ocpp(message), suppress=False))
                assert isinstance(answer, v201.SetChargingProfileResponse)
                assert answer.status.value == "Accepted"
                mirror = sc.ocpp.apply_messages(mirror, [message], NOW)
        await csms.call(v201.to_ocpp("GetChargingProfiles",
                                     v201.get_charging_profiles_request(4)), suppress=False)
        await csms.done.wait()
        errors = []
        # the package's schema passes these; the library refuses them with a CALLERROR
        profile = v201.to_ocpp(v201.SetChargingProfileRequest(
            evse_id=1, charging_profile=tx_default(12, 6.0))).charging_profile  # fmt: skip
        bad_limit = {**profile, "charging_schedule": [{
            **profile["charging_schedule"][0], "charging_schedule_period": [
                {"start_period": 0, "limit": 6.05}]}]}  # fmt: skip
        for bad in (call201.SetChargingProfile(evse_id=1, charging_profile=bad_limit),
                    call201.SetChargingProfile(evse_id=1, charging_profile={
                        **profile, "stack_level": -1})):  # fmt: skip
            try:
                await csms.call(bad, suppress=False)
            except OCPPError as exc:
                errors.append((exc.code, exc.details.get("path"), exc.details.get("rule")))
        return {"counts": counts, "mirror": mirror, "errors": errors,
                "reported": csms.collector.profiles, "foreign": csms.foreign.profiles,
                "source": csms.collector.source_of(90)}  # fmt: skip

    result = run_pair(Station201, Csms201, "ocpp2.0.1", manage)
    assert result["counts"] == [3, 0, 0]
    reported = result["reported"]
    assert {e: [p.id for p in ps] for e, ps in reported.items()} == {0: [10], 1: [11], 2: [90],
                                                                    3: [13]}  # fmt: skip
    assert result["source"] == sc.ChargingLimitSource.EMS
    assert result["foreign"] == {}
    # what the station reported is what the CSMS's mirror holds: nothing left to send
    assert sc.reconcile(dict(reported), {0: [tx_default(10, 32.0, 1)], 1: [tx_default(11, 16.0)],
                                         3: [tx_default(13, 10.5)]}, now=NOW) == []  # fmt: skip
    path = "chargingProfile.chargingSchedule[0].chargingSchedulePeriod[0].limit"
    assert result["errors"] == [
        ("PropertyConstraintViolation", path, "OCPP:one-digit-fraction"),
        ("PropertyConstraintViolation", "chargingProfile.stackLevel", "OCPP:stackLevel>=0"),
    ]


class Station16(ChargePoint16):  # type: ignore[misc]
    def __init__(self, id: str, connection: Any) -> None:
        super().__init__(id, connection)
        self.model = sc.ChargingStation(evses=2)
        self.kinds: list[str] = []

    @on(Action16.set_charging_profile)
    @ocpp_errors("1.6")
    def on_set(self, **kwargs: Any) -> Any:
        limit = kwargs["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][
            0]["limit"]  # fmt: skip
        self.kinds.append(type(limit).__name__)
        req = v16.from_ocpp(kwargs, action=Action16.set_charging_profile)
        assert isinstance(req, v201.SetChargingProfileRequest)
        result = self.model.set_charging_profile(req.evse_id, req.charging_profile, NOW)
        return v16.to_ocpp("SetChargingProfileResponse", {"status": result.status.value})

    @on(Action16.get_composite_schedule)
    @ocpp_errors("1.6")
    def on_composite(self, **kwargs: Any) -> Any:
        req = v16.from_ocpp(kwargs, action="GetCompositeSchedule")
        assert isinstance(req, v201.GetCompositeScheduleRequest)
        composite = self.model.composite_schedule(req.evse_id, NOW, req.duration, "A")
        return v16.to_ocpp("GetCompositeScheduleResponse",
                           v16.get_composite_schedule_response(composite))


def test_v16_decimals_both_sides_and_callerror_codes() -> None:
    async def manage(csms: ChargePoint16) -> dict[str, Any]:
        mirror = sc.ChargingStation(evses=2)
        desired = {1: [tx_default(21, 13.5)]}
        for message in sc.reconcile(mirror, desired, now=NOW):
            answer = v16.from_ocpp(await csms.call(v16.to_ocpp(message), suppress=False))
            assert isinstance(answer, v201.SetChargingProfileResponse)
            mirror = sc.ocpp.apply_messages(mirror, [message], NOW)
        result = await csms.call(v16.to_ocpp(v201.GetCompositeScheduleRequest(
            evse_id=1, duration=1800)), suppress=False)  # fmt: skip
        limits = result.charging_schedule["charging_schedule_period"]
        answer = v16.from_ocpp(result)  # the package's Decimals
        assert isinstance(answer, v201.GetCompositeScheduleResponse)
        bad = call16.SetChargingProfile(connector_id=1, cs_charging_profiles={
            **v16.to_ocpp(v201.SetChargingProfileRequest(
                evse_id=1, charging_profile=tx_default(22, 8.0))).cs_charging_profiles,
            "stack_level": -2})  # fmt: skip
        try:
            await csms.call(bad, suppress=False)
        except OCPPError as exc:
            code = (exc.code, exc.details.get("path"))
        return {"kinds": [type(p["limit"]).__name__ for p in limits], "answer": answer,
                "expected": mirror.composite_schedule(1, NOW, 1800, "A"), "code": code}

    result = run_pair(Station16, ChargePoint16, "ocpp1.6", manage)
    assert result["kinds"] == ["Decimal", "Decimal"]  # what the CSMS really received
    assert result["answer"].schedule == result["expected"]
    assert result["answer"].schedule.value_at(NOW) == 13.5
    assert result["code"] == ("PropertyConstraintViolation", "csChargingProfiles.stackLevel")
