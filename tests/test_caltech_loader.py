"""The Caltech ACN reader (smartcharge.sim.caltech) and the MPC replay driver of
benchmarks/caltech.py, on the real data (skips without ../shared)."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from smartcharge.optimizer.baselines import BASELINES, equal_share, least_laxity_first
from smartcharge.optimizer.solve import optimize
from smartcharge.optimizer.verify import verify
from smartcharge.sim import caltech as reader

ROOT = Path(__file__).resolve().parent.parent


def _load_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("caltech", ROOT / "benchmarks" / "caltech.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["caltech"] = mod
    spec.loader.exec_module(mod)
    return mod


caltech = _load_module()
UTC = timezone.utc


@pytest.fixture(scope="module")
def data(shared_dir: Path) -> Path:
    d = shared_dir / "data" / "caltech-acn-2019-03"
    if not (d / "sessions.csv").is_file():
        pytest.skip("Caltech data not present")
    return d


def test_reads_every_session(data: Path) -> None:
    rows = reader.read_sessions(data)
    assert len(rows) == 954
    with (data / "sessions.csv").open() as fh:
        raw = list(csv.DictReader(fh))
    assert sum(r.energy_wh for r in rows) == pytest.approx(
        sum(float(r["energy_kwh"]) for r in raw) * 1000)
    assert all(r.arrival.tzinfo is not None and r.departure > r.arrival for r in rows)


def test_week_problem(data: Path) -> None:
    start, end = datetime(2019, 3, 4, 8, tzinfo=UTC), datetime(2019, 3, 11, 8, tzinfo=UTC)
    p, kept = reader.load_problem(data, start, end, 150)
    assert len(p.evses) == 54 and len(p.nodes) == 4
    assert len(kept) == len(p.sessions) == 213
    assert all(start <= s.arrival < end for s in kept)
    # the data are on a 5-minute grid: nothing moved
    assert [s.arrival for s in p.sessions] == [s.arrival for s in kept]
    assert [s.departure for s in p.sessions] == [s.departure for s in kept]
    assert p.horizon.end >= max(s.departure for s in kept)
    pods = {n.id: n.max_current_a for n in p.nodes}
    assert pods["cc-pod"] == pods["av-pod"] == 80.0
    # a 15-minute grid rounds arrivals up and departures down
    q, _ = reader.load_problem(data, start, end, 150, step_s=900)
    for s in q.sessions:
        assert (s.arrival - start).total_seconds() % 900 == 0
        assert (s.departure - start).total_seconds() % 900 == 0


def test_line_currents_follow_site_json(data: Path) -> None:
    """The tree's line currents equal site.json's formulas, computed here independently."""
    site = json.loads((data / "site.json").read_text())
    p, _ = reader.load_problem(data, datetime(2019, 3, 5, 8, tzinfo=UTC),
                                datetime(2019, 3, 5, 9, tzinfo=UTC), 150)
    net = p.network()
    rng = np.random.default_rng(3)
    amps = rng.uniform(0, 32, size=len(site["evses"]))
    phasor = {"AB": 0j, "BC": 0j, "CA": 0j}
    for e, a in zip(site["evses"], amps, strict=True):
        phasor[e["connection"]] += a * np.exp(1j * np.deg2rad(e["phase_angle_deg"]))
    i3a = phasor["AB"] - phasor["CA"]
    i3b = phasor["BC"] - phasor["AB"]
    i3c = phasor["CA"] - phasor["BC"]
    secondary = np.abs([i3a, i3b, i3c])
    primary = np.abs([(i3a - i3c) / 4, (i3b - i3a) / 4, (i3c - i3b) / 4])
    order = [net.evse_index[e["id"]] for e in site["evses"]]
    ep = np.zeros((net.E, 1))
    ep[order, 0] = amps * 208.0
    got_sec = np.abs(net.line_currents(net.node_index["secondary"], ep))[:, 0]
    got_pri = np.abs(net.line_currents(net.node_index["primary"], ep))[:, 0]
    np.testing.assert_allclose(got_sec, secondary, rtol=1e-9)
    np.testing.assert_allclose(got_pri, primary, rtol=1e-9)
    cap = 150
    assert net.current_limit[net.node_index["secondary"], 0] == pytest.approx(cap * 1e3 / 360)
    assert net.current_limit[net.node_index["primary"], 0] == pytest.approx(cap * 1e3 / 831)


def test_time_of_use_price_follows_pacific_time() -> None:
    def price(t: datetime) -> float:
        return float(reader.tou_price(t, 300, 1)[0])

    # PST (UTC-8) before 2019-03-10, PDT (UTC-7) after
    assert price(datetime(2019, 3, 5, 19, 55, tzinfo=UTC)) == 0.10
    assert price(datetime(2019, 3, 5, 20, 0, tzinfo=UTC)) == 0.30
    assert price(datetime(2019, 3, 6, 1, 55, tzinfo=UTC)) == 0.30
    assert price(datetime(2019, 3, 6, 2, 0, tzinfo=UTC)) == 0.10
    assert price(datetime(2019, 3, 11, 19, 0, tzinfo=UTC)) == 0.30
    assert price(datetime(2019, 3, 11, 1, 0, tzinfo=UTC)) == 0.10


def test_subproblem_sees_only_what_is_known(data: Path) -> None:
    p, _ = reader.load_problem(data, datetime(2019, 3, 5, 15, tzinfo=UTC),
                                datetime(2019, 3, 5, 17, tzinfo=UTC), 40)
    net = p.network()
    remaining = net.need_wh.copy()
    remaining[0] = 0.0
    t = 12
    got = caltech.subproblem(p, t, remaining, max_steps=24)
    assert got is not None
    sub, idx = got
    now = p.horizon.start.timestamp() + t * 300
    assert 0 not in idx
    for i, s in zip(idx, sub.sessions, strict=True):
        orig = p.sessions[i]
        assert orig.arrival.timestamp() <= now < orig.departure.timestamp()
        assert s.energy_wh == remaining[i]
    assert sub.horizon.n_steps <= 24 and sub.horizon.start.timestamp() == now
    assert caltech.subproblem(p, 0, np.zeros(net.S)) is None


def test_tiny_replay_controlled_strategies_break_nothing(data: Path) -> None:
    """A few hours of one morning at 20 kW: congested, every controlled strategy safe."""
    p, kept = reader.load_problem(data, datetime(2019, 3, 5, 15, tzinfo=UTC),
                                   datetime(2019, 3, 5, 17, 30, tzinfo=UTC), 20)
    assert len(kept) >= 10
    for name, f in BASELINES.items():
        plan = f(p)
        v = verify(p, plan)
        if name == "uncontrolled":
            assert any(x.kind == "node_current" for x in v)  # 20 kW is congested
        else:
            assert v == [], name
    mpc = caltech.mpc_replay(p, optimize, max_steps=72)
    assert verify(p, mpc) == []
    assert 0 < mpc.share_delivered <= 1
    # MPC with the optimizer delivers at least as much as equal share here
    assert mpc.energy_wh.sum() >= equal_share(p).energy_wh.sum() * 0.99


def test_baselines_are_causal_replay_equals_one_shot(data: Path) -> None:
    p, _ = reader.load_problem(data, datetime(2019, 3, 5, 15, tzinfo=UTC),
                                datetime(2019, 3, 5, 16, 30, tzinfo=UTC), 20)
    for f in (equal_share, least_laxity_first):
        np.testing.assert_allclose(caltech.mpc_replay(p, f).session_power_w,
                                   f(p).session_power_w, rtol=1e-9, atol=1e-6)


def test_table_format() -> None:
    row = caltech.ReplayRow("llf", 40, 0.9512, 100.0, 12.345, 39.9, 0, 1.2)
    table = caltech.format_table([row])
    assert "| 40 | llf | 95.1 | 100.0 | 12.35 | 0.1235 | 39.9 | 0 | 1.2 |" in table


def test_ocpp_traffic_sends_only_what_changed(data: Path) -> None:
    p, _ = reader.load_problem(data, datetime(2019, 3, 5, 15, tzinfo=UTC),
                                datetime(2019, 3, 5, 16, tzinfo=UTC), 40)
    assert all(s.transaction_id is not None and len(s.transaction_id) <= 36
               for s in p.sessions)
    meter = caltech.OcppTraffic(p)
    calls: list[tuple[int, object]] = []

    def on_step(t: int, plan: object) -> None:
        calls.append((t, plan))
        meter(t, plan)

    caltech.mpc_replay(p, equal_share, max_steps=36, on_step=on_step)
    assert meter.replans == len(calls) > 0
    assert 0 < meter.messages <= meter.full_messages
    assert 0 < meter.bytes < meter.full_bytes and meter.plain_bytes > 0
    # the same re-plan again: the station already holds it, nothing to send
    before = (meter.messages, meter.bytes)
    t, plan = calls[-1]
    meter(t, plan)
    assert (meter.messages, meter.bytes) == before


def test_bad_rows_are_typed_errors_with_a_path() -> None:
    from smartcharge.errors import InvalidProblemError

    head = "session_id,station_id,arrival,departure,energy_kwh,max_power_kw\n"
    good = "a,CA-1,2019-03-05T16:00:00Z,2019-03-05T18:00:00Z,5.5,6.6\n"
    assert reader.parse_sessions(head + good)[0].energy_wh == 5500.0
    cases = {
        "a,CA-1,yesterday,2019-03-05T18:00:00Z,5.5,6.6\n": ("sessions.csv[0].arrival",
                                                          "date-time"),
        "a,CA-1,2019-03-05T16:00:00,2019-03-05T18:00:00Z,5.5,6.6\n": (
            "sessions.csv[0].arrival", "date-time"),
        "a,CA-1,2019-03-05T16:00:00Z,2019-03-05T18:00:00Z,lots,6.6\n": (
            "sessions.csv[0].energy_kwh", "number"),
        "a,CA-1,2019-03-05T16:00:00Z,2019-03-05T15:00:00Z,5.5,6.6\n": (
            "sessions.csv[0].departure", "window"),
    }
    for row, (path, rule) in cases.items():
        with pytest.raises(InvalidProblemError) as info:
            reader.parse_sessions(head + good + row.replace("a,", "b,", 1))
        assert info.value.path == path.replace("[0]", "[1]") and info.value.rule == rule
    with pytest.raises(InvalidProblemError, match="missing columns"):
        reader.parse_sessions("session_id,arrival\n")
