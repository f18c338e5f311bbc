"""Problem validation, the network arrays, Plan metrics and profiles, and verify()."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pytest

from smartcharge.errors import InvalidProblemError
from smartcharge.model import ChargingNeeds
from smartcharge.optimizer import EVSE, Plan, Problem, Session, limits_from_schedule, verify
from smartcharge.optimizer._network import evse_phasors

T0 = "2024-01-01T00:00:00Z"


def base(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "horizon": {"start": T0, "step_s": 3600, "n_steps": 4},
        "nodes": [{"id": "grid", "max_power_w": 20000}, {"id": "f1", "parent": "grid"}],
        "evses": [
            {"id": "e1", "node": "f1", "max_current_a": 16},
            {"id": "e2", "node": "f1", "max_current_a": 32, "phases": 1,
             "connection": "L2"},
        ],
        "sessions": [
            {"id": "s1", "evse": "e1", "arrival": T0, "departure": "2024-01-01T04:00:00Z",
             "energy_wh": 20000},
            {"id": "s2", "evse": "e2", "arrival": "2024-01-01T01:30:00Z",
             "departure": "2024-01-01T03:00:00Z", "energy_wh": 5000},
        ],
    }
    d.update(over)
    return d


def err(d: dict[str, Any]) -> InvalidProblemError:
    with pytest.raises(InvalidProblemError) as info:
        Problem.model_validate(d)
    return info.value


def test_valid_problem_and_arrays() -> None:
    p = Problem.model_validate(base())
    net = p.network()
    assert net.T == 4 and net.E == 2 and net.S == 2
    assert net.evse_max_w.tolist() == [16 * 690.0, 32 * 230.0]
    assert net.evse_min_w.tolist() == [6 * 690.0, 6 * 230.0]
    # s2 arrives half way through step 1 and leaves at the end of step 2
    assert net.frac[1].tolist() == [0.0, 0.5, 1.0, 0.0]
    assert net.members[net.root].tolist() == [0, 1]
    assert p.network() is net  # cached


@pytest.mark.parametrize(
    ("patch", "path", "rule"),
    [
        (lambda d: d["sessions"][1].update(departure="2024-01-01T01:00:00Z"),
         "sessions[1].departure", "departure>arrival"),
        (lambda d: d["sessions"][0].update(evse="nope"), "sessions[0].evse", "known-evse"),
        (lambda d: d["evses"][1].update(node="nope"), "evses[1].node", "known-node"),
        (lambda d: d["nodes"][1].update(parent="nope"), "nodes[1].parent", "known-node"),
        (lambda d: d["nodes"][0].update(max_power_w=[1.0, 2.0]), "nodes[0].max_power_w",
         "per-step"),
        (lambda d: d["nodes"][0].update(max_power_w=-5), "nodes[0].max_power_w",
         "greater_than_equal"),
        (lambda d: d["nodes"][1].update(id="grid"), "nodes[1].id", "unique-id"),
        (lambda d: d["nodes"][0].update(parent="f1"), "nodes", "one-root"),
        (lambda d: d["evses"][0].pop("max_current_a"), "evses[0].max_current_a", "required"),
        (lambda d: d["evses"][0].update(connection="L1"), "evses[0].connection",
         "single-phase"),
        (lambda d: d["sessions"][1].update(evse="e1"), "sessions[1].arrival",
         "one-session-per-evse"),
        (lambda d: d["sessions"][0].update(energy_wh=-1), "sessions[0].energy_wh",
         "greater_than_equal"),
        (lambda d: d["horizon"].update(n_steps=0), "horizon.n_steps", "greater_than"),
        (lambda d: d.update(tariff={"price": [0.1, 0.2]}), "tariff.price", "per-step"),
        (lambda d: d.update(tariff={"site_load_node": "x"}), "tariff.site_load_node",
         "known-node"),
        (lambda d: d["evses"][1].update(connection="L4"), "evses[1].connection",
         "literal_error"),
    ],
)
def test_errors_name_the_path(patch: Any, path: str, rule: str) -> None:
    d = base()
    patch(d)
    e = err(d)
    assert e.path == path, str(e)
    assert e.rule == rule, str(e)
    assert isinstance(e, ValueError)


def test_cycle_is_rejected() -> None:
    d = base(nodes=[{"id": "grid"}, {"id": "a", "parent": "b"}, {"id": "b", "parent": "a"}])
    d["evses"] = []
    d["sessions"] = []
    assert err(d).rule == "tree"


def test_constructor_also_raises_invalid_problem() -> None:
    with pytest.raises(InvalidProblemError):
        Problem(horizon={"start": T0, "step_s": 60, "n_steps": 1}, nodes=[])


def test_phasors() -> None:
    v = 120.0
    ab = evse_phasors(1, "L1-L2", v)
    assert np.allclose(np.abs(ab), [1 / (math.sqrt(3) * v), 1 / (math.sqrt(3) * v), 0])
    assert math.isclose(math.degrees(np.angle(ab[0])), 30.0)
    assert np.allclose(evse_phasors(1, "L2-L1", v), ab)  # same load, named the other way
    # three equal line-to-line loads make a balanced load: each line sqrt(3) * I
    tot = ab + evse_phasors(1, "L2-L3", v) + evse_phasors(1, "L3-L1", v)
    assert np.allclose(np.abs(tot), math.sqrt(3) / (math.sqrt(3) * v))
    three = evse_phasors(3, None, 230.0)
    assert np.allclose(np.abs(three), 1 / 690.0)


def test_from_charging_needs() -> None:
    needs = ChargingNeeds.model_validate({
        "requestedEnergyTransfer": "DC", "departureTime": "2024-01-01T05:00:00Z",
        "dcChargingParameters": {"evMaxCurrent": 200, "evMaxVoltage": 800,
                                 "energyAmount": 30000, "evMaxPower": 50000}})
    arr = datetime(2024, 1, 1, tzinfo=timezone.utc)
    s = Session.from_charging_needs(needs, id="x", evse="e1", arrival=arr,
                                    transaction_id="tx-1")
    assert (s.energy_wh, s.max_power_w, s.transaction_id) == (30000.0, 50000.0, "tx-1")
    no_dep = needs.model_copy(update={"departure_time": None})
    with pytest.raises(InvalidProblemError) as info:
        Session.from_charging_needs(no_dep, id="x", evse="e1", arrival=arr)
    assert info.value.path == "departure"
    with pytest.raises(InvalidProblemError) as info:
        Session.from_charging_needs(needs, id="x", evse="e1", arrival=arr,
                                    departure=datetime(2023, 1, 1, tzinfo=timezone.utc))
    assert info.value.path == "departure"


def test_limits_from_schedule() -> None:
    from smartcharge.schedule import Schedule

    h = Problem.model_validate(base()).horizon
    t0 = int(h.start.timestamp())
    sch = Schedule.from_segments([t0, t0 + 5400], [t0 + 5400, t0 + 10800], [8000.0, 5000.0],
                                 unit="W")
    got = limits_from_schedule(sch, h)
    assert got == {"max_power_w": (8000.0, 5000.0, 5000.0, None)}
    d = base()
    d["nodes"][1].update(got)
    assert Problem.model_validate(d).network().power_limit[1, 1] == 5000.0


# ---- verify -------------------------------------------------------------------------------


def kinds(p: Problem, power: Any) -> list[tuple[str, str, int | None]]:
    return [(v.kind, v.subject, v.step) for v in verify(p, Plan.from_session_power(p, power))]


def test_verify_clean_and_each_rule() -> None:
    p = Problem.model_validate(base())
    ok = np.array([[5000.0, 5000.0, 5000.0, 5000.0], [0.0, 2000.0, 2000.0, 0.0]])
    assert kinds(p, ok) == []
    bad = ok.copy()
    bad[1, 0] = 2000.0  # before arrival
    assert kinds(p, bad) == [("outside_window", "s2", 0)]
    bad = ok.copy()
    bad[0, 1] = 1000.0  # below 6 A * 690 W/A
    assert kinds(p, bad) == [("min_current", "s1", 1)]
    bad = ok.copy()
    bad[0, 2] = 16 * 690.0 + 1.0
    assert ("session_max", "s1", 2) in kinds(p, bad)
    bad = ok.copy()
    bad[0] = 11040.0  # 44 kWh > 20 kWh, and 11040 + 2000 is under 20 kW
    assert kinds(p, bad) == [("energy_above_need", "s1", None)]
    bad = ok.copy()
    bad[1, 1] = -1.0
    assert kinds(p, bad) == [("negative", "s2", 1)]
    bad = ok.copy()
    bad[1, 1] = np.nan
    assert kinds(p, bad) == [("not_finite", "s2", 1)]


def test_verify_node_power_and_site_load() -> None:
    d = base(tariff={"site_load_w": [16000.0, 0.0, 25000.0, 0.0]})
    p = Problem.model_validate(d)
    power = np.array([[5000.0, 5000.0, 0.0, 5000.0], [0.0, 2000.0, 0.0, 0.0]])
    got = verify(p, Plan.from_session_power(p, power))
    assert [(v.kind, v.subject, v.step) for v in got] == [("node_power", "grid", 0)]
    assert got[0].value == 21000.0 and got[0].limit == 20000.0
    assert "node grid step 0" in got[0].message
    # step 2: the site load alone is over the limit, EVs are off: nothing to blame on them
    power[0, 2] = 5000.0
    assert ("node_power", "grid", 2) in kinds(p, power)


def test_verify_uses_exact_phasor_sums() -> None:
    # Two line-to-line EVSEs, L1-L2 and L3-L1: line L1 carries I at +30 and -30 degrees,
    # |sum| = sqrt(3) I, less than the arithmetic sum 2 I.
    d = {
        "horizon": {"start": T0, "step_s": 3600, "n_steps": 1},
        "nodes": [{"id": "grid", "max_current_a": 30.0}],
        "evses": [
            {"id": "ab", "node": "grid", "phases": 1, "connection": "L1-L2",
             "max_current_a": 32, "voltage_v": 120},
            {"id": "ca", "node": "grid", "phases": 1, "connection": "L3-L1",
             "max_current_a": 32, "voltage_v": 120},
        ],
        "sessions": [
            {"id": "a", "evse": "ab", "arrival": T0, "departure": "2024-01-01T01:00:00Z",
             "energy_wh": 1e6},
            {"id": "c", "evse": "ca", "arrival": T0, "departure": "2024-01-01T01:00:00Z",
             "energy_wh": 1e6},
        ],
    }
    p = Problem.model_validate(d)
    wpa = math.sqrt(3) * 120
    amps = 17.0  # 2 * 17 = 34 > 30, but sqrt(3) * 17 = 29.4 < 30
    assert kinds(p, [[amps * wpa], [amps * wpa]]) == []
    amps = 17.4  # sqrt(3) * 17.4 = 30.14 > 30 on line L1 only
    got = verify(p, Plan.from_session_power(p, [[amps * wpa], [amps * wpa]]))
    assert [(v.kind, v.phase) for v in got] == [("node_current", "L1")]
    assert math.isclose(got[0].value, math.sqrt(3) * amps)


def test_verify_delta_wye_primary() -> None:
    # ACN-Sim: primary A = |I3a - I3c| / 4 with I3a = I_AB - I_CA, I3c = I_CA - I_BC.
    d = {
        "horizon": {"start": T0, "step_s": 3600, "n_steps": 1},
        "nodes": [
            {"id": "primary", "coupling": "delta-wye", "ratio": 4, "max_current_a": 10.0},
            {"id": "secondary", "parent": "primary"},
        ],
        "evses": [{"id": "ab", "node": "secondary", "phases": 1, "connection": "L1-L2",
                   "max_current_a": 80, "voltage_v": 120}],
        "sessions": [{"id": "a", "evse": "ab", "arrival": T0,
                      "departure": "2024-01-01T01:00:00Z", "energy_wh": 1e6}],
    }
    p = Problem.model_validate(d)
    wpa = math.sqrt(3) * 120
    # one AB load of I amps: I3a = I, I3b = -I, I3c = 0 -> primary |I|/4, |-2I|/4, |I|/4
    got = verify(p, Plan.from_session_power(p, [[30.0 * wpa]]))
    assert [(v.phase, round(v.value, 6)) for v in got] == [("L2", 15.0)]


def test_plan_metrics() -> None:
    d = base(tariff={"price": [0.1, 0.2, 0.3, 0.4], "co2_g_per_kwh": 100.0,
                     "demand_charge_per_kw": 10.0, "site_load_w": 1000.0})
    p = Problem.model_validate(d)
    power = np.array([[5000.0, 5000.0, 0.0, 0.0], [0.0, 2000.0, 2000.0, 0.0]])
    plan = Plan.from_session_power(p, power)
    assert plan.energy_wh.tolist() == [10000.0, 3000.0]
    assert math.isclose(plan.cost, 5 * 0.1 + 5 * 0.2 + 1 * 0.2 + 2 * 0.3)
    assert math.isclose(plan.co2_g, 13 * 100.0)
    assert plan.peak_w == 8000.0 and math.isclose(plan.demand_cost, 80.0)
    assert plan.power_w.shape == (2, 4) and plan.current_a[1, 1] == 2000.0 / 230.0
    assert not plan.power_w.flags.writeable
    with pytest.raises(InvalidProblemError):
        Plan.from_session_power(p, np.zeros((3, 4)))


def test_profiles_round_down_and_merge() -> None:
    d = base()
    d["sessions"][0]["transaction_id"] = "tx-9"
    p = Problem.model_validate(d)
    power = np.array([[16 * 690.0, 10.06 * 690.0, 10.04 * 690.0, 6 * 690.0],
                      [0.0, 2000.0, 2000.0, 0.0]])
    profs = Plan.from_session_power(p, power).to_charging_profiles("A", stack_level=3)
    assert [(x.evse_id, x.session_id) for x in profs] == [("e1", "s1"), ("e2", "s2")]
    j = profs[0].profile.to_json_dict()
    assert j["stackLevel"] == 3 and j["transactionId"] == "tx-9"
    assert j["chargingProfilePurpose"] == "TxProfile" and j["chargingProfileKind"] == "Absolute"
    sch = j["chargingSchedule"][0]
    assert sch["startSchedule"] == T0 and sch["duration"] == 4 * 3600
    assert [(x["startPeriod"], x["limit"]) for x in sch["chargingSchedulePeriod"]] == [
        (0, 16.0), (3600, 10.0), (10800, 6.0)]
    s2 = profs[1].profile.charging_schedule[0]
    assert [(x.start_period, x.limit) for x in s2.charging_schedule_period] == [
        (0, 0.0), (3600, 8.6), (10800, 0.0)]  # 2000 / 230 = 8.69 -> 8.6
    w = Plan.from_session_power(p, power).to_charging_profiles(
        "W", profile_id=lambda e, s: 100 + int(s[1:]))
    assert [x.profile.id for x in w] == [101, 102]
    lim = w[0].profile.charging_schedule[0].charging_schedule_period[1].limit
    assert lim == 6941.4 and lim <= 10.06 * 690.0


def test_profiles_validate_like_parsed_ones() -> None:
    from smartcharge.model import ChargingProfile

    p = Problem.model_validate(base())
    power = np.array([[5000.0, 4200.0, 0.0, 0.0], [0.0, 2000.0, 2000.0, 0.0]])
    plan = Plan.from_session_power(p, power)
    for x in plan.to_charging_profiles("A", stack_level=2):
        again = ChargingProfile.model_validate(x.profile.to_json_dict())
        assert again == x.profile
    with pytest.raises(InvalidProblemError):
        plan.to_charging_profiles("A", stack_level=-1)
    with pytest.raises(InvalidProblemError):
        plan.to_charging_profiles("A", profile_id=lambda e, s: "x")  # type: ignore[arg-type,return-value]


def test_network_cache_follows_copies() -> None:
    p = Problem.model_validate(base())
    assert p.network().T == 4
    q = p.model_copy(update={"horizon": p.horizon.model_copy(update={"n_steps": 2})})
    assert q.network().T == 2 and p.network().T == 4


def test_parts_raise_invalid_problem_too() -> None:
    from smartcharge.optimizer import Objective

    with pytest.raises(InvalidProblemError) as info:
        Objective(fairness=0.7)
    assert info.value.path == "fairness"
    with pytest.raises(InvalidProblemError) as info:
        Session.model_validate({"id": "s", "evse": "e", "arrival": T0, "departure": T0,
                                "energy_wh": 1.0})
    assert info.value.path == "departure" and info.value.rule == "departure>arrival"


# ---- line-to-line EVSEs: the voltage is named unambiguously ----------------------------


def test_line_voltage_gives_the_phase_voltage() -> None:
    e = EVSE(id="a", node="n", phases=1, connection="L1-L2", line_voltage_v=208.0,
             max_current_a=32.0)
    assert e.voltage_v == pytest.approx(208.0 / math.sqrt(3.0))
    assert e.max_w == pytest.approx(208.0 * 32.0)  # sqrt(3) x phase voltage x current
    same = EVSE(id="a", node="n", phases=1, connection="L1-L2", voltage_v=120.09,
                max_current_a=32.0)
    assert same.max_w == pytest.approx(e.max_w, rel=1e-4)
    assert EVSE.model_validate(e.model_dump()) == e  # both fields round-trip, agreeing


@pytest.mark.parametrize("volts", [208.0, 207.0, 400.0, 480.0, 380.0, 415.0])
def test_a_line_to_line_value_as_voltage_v_is_rejected(volts: float) -> None:
    d = {"horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
         "nodes": [{"id": "g"}], "sessions": [],
         "evses": [{"id": "e", "node": "g", "phases": 1, "connection": "L1-L2",
                    "voltage_v": volts, "max_current_a": 32.0}]}
    with pytest.raises(InvalidProblemError) as info:
        Problem.model_validate(d)
    assert info.value.path == "evses[0].voltage_v" and info.value.rule == "phase-voltage"
    assert "line_voltage_v" in str(info.value)


def test_disagreeing_voltages_are_rejected() -> None:
    with pytest.raises(InvalidProblemError) as info:
        EVSE(id="a", node="n", voltage_v=230.0, line_voltage_v=208.0, max_current_a=16.0)
    assert info.value.rule == "phase-voltage"


@pytest.mark.parametrize("volts", [100.0, 120.0, 127.0, 220.0, 230.0, 240.0, 277.0])
def test_phase_voltages_are_accepted(volts: float) -> None:
    assert EVSE(id="a", node="n", voltage_v=volts, max_current_a=16.0).voltage_v == volts


def test_plan_line_currents_and_node_power_per_node() -> None:
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "site"}, {"id": "pod", "parent": "site"}],
        "evses": [{"id": "a", "node": "pod", "phases": 1, "connection": "L1",
                   "max_current_a": 32.0},
                  {"id": "b", "node": "site", "phases": 1, "connection": "L1-L2",
                   "line_voltage_v": 400.0, "max_current_a": 32.0}],
        "sessions": [{"id": "s", "evse": "a", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T02:00:00Z", "energy_wh": 9000.0},
                     {"id": "r", "evse": "b", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T02:00:00Z", "energy_wh": 9000.0}],
    })
    plan = Plan.from_session_power(p, [[4600.0, 0.0], [0.0, 4000.0]])
    pod = plan.line_currents("pod")
    assert np.allclose(np.abs(pod[:, 0]), [20.0, 0.0, 0.0])  # 4600 W / 230 V on L1
    assert np.allclose(np.abs(pod[:, 1]), 0.0)
    site = plan.line_currents("site")
    # 4000 W at 400 V line to line: 10 A out on L1 and back on L2
    assert np.allclose(np.abs(site[:, 1]), [10.0, 10.0, 0.0])
    assert np.allclose(site[0, 1], -site[1, 1])
    assert np.allclose(plan.node_power("site"), [4600.0, 4000.0])
    assert np.allclose(plan.node_power("pod"), [4600.0, 0.0])
    with pytest.raises(InvalidProblemError) as info:
        plan.line_currents("nowhere")
    assert info.value.rule == "known-node"
