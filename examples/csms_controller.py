"""A CSMS on the ``ocpp`` package, with smartcharge's site controller as its planner.

Two stations (also ``ocpp`` package clients) connect over loopback websockets: ``cs201``
speaks OCPP 2.0.1 (two EVSEs), ``cs16`` speaks 1.6 (one connector). Every message a station
sends becomes controller events (``events_from_ocpp``); every request the controller
returns is sent, one at a time per station, and its result (Accepted / Rejected / CALLERROR
/ timeout) goes back to the controller. The site: a 40 A grid connection.

The script binds 127.0.0.1 on a free port, runs a few seconds and stops itself.

Run: ``python examples/csms_controller.py``
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import datetime, timezone
from typing import Any, ClassVar

from ocpp.charge_point import camel_to_snake_case
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

import smartcharge as sc
from smartcharge.controller import Request, RequestResult, StationDisconnected, events_from_ocpp

SITE = sc.Site.model_validate({
    "nodes": [{"id": "grid", "max_current_a": 40}],
    "stations": [
        {"id": "cs201", "protocol": "2.0.1", "evses": [
            {"evse_id": 1, "node": "grid", "max_current_a": 32},
            {"evse_id": 2, "node": "grid", "max_current_a": 32}]},
        {"id": "cs16", "protocol": "1.6", "evses": [
            {"evse_id": 1, "node": "grid", "max_current_a": 32}]},
    ]})
RUN_S = 3.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _summary(req: Request) -> str:
    """``TxProfile evse 1: 27.9 A`` (the first limit) of a SetChargingProfile request."""
    if req.protocol == "1.6":
        prof, evse = req.payload["csChargingProfiles"], req.payload["connectorId"]
        sched = prof["chargingSchedule"]
    else:
        prof, evse = req.payload["chargingProfile"], req.payload["evseId"]
        sched = prof["chargingSchedule"][0]
    first = sched["chargingSchedulePeriod"][0]["limit"]
    return f"{prof['chargingProfilePurpose']} evse {evse}: {first} A"


# ---- the CSMS ------------------------------------------------------------------------------


class Csms:
    """The controller plus one outbox per station (requests go one at a time, in order)."""

    def __init__(self) -> None:
        self.controller = sc.Controller(SITE, sc.ControllerConfig(step_s=300, horizon_s=7200))
        self.links: dict[str, Any] = {}
        self.outbox: dict[str, asyncio.Queue[Request]] = {}
        self.last = datetime.now(timezone.utc)
        self.sent = 0

    def now(self) -> datetime:
        self.last = max(self.last, datetime.now(timezone.utc))  # time never goes backwards
        return self.last

    def feed(self, station_id: str, action: str, payload: dict[str, Any],
             transaction_id: str | None = None) -> None:
        protocol = SITE.station(station_id).protocol
        for event in events_from_ocpp(station_id, protocol, action, payload,
                                      transaction_id=transaction_id):
            self.post(self.controller.handle(event, self.now()))

    def post(self, requests: list[Request]) -> None:
        for req in requests:
            self.outbox[req.station_id].put_nowait(req)

    async def sender(self, station_id: str) -> None:
        link, queue = self.links[station_id], self.outbox[station_id]
        while True:
            req = await queue.get()
            if req.protocol == "1.6":
                payload: Any = call16.SetChargingProfile(
                    connector_id=req.payload["connectorId"],
                    cs_charging_profiles=camel_to_snake_case(req.payload["csChargingProfiles"]))
            else:
                payload = call201.SetChargingProfile(
                    evse_id=req.payload["evseId"],
                    charging_profile=camel_to_snake_case(req.payload["chargingProfile"]))
            try:
                answer = await link.call(payload, suppress=False)
                outcome = "Accepted" if answer.status == "Accepted" else "Rejected"
            except asyncio.TimeoutError:
                outcome = "Timeout"
            except Exception:  # a CALLERROR from the station
                outcome = "Error"
            self.sent += 1
            print(f"csms -> {station_id} ({req.protocol}) {req.correlation_id} "
                  f"{_summary(req)}: {outcome}")
            self.post(self.controller.handle(RequestResult(req.correlation_id, outcome),
                                             self.now()))


def _csms_side(csms: Csms, cls: type[Any], station_id: str, connection: ServerConnection) -> Any:
    """The ``ocpp`` ChargePoint object of one station, feeding every CALL to the controller."""
    tx_ids = itertools.count(1)

    class Link(cls):  # type: ignore[misc, valid-type]
        async def _handle_call(self, msg: Any) -> None:
            await super()._handle_call(msg)  # answer the station first
            tid = str(self.last_tx) if msg.action == "StartTransaction" else None
            csms.feed(station_id, msg.action, msg.payload, transaction_id=tid)

        @on("BootNotification")
        def boot(self, **_: Any) -> Any:
            result = result16 if cls is ChargePoint16 else result201
            return result.BootNotification(current_time=_now(), interval=60,
                                           status="Accepted")

        @on("Heartbeat")
        def heartbeat(self, **_: Any) -> Any:
            result = result16 if cls is ChargePoint16 else result201
            return result.Heartbeat(current_time=_now())

        @on("MeterValues")
        def meter_values(self, **_: Any) -> Any:
            return (result16 if cls is ChargePoint16 else result201).MeterValues()

        if cls is ChargePoint201:
            @on("TransactionEvent")
            def transaction_event(self, **_: Any) -> Any:
                return result201.TransactionEvent()
        else:
            @on("StartTransaction")
            def start_transaction(self, **_: Any) -> Any:
                self.last_tx = next(tx_ids)
                return result16.StartTransaction(transaction_id=self.last_tx,
                                                 id_tag_info={"status": "Accepted"})

            @on("StopTransaction")
            def stop_transaction(self, **_: Any) -> Any:
                return result16.StopTransaction()

    return Link(station_id, connection, response_timeout=2)


async def serve_station(csms: Csms, connection: ServerConnection) -> None:
    station_id = connection.request.path.strip("/") if connection.request else ""
    if station_id not in {s.id for s in SITE.stations}:
        await connection.close()
        return
    cls = ChargePoint16 if connection.subprotocol == "ocpp1.6" else ChargePoint201
    link = _csms_side(csms, cls, station_id, connection)
    csms.links[station_id] = link
    csms.outbox[station_id] = asyncio.Queue()
    sender = asyncio.create_task(csms.sender(station_id))
    try:
        await link.start()
    except Exception:  # the socket closed
        pass
    finally:
        sender.cancel()
        csms.post(csms.controller.handle(StationDisconnected(station_id), csms.now()))


# ---- the stations -----------------------------------------------------------------------------


class Station201(ChargePoint201):
    limits: ClassVar[dict[int, float]] = {}

    @on("SetChargingProfile")
    def set_profile(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        sched = charging_profile["charging_schedule"][0]
        self.limits[evse_id] = sched["charging_schedule_period"][0]["limit"]
        return result201.SetChargingProfile(status="Accepted")


class Station16(ChargePoint16):
    limits: ClassVar[dict[int, float]] = {}

    @on("SetChargingProfile")
    def set_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any],
                    **_: Any) -> Any:
        sched = cs_charging_profiles["charging_schedule"]
        self.limits[connector_id] = sched["charging_schedule_period"][0]["limit"]
        return result16.SetChargingProfile(status="Accepted")


def _meter(amps: float, wh: float, v16: bool) -> list[dict[str, Any]]:
    def value(v: float) -> Any:
        return f"{v:.1f}" if v16 else round(v, 1)

    return [{"timestamp": _now(), "sampled_value": [
        {"value": value(wh), "measurand": "Energy.Active.Import.Register"},
        *({"value": value(amps), "measurand": "Current.Import", "phase": p}
          for p in ("L1", "L2", "L3"))]}]


async def run_station201(uri: str) -> None:
    async with connect(f"{uri}/cs201", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        cp = Station201("cs201", ws)
        task = asyncio.create_task(cp.start())
        await cp.call(call201.BootNotification(
            charging_station={"model": "Wallbox", "vendor_name": "Example"}, reason="PowerUp"))
        for seq, evse in enumerate((1, 2)):
            await cp.call(call201.TransactionEvent(
                event_type="Started", timestamp=_now(), trigger_reason="CablePluggedIn",
                seq_no=seq, transaction_info={"transaction_id": f"tx-{evse}"},
                evse={"id": evse, "connector_id": 1}, meter_value=_meter(0.0, 0.0, False)))
            await asyncio.sleep(0.3)
        wh = 0.0
        for _ in range(4):  # EVSE 2's car draws 8 A (measured feedback acts after 10 min)
            await asyncio.sleep(0.3)
            wh += 100.0
            await cp.call(call201.MeterValues(evse_id=2, meter_value=_meter(8.0, wh, False)))
        await cp.call(call201.TransactionEvent(
            event_type="Ended", timestamp=_now(), trigger_reason="EVCommunicationLost",
            seq_no=9, transaction_info={"transaction_id": "tx-1"},
            evse={"id": 1, "connector_id": 1}))
        await asyncio.sleep(RUN_S)
        task.cancel()


async def run_station16(uri: str) -> None:
    async with connect(f"{uri}/cs16", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        cp = Station16("cs16", ws)
        task = asyncio.create_task(cp.start())
        await cp.call(call16.BootNotification(charge_point_model="Wallbox",
                                              charge_point_vendor="Example"))
        await asyncio.sleep(0.2)
        started = await cp.call(call16.StartTransaction(
            connector_id=1, id_tag="TAG1", meter_start=0, timestamp=_now()))
        await asyncio.sleep(1.0)
        await cp.call(call16.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                         meter_value=_meter(16.0, 500.0, True)))
        await asyncio.sleep(RUN_S)
        task.cancel()


async def main() -> None:
    logging.getLogger("ocpp").setLevel(logging.CRITICAL)
    csms = Csms()
    async with serve(lambda c: serve_station(csms, c), "127.0.0.1", 0,
                     subprotocols=["ocpp2.0.1", "ocpp1.6"]) as server:  # type: ignore[list-item]
        port = next(iter(server.sockets)).getsockname()[1]
        uri = f"ws://127.0.0.1:{port}"
        print(f"CSMS on {uri}")
        await asyncio.wait_for(asyncio.gather(run_station201(uri), run_station16(uri)),
                               timeout=RUN_S + 20)
    state = csms.controller.state
    print(f"{csms.sent} requests settled; {len(state.pending)} pending")
    print("stations:", {k: v.online for k, v in state.stations.items()})
    print("cs201 holds:", Station201.limits, "cs16 holds:", Station16.limits)
    print(f"state document: {len(state.to_json())} bytes")


if __name__ == "__main__":
    asyncio.run(main())
