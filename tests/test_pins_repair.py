"""The repair stage (``smartcharge.optimizer._repair``): what every plan relies on.

Properties on generated problems (those of ``test_optimize_props``): :func:`make_safe`
turns ANY power array into one that :func:`~smartcharge.optimizer.verify` accepts, never
raises a power (beyond the 1e-9 snap to a minimum), leaves an already safe array as it is,
and says whether it changed anything; :func:`win_back` keeps the plan safe, only turns
dropped steps on at the minimum and never gives a session more than its need. Then a few
worked examples (issue 13's mutation study), values by hand in the docstrings.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from test_optimize_props import problems

from smartcharge.optimizer import Plan, Problem, SolverStatus, verify

repair = importlib.import_module("smartcharge.optimizer._repair")
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _powers(draw: st.DrawFn, shape: tuple[int, int], *, finite: bool = False,
            ) -> np.ndarray[Any, Any]:
    """Any power array: negative, zero, small, huge, at and near a 6 A minimum, infinite
    unless ``finite`` (an LP answer is finite)."""
    edges = [1e-7, 1379.9999999, 1380.0, 4140.0] + ([] if finite else [np.inf])
    vals = st.one_of(st.just(0.0), st.floats(-5000.0, 80000.0), st.sampled_from(edges))
    return np.array([[draw(vals) for _ in range(shape[1])] for _ in range(shape[0])],
                    dtype=np.float64).reshape(shape)


def _within_minimum_rule(net: Any, sp: np.ndarray[Any, Any]) -> bool:
    return bool(np.all((sp == 0.0) | (sp >= net.sess_min_w[:, None])))


@given(problems(), st.data())
def test_make_safe_gives_a_plan_verify_accepts_from_any_power_array(
    d: dict[str, Any], data: st.DataObject,
) -> None:
    p = Problem.model_validate(d)
    net = p.network()
    rows = net.rows(10.0)
    allowed = repair.allowed_mask(net, rows)
    raw = _powers(data.draw, (net.S, net.T))
    sp, changed = repair.make_safe(net, rows, raw, allowed)
    assert verify(p, Plan.from_session_power(p, sp)) == []
    assert _within_minimum_rule(net, sp)
    assert np.all(sp[~allowed] == 0.0)
    # never more than asked (the snap to a minimum moves a value up by <= 1e-9 relative)
    up = np.clip(np.nan_to_num(raw, posinf=np.inf), 0.0, None)
    assert np.all(sp <= up * (1 + 1e-9))
    assert changed == bool(np.any(np.abs(sp - raw) > 1e-6 * (np.abs(raw) + 1.0)))
    # a safe array stays as it is
    again, changed_again = repair.make_safe(net, rows, sp, allowed)
    assert not changed_again
    np.testing.assert_allclose(again, sp, rtol=1e-9, atol=1e-9)


@given(problems(), st.data())
def test_win_back_stays_safe_turns_on_dropped_steps_at_the_minimum_only(
    d: dict[str, Any], data: st.DataObject,
) -> None:
    p = Problem.model_validate(d)
    net = p.network()
    rows = net.rows(10.0)
    allowed = repair.allowed_mask(net, rows)
    raw = _powers(data.draw, (net.S, net.T), finite=True)
    rep = repair.repair(net, rows, allowed, raw)
    out = repair.win_back_stage(net, rows, allowed, rep).sp
    assert verify(p, Plan.from_session_power(p, out)) == []
    assert _within_minimum_rule(net, out)
    on = (rep.sp == 0.0) & (out > 0.0)
    assert np.all(rep.dropped[on])  # only dropped steps are turned on ...
    mn = np.broadcast_to(net.sess_min_w[:, None], out.shape)
    np.testing.assert_allclose(out[on], mn[on], rtol=1e-12)  # ... at the minimum
    assert np.all(out[~on] <= rep.sp[~on] * (1 + 1e-12))  # the others only go down
    before, after = repair.energy_wh(net, rep.sp), repair.energy_wh(net, out)
    assert np.all(after >= before - 1e-6)  # never less energy
    gained = after > before + 1e-6
    assert np.all(after[gained] <= net.need_wh[gained] * (1 + 1e-9) + 1e-6)


# ---- worked examples -------------------------------------------------------------------------


def _ac(n_ev: int, *, node: dict[str, Any] | None = None, need_wh: float = 1e6,
        steps: int = 2, step_s: int = 3600, **extra: Any) -> Problem:
    """``n_ev`` 1-phase 230 V EVSEs (6..32 A: 1,380..7,360 W) on L1 under ``grid``, one
    session each over the horizon."""
    end = (T0 + timedelta(seconds=steps * step_s)).isoformat()
    return Problem.model_validate({
        "horizon": {"start": T0.isoformat(), "step_s": step_s, "n_steps": steps},
        "nodes": [{"id": "grid", **(node or {})}],
        "evses": [{"id": f"e{i}", "node": "grid", "phases": 1, "connection": "L1",
                   "max_current_a": 32.0, "min_current_a": 6.0} for i in range(n_ev)],
        "sessions": [{"id": f"s{i}", "evse": f"e{i}", "arrival": T0.isoformat(),
                      "departure": end, "energy_wh": need_wh} for i in range(n_ev)],
        **extra,
    })


def test_repair_reports_dropped_steps_and_the_lp_energy() -> None:
    """A 2,000 W node, two EVSEs asking 3,000 W each at step 0 (scaled to 1,000 W each,
    below the 1,380 W minimum: both dropped) and 1,500 W + 0 W at step 1 (kept). The LP's
    own energy counts what it asked for, negatives as 0: 3,000 + 3,000 + 1,500 Wh."""
    p = _ac(2, node={"max_power_w": 2000.0})
    net = p.network()
    rows = net.rows(10.0)
    allowed = repair.allowed_mask(net, rows)
    rep = repair.repair(net, rows, allowed, np.array([[3000.0, 1500.0], [3000.0, -50.0]]))
    assert rep.sp.tolist() == [[0.0, 1500.0], [0.0, 0.0]]
    assert rep.dropped.tolist() == [[True, False], [True, False]]
    assert rep.changed
    assert rep.lp_wh == 7500.0
    same = repair.repair(net, rows, allowed, np.array([[1500.0, 0.0], [0.0, 1500.0]]))
    assert not same.changed and not same.dropped.any()
    assert repair.win_back_stage(net, rows, allowed, same) is same


def test_a_node_forced_off_by_the_site_load_allows_no_session_below_it() -> None:
    """Site load 3,000 W at step 0 under a 2,000 W node: nothing below may charge then
    (allowed_mask and allowed_mask_any), at step 1 (no site load) everything may."""
    p = _ac(2, node={"max_power_w": 2000.0}, tariff={"site_load_w": [3000.0, 0.0]})
    net = p.network()
    rows = net.rows(10.0)
    assert repair.forced_off(net, rows).tolist() == [[True, False], [True, False]]
    assert repair.allowed_mask(net, rows).tolist() == [[False, True], [False, True]]
    assert repair.allowed_mask_any(net, rows).tolist() == [[False, True], [False, True]]


def test_allowed_mask_excludes_sessions_without_need_or_maximum_and_outside_windows() -> None:
    p = Problem.model_validate({
        "horizon": {"start": T0.isoformat(), "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid"}],
        "evses": [{"id": f"e{i}", "node": "grid", "kind": "DC", "max_power_w": 10000.0}
                  for i in range(3)],
        "sessions": [
            {"id": "late", "evse": "e0", "arrival": (T0 + timedelta(hours=1)).isoformat(),
             "departure": (T0 + timedelta(hours=2)).isoformat(), "energy_wh": 100.0},
            {"id": "full", "evse": "e1", "arrival": T0.isoformat(),
             "departure": (T0 + timedelta(hours=2)).isoformat(), "energy_wh": 0.0},
            {"id": "capped", "evse": "e2", "arrival": T0.isoformat(),
             "departure": (T0 + timedelta(hours=2)).isoformat(), "energy_wh": 100.0,
             "max_power_w": 0.0},
        ],
    })
    net = p.network()
    rows = net.rows(10.0)
    assert repair.allowed_mask(net, rows).tolist() == [[False, True], [False, False],
                                                       [False, False]]
    # allowed_mask_any is about the site only: every session, every step
    assert repair.allowed_mask_any(net, rows).all()


def test_first_status_is_optimal_only_for_an_optimal_lp_the_repair_left_alone() -> None:
    lp = importlib.import_module("smartcharge.optimizer._lp")
    fields = {f: None for f in lp.LpResult.__dataclass_fields__}
    opt = lp.LpResult(**{**fields, "status": "optimal", "message": "ok", "path": "glop"})
    assert repair.first_status(opt, False) == (SolverStatus.OPTIMAL, "ok via glop")
    assert repair.first_status(opt, True)[0] is SolverStatus.FEASIBLE
    feas = lp.LpResult(**{**fields, "status": "feasible", "message": "ok", "path": "glop"})
    assert repair.first_status(feas, False)[0] is SolverStatus.FEASIBLE


def test_safe_fallback_is_all_off_when_the_even_share_breaks_a_ramp() -> None:
    """Need 4,000 Wh over two hours: the even share is 2,000 W per step, a rise of
    2,000 W from 0 at step 0 under a 1,000 W ramp (initial power 0): all off instead. With
    a 5,000 W ramp the even share stands."""
    steep = _ac(1, node={"max_ramp_w": 1000.0, "initial_power_w": 0.0}, need_wh=4000.0)
    net = steep.network()
    rows = net.rows(10.0)
    sp, note = repair.safe_fallback(net, rows, repair.allowed_mask(net, rows))
    assert sp.tolist() == [[0.0, 0.0]] and "all off" in note
    gentle = _ac(1, node={"max_ramp_w": 5000.0, "initial_power_w": 0.0}, need_wh=4000.0)
    net = gentle.network()
    rows = net.rows(10.0)
    sp, note = repair.safe_fallback(net, rows, repair.allowed_mask(net, rows))
    assert sp.tolist() == [[2000.0, 2000.0]] and note == "safe even-share fallback"


def test_fallback_gives_a_session_its_minimum_when_the_even_share_is_below_it() -> None:
    """Need 1,000 Wh over two hours: 500 W even share, below the 1,380 W minimum; the
    fallback plans the minimum at every step instead (then capped at the need: 1,000 Wh
    over two steps of 1,380 W is scaled to 500 W -- which the minimum rule drops to 0).
    With need 3,000 Wh the even share 1,500 W stands."""
    p = _ac(1, need_wh=3000.0)
    net = p.network()
    rows = net.rows(10.0)
    assert repair.fallback_plan(net, rows, repair.allowed_mask(net, rows)).tolist() == [
        [1500.0, 1500.0]]
    big = _ac(1, need_wh=1e6)
    net = big.network()
    rows = net.rows(10.0)
    assert repair.fallback_plan(net, rows, repair.allowed_mask(net, rows)).tolist() == [
        [7360.0, 7360.0]]


def test_make_safe_shares_an_evse_between_two_sessions_in_proportion() -> None:
    """Two DC sessions on one 10 kW EVSE at step 1 asking 8 kW each: 16 kW scaled by
    10/16 to 5 kW each."""
    p = Problem.model_validate({
        "horizon": {"start": T0.isoformat(), "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid"}],
        "evses": [{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 10000.0}],
        "sessions": [
            {"id": "a", "evse": "e1", "arrival": T0.isoformat(),
             "departure": (T0 + timedelta(minutes=90)).isoformat(), "energy_wh": 1e6},
            {"id": "b", "evse": "e1", "arrival": (T0 + timedelta(minutes=90)).isoformat(),
             "departure": (T0 + timedelta(hours=2)).isoformat(), "energy_wh": 1e6},
        ],
    })
    net = p.network()
    rows = net.rows(10.0)
    sp, changed = repair.make_safe(net, rows, np.array([[8000.0, 8000.0], [0.0, 8000.0]]),
                                   repair.allowed_mask(net, rows))
    assert changed
    np.testing.assert_allclose(sp, [[8000.0, 5000.0], [0.0, 5000.0]], rtol=1e-12)


def test_make_safe_scales_a_child_node_then_its_parent() -> None:
    """Node ``sub`` (3,000 W) under ``grid`` (4,000 W), EVSE a under sub, b under grid,
    both asking 3,000 W: sub holds; grid's 6,000 W is scaled by 2/3 to 2,000 W each."""
    p = Problem.model_validate({
        "horizon": {"start": T0.isoformat(), "step_s": 3600, "n_steps": 1},
        "nodes": [{"id": "grid", "max_power_w": 4000.0},
                  {"id": "sub", "parent": "grid", "max_power_w": 3000.0}],
        "evses": [{"id": "a", "node": "sub", "kind": "DC", "max_power_w": 10000.0},
                  {"id": "b", "node": "grid", "kind": "DC", "max_power_w": 10000.0}],
        "sessions": [{"id": f"s{e}", "evse": e, "arrival": T0.isoformat(),
                      "departure": (T0 + timedelta(hours=1)).isoformat(),
                      "energy_wh": 1e6} for e in ("a", "b")],
    })
    net = p.network()
    rows = net.rows(10.0)
    sp, _ = repair.make_safe(net, rows, np.array([[3000.0], [3000.0]]),
                             repair.allowed_mask(net, rows))
    np.testing.assert_allclose(sp, [[2000.0], [2000.0]], rtol=1e-12)
    sp, _ = repair.make_safe(net, rows, np.array([[6000.0], [0.0]]),
                             repair.allowed_mask(net, rows))
    np.testing.assert_allclose(sp, [[3000.0], [0.0]], rtol=1e-12)


def test_make_safe_zeroes_a_step_where_dropping_a_session_below_its_minimum_breaks_a_row(
) -> None:
    """A constraint ``|I_a - I_b| <= 10 A`` (b's current cancels a's, as a transformer's
    line at Caltech). Step 0: a 15 A, b 5.5 A (|9.5| A: within); b is below its 6 A
    minimum and dropped, and a's 15 A alone breaks the row: the step is zeroed. Step 1:
    a 15 A, b 7 A (8 A) stands."""
    p = Problem.model_validate({
        "horizon": {"start": T0.isoformat(), "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid"}],
        "evses": [{"id": e, "node": "grid", "phases": 1, "connection": "L1",
                   "max_current_a": 32.0, "min_current_a": 6.0} for e in "ab"],
        "constraints": [{"id": "c", "coefficients": {"a": 1.0, "b": -1.0},
                         "max_current_a": 10.0}],
        "sessions": [{"id": s, "evse": s, "arrival": T0.isoformat(),
                      "departure": (T0 + timedelta(hours=2)).isoformat(),
                      "energy_wh": 1e6} for s in "ab"],
    })
    net = p.network()
    rows = net.rows(10.0)
    raw = np.array([[15 * 230.0, 15 * 230.0], [5.5 * 230.0, 7 * 230.0]])
    sp, changed = repair.make_safe(net, rows, raw, repair.allowed_mask(net, rows))
    assert changed
    assert sp.tolist() == [[0.0, 15 * 230.0], [0.0, 7 * 230.0]]
    assert verify(p, Plan.from_session_power(p, sp)) == []


def test_win_back_serves_a_session_short_by_half_a_watt_hour() -> None:
    """Need 3,000.5 Wh, plan 0 W then 3,000 W (0.5 Wh short), step 0 dropped: step 0 at
    the 1,380 W minimum, the 1,379.5 Wh excess taken off step 1 (1,620.5 W)."""
    p = _ac(1, need_wh=3000.5)
    net = p.network()
    sp = repair.win_back(net, net.rows(10.0), np.array([[0.0, 3000.0]]), net.frac > 0,
                         np.array([[True, False]]))
    np.testing.assert_allclose(sp, [[1380.0, 1620.5]], rtol=1e-12)
    # a session that has its need is left alone
    done = _ac(1, need_wh=3000.0)
    net = done.network()
    sp = repair.win_back(net, net.rows(10.0), np.array([[0.0, 3000.0]]), net.frac > 0,
                         np.array([[True, False]]))
    assert sp.tolist() == [[0.0, 3000.0]]


def test_make_safe_keeps_a_plan_exactly_at_a_node_limit() -> None:
    """Two 1-phase EVSEs at 1,500 W each under a 3,000 W node: at the limit, not over
    it -- kept as it is (not scaled, not zeroed)."""
    p = _ac(2, node={"max_power_w": 3000.0})
    net = p.network()
    rows = net.rows(10.0)
    raw = np.array([[1500.0, 1500.0], [1500.0, 1380.0]])
    sp, changed = repair.make_safe(net, rows, raw, repair.allowed_mask(net, rows))
    assert sp.tolist() == raw.tolist()
    assert not changed


def test_make_safe_caps_energy_counting_the_part_of_a_step_a_session_is_there() -> None:
    """Arrival at 00:30 (half of step 0), need 1,000 Wh, 4,000 W asked in both steps:
    2,000 + 4,000 = 6,000 Wh, scaled by 1/6 to 666.7 W (333.3 + 666.7 = 1,000 Wh)."""
    p = Problem.model_validate({
        "horizon": {"start": T0.isoformat(), "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid"}],
        "evses": [{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 10000.0}],
        "sessions": [{"id": "s1", "evse": "e1",
                      "arrival": (T0 + timedelta(minutes=30)).isoformat(),
                      "departure": (T0 + timedelta(hours=2)).isoformat(),
                      "energy_wh": 1000.0}],
    })
    net = p.network()
    rows = net.rows(10.0)
    sp, _ = repair.make_safe(net, rows, np.full((1, 2), 4000.0),
                             repair.allowed_mask(net, rows))
    np.testing.assert_allclose(sp, [[4000.0 / 6, 4000.0 / 6]], rtol=1e-12)
    np.testing.assert_allclose(repair.energy_wh(net, sp), [1000.0], rtol=1e-12)


def test_make_safe_scales_only_the_step_that_breaks_a_limit() -> None:
    """A node limit of 2,000 W at step 0 and 5,000 W at step 1; 3,000 W then 1,500 W
    asked: step 0 scaled to 2,000 W (above the 1,380 W minimum), step 1 kept."""
    p = _ac(1, node={"max_power_w": [2000.0, 5000.0]})
    net = p.network()
    rows = net.rows(10.0)
    sp, _ = repair.make_safe(net, rows, np.array([[3000.0, 1500.0]]),
                             repair.allowed_mask(net, rows))
    np.testing.assert_allclose(sp, [[2000.0, 1500.0]], rtol=1e-12)


def test_win_back_never_takes_a_step_below_the_minimum_to_make_room() -> None:
    """Need 1,600 Wh, plan 0 W then 1,500 W: step 0 at the 1,380 W minimum would give
    1,280 Wh too much, and step 1 has only 120 Wh above its minimum: no win-back."""
    p = _ac(1, need_wh=1600.0)
    net = p.network()
    sp = repair.win_back(net, net.rows(10.0), np.array([[0.0, 1500.0]]), net.frac > 0,
                         np.array([[True, False]]))
    assert sp.tolist() == [[0.0, 1500.0]]


def _shared_evse(a_w: float) -> tuple[Problem, np.ndarray[Any, Any]]:
    """One 1-phase 32 A EVSE (7,360 W): session a until 01:30 at ``a_w`` in step 1,
    session b from 01:30 (half of step 1) needing 690 Wh, dropped at step 1."""
    p = Problem.model_validate({
        "horizon": {"start": T0.isoformat(), "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid"}],
        "evses": [{"id": "e1", "node": "grid", "phases": 1, "max_current_a": 32.0,
                   "min_current_a": 6.0}],
        "sessions": [
            {"id": "a", "evse": "e1", "arrival": T0.isoformat(),
             "departure": (T0 + timedelta(minutes=90)).isoformat(), "energy_wh": 1e6},
            {"id": "b", "evse": "e1", "arrival": (T0 + timedelta(minutes=90)).isoformat(),
             "departure": (T0 + timedelta(hours=2)).isoformat(), "energy_wh": 690.0},
        ],
    })
    return p, np.array([[7360.0, a_w], [0.0, 0.0]])


def test_win_back_respects_the_evse_maximum_when_two_sessions_share_it_in_a_step() -> None:
    """Step 1: a at 6,000 W; b back on at its 1,380 W minimum would make 7,380 W on the
    7,360 W EVSE: refused. With a at 5,980 W it makes exactly 7,360 W: allowed."""
    dropped = np.array([[False, False], [False, True]])
    p, sp = _shared_evse(6000.0)
    net = p.network()
    out = repair.win_back(net, net.rows(10.0), sp, net.frac > 0, dropped)
    assert out.tolist() == sp.tolist()
    p, sp = _shared_evse(5980.0)
    net = p.network()
    out = repair.win_back(net, net.rows(10.0), sp, net.frac > 0, dropped)
    assert out.tolist() == [[7360.0, 5980.0], [0.0, 1380.0]]
    assert verify(p, Plan.from_session_power(p, out)) == []


def test_win_back_turns_on_several_dropped_steps_while_the_session_is_short() -> None:
    """Quarter-hour steps, need 1,440 Wh, plan 0, 0, 3,000 W (750 Wh): each dropped step
    at the 1,380 W minimum adds 345 Wh; both are turned on (750 + 345 + 345 = 1,440)."""
    p = _ac(1, need_wh=1440.0, steps=3, step_s=900)
    net = p.network()
    sp = repair.win_back(net, net.rows(10.0), np.array([[0.0, 0.0, 3000.0]]), net.frac > 0,
                         np.array([[True, True, False]]))
    np.testing.assert_allclose(sp, [[1380.0, 1380.0, 3000.0]], rtol=1e-12)


def test_win_back_stage_turns_a_step_the_repair_dropped_back_on() -> None:
    """Need 3,500 Wh; the LP asks 1,000 W then 3,000 W (4,000 Wh: scaled by 7/8 to 875 W,
    below the 1,380 W minimum and dropped, and 2,625 W). The win-back stage puts step 0 at
    the minimum and takes the 505 Wh excess off step 1: 1,380 + 2,120 W."""
    p = _ac(1, need_wh=3500.0)
    net = p.network()
    rows = net.rows(10.0)
    allowed = repair.allowed_mask(net, rows)
    rep = repair.repair(net, rows, allowed, np.array([[1000.0, 3000.0]]))
    assert rep.sp.tolist() == [[0.0, 2625.0]] and rep.dropped.tolist() == [[True, False]]
    out = repair.win_back_stage(net, rows, allowed, rep)
    np.testing.assert_allclose(out.sp, [[1380.0, 2120.0]], rtol=1e-12)
    assert out.dropped.tolist() == rep.dropped.tolist() and out.lp_wh == rep.lp_wh
