"""Behaviours no other test pinned down: one test each, named for the behaviour.

Each test here was written against a planted one-line bug (issue 13's mutation study) and
fails on it; docs/testing.md lists the planted bug beside the test. The values are worked
out by hand in the docstrings, never read back from the code under test.
"""

from __future__ import annotations

import importlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import ocpp
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from smartcharge.composite import composite_schedule
from smartcharge.errors import InvalidPayloadError, ScheduleError
from smartcharge.expand import batch_entries, period_entries
from smartcharge.model import ChargingProfile, ChargingProfileStatus
from smartcharge.optimizer import Plan, Problem, SolverStatus, optimize, verify
from smartcharge.station import ChargingStation
from smartcharge.validation import (
    ADDITIONAL_INFO_MAX,
    REASON_CODE_MAX,
    EVSEInfo,
    ProfileRejection,
    StationContext,
    ValidationResult,
    validate_profile,
)

T0 = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)
TX_A = "tx-A"
TX_B = "tx-B"


def _profile(
    pid: int,
    purpose: str = "TxDefaultProfile",
    periods: list[dict[str, Any]] | None = None,
    *,
    unit: str = "A",
    start: datetime | None = T0,
    kind: str = "Absolute",
    **extra: Any,
) -> ChargingProfile:
    sched: dict[str, Any] = {
        "id": 1,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": periods or [{"startPeriod": 0, "limit": 16.0}],
    }
    if start is not None:
        sched["startSchedule"] = start.isoformat()
    return ChargingProfile.model_validate(
        {"id": pid, "stackLevel": 0, "chargingProfilePurpose": purpose,
         "chargingProfileKind": kind, "chargingSchedule": [sched], **extra}
    )


# ---- validation: K01.FR.45 / K01.FR.49 on a 3-phase EVSE of a 1-phase station -------------


def _one_phase_station() -> StationContext:
    # the EVSE is wired for 3 phases, but the station's own supply has only one
    return StationContext(evses={1: EVSEInfo("AC", 3)}, supply_phases=1)


def test_k01_fr_45_three_phase_request_rejected_when_the_station_supply_has_one_phase() -> None:
    ctx = _one_phase_station()
    assert ctx.max_phases(1) == 1
    p = _profile(1, periods=[{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}])
    r = validate_profile(1, p, ctx, now=T0)
    assert not r.accepted
    assert r.reason is ProfileRejection.ChargingSchedulePeriodUnsupportedNumberPhases
    assert r.path == "chargingSchedule[0].chargingSchedulePeriod[0].numberPhases"
    # one phase is what the station can give: accepted
    ok = _profile(1, periods=[{"startPeriod": 0, "limit": 16.0, "numberPhases": 1}])
    assert validate_profile(1, ok, ctx, now=T0).accepted


def test_k01_fr_49_absent_phases_filled_with_the_station_supply_not_3() -> None:
    st_ = ChargingStation({1: EVSEInfo("AC", 3)}, supply_phases=1)
    res = st_.set_charging_profile(1, _profile(1), T0)
    assert res.accepted
    (stored,) = st_.installed[1]
    assert [q.number_phases for q in stored.charging_schedule[0].charging_schedule_period] == [1]


# ---- composite: EVSE 0 in W with 1 default phase and no profiles -------------------------


@pytest.mark.parametrize(("phases", "watts"), [(1, 2 * 32 * 230.0), (2, 2 * 32 * 460.0)])
def test_evse0_composite_in_w_uses_default_number_phases_without_profiles(
    phases: int, watts: float
) -> None:
    """Two EVSEs, no profile anywhere: each may draw the 32 A default on ``phases`` phases
    of 230 V, so the station total is 2 x 32 A x phases x 230 V (1-phase: 14,720 W; a
    3-phase conversion would say 44,160 W). The W default (1 MW each) does not bind."""
    c = composite_schedule({}, 0, T0, 3600, "W", evse_ids=[1, 2], default_number_phases=phases,
                           default_limit_amps=32.0, default_limit_watts=1e6)
    assert [(p.start_period, p.limit) for p in c.charging_schedule_period] == [(0, watts)]
    station = ChargingStation(2, default_number_phases=phases, default_limit_amps=32.0,
                              default_limit_watts=1e6)
    got = station.composite_schedule(0, T0, 3600, "W").charging_schedule_period
    assert [p.limit for p in got] == [watts]


# ---- expand: batch_entries at exact boundaries --------------------------------------------


def test_batch_entries_drops_a_segment_ending_exactly_at_now() -> None:
    """Periods [T0, T0+600) 16 A and [T0+600, ...) 10 A; at now = T0+600 the first has
    ended: only the second comes back (as period_entries says)."""
    p = _profile(1, periods=[{"startPeriod": 0, "limit": 16.0},
                             {"startPeriod": 600, "limit": 10.0}])
    now = T0 + timedelta(seconds=600)
    (seg,) = batch_entries([p], now, now + timedelta(hours=1))
    assert seg.limits.tolist() == [10.0]
    assert seg.period_index.tolist() == [1]
    want = period_entries(p, now, now + timedelta(hours=1))
    assert seg.starts.tolist() == want.starts.tolist() == [int(T0.timestamp()) + 600]


def test_open_ended_last_period_lasts_everests_forever() -> None:
    """An open-ended last period ends 2**31 - 1 s after the schedule's start (EVerest's
    "forever"), in both expansions."""
    p = _profile(1)
    t0 = int(T0.timestamp())
    (seg,) = batch_entries([p], T0, T0 + timedelta(days=1))
    assert seg.ends.tolist() == [t0 + 2**31 - 1]
    assert period_entries(p, T0, T0 + timedelta(days=1)).ends.tolist() == [t0 + 2**31 - 1]
    daily = _profile(2, kind="Recurring", recurrencyKind="Daily")
    ends = period_entries(daily, T0, T0 + timedelta(days=2)).ends.tolist()
    assert ends[:2] == [t0 + 86_400, t0 + 2 * 86_400]  # each occurrence cut by the next


def test_batch_entries_valid_to_exactly_at_now_gives_nothing() -> None:
    p = _profile(1, validTo=(T0 + timedelta(seconds=600)).isoformat())
    now = T0 + timedelta(seconds=600)
    (seg,) = batch_entries([p], now, now + timedelta(hours=1))
    assert seg.starts.size == 0
    (seg,) = batch_entries([p], now - timedelta(seconds=1), now + timedelta(hours=1))
    assert seg.ends.tolist() == [int(T0.timestamp()) + 600]


EDGE = st.sampled_from([0, 1, 599, 600, 601, 1199, 1200, 1800])


@given(now=EDGE, end=EDGE, valid_from=st.none() | EDGE, valid_to=st.none() | EDGE,
       duration=st.none() | EDGE)
def test_batch_entries_agrees_with_period_entries_at_period_edges(
    now: int, end: int, valid_from: int | None, valid_to: int | None, duration: int | None
) -> None:
    """Every instant drawn from the period edges (and one second either side): the batch
    expansion and the one-profile expansion give the same segments."""
    assume(end >= now)
    assume(valid_from is None or valid_to is None or valid_from < valid_to)
    assume(duration is None or duration > 0)
    base = int(T0.timestamp())
    extra: dict[str, Any] = {}
    if valid_from is not None:
        extra["validFrom"] = datetime.fromtimestamp(base + valid_from, timezone.utc).isoformat()
    if valid_to is not None:
        extra["validTo"] = datetime.fromtimestamp(base + valid_to, timezone.utc).isoformat()
    periods = [{"startPeriod": 0, "limit": 16.0}, {"startPeriod": 600, "limit": 10.0},
               {"startPeriod": 1200, "limit": 8.0}]
    p = _profile(1, periods=periods, **extra)
    if duration is not None:
        p = p.model_copy(update={"charging_schedule": (
            p.charging_schedule[0].model_copy(update={"duration": duration}),)})
    (got,) = batch_entries([p], base + now, base + end)
    want = period_entries(p, base + now, base + end)
    for field in ("starts", "ends", "limits", "period_index"):
        assert getattr(got, field).tolist() == getattr(want, field).tolist(), field
    # nothing that ended at or before now comes back
    assert all(e > base + now for e in got.ends.tolist())


# ---- station: end_transaction with two transactions ----------------------------------------


def test_end_transaction_keeps_the_other_transactions_tx_profile() -> None:
    station = ChargingStation(2)
    station.start_transaction(1, TX_A, T0 - timedelta(minutes=5))
    station.start_transaction(2, TX_B, T0 - timedelta(minutes=3))
    a = _profile(11, "TxProfile", transactionId=TX_A)
    b = _profile(12, "TxProfile", transactionId=TX_B)
    assert station.set_charging_profile(1, a, T0).accepted
    assert station.set_charging_profile(2, b, T0).accepted
    assert station.end_transaction(1) == (TX_A, T0 - timedelta(minutes=5))
    assert station.installed.get(1, ()) == ()
    assert [p.id for p in station.installed[2]] == [12]
    assert station.transactions == {2: (TX_B, T0 - timedelta(minutes=3))}
    # by transaction id, too
    station.end_transaction(transaction_id=TX_B)
    assert station.installed.get(2, ()) == ()


# ---- optimizer: V2X with a binding export limit, fallback values, the LP margin ---------


def _v2x_export(site_load_w: float) -> Problem:
    return Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid", "max_power_w": 4000.0}],
        "evses": [{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 10000.0}],
        "sessions": [{"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T02:00:00Z", "energy_wh": 0.0,
                      "max_discharge_w": 9000.0, "discharge_floor_wh": 9000.0}],
        "tariff": {"price": [0.5, 0.1], "site_load_w": [site_load_w, 0.0]},
    })


@pytest.mark.parametrize("site_load_w", [0.0, 1000.0])
def test_v2x_binding_export_limit_gives_the_optimal_v2x_plan(site_load_w: float) -> None:
    """A 0.4/kWh spread, nothing wanted: the EV lends what the 4 kW export limit lets out
    (4 kW plus the site load it covers) in step 0 and takes it back in step 1 (at most 4 kW
    import there, so the discharge is capped at 4 kWh). Optimal, not the charging-only
    fallback (which would be all zero and also pass verify)."""
    p = _v2x_export(site_load_w)
    plan = optimize(p)
    assert verify(p, plan) == []
    assert plan.status is SolverStatus.OPTIMAL, plan.message
    lend = min(4000.0 + site_load_w, 4000.0)  # step 1 can take back at most 4 kWh
    np.testing.assert_allclose(plan.session_power_w, [[-lend, lend]], rtol=1e-6)


def _export_only(site_load_w: float) -> Problem:
    """Import is free in step 1 (no limit there is binding: 20 kW grid), export binds."""
    return Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid", "max_power_w": [4000.0, 20000.0]}],
        "evses": [{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 10000.0}],
        "sessions": [{"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T02:00:00Z", "energy_wh": 0.0,
                      "max_discharge_w": 9000.0, "discharge_floor_wh": 9000.0}],
        "tariff": {"price": [0.5, 0.1], "site_load_w": [site_load_w, 0.0]},
    })


def test_v2x_export_limit_counts_the_site_load_it_covers() -> None:
    """Grid 4 kW in step 0 with a 1 kW site load: the EV may export 4 kW past the load,
    i.e. discharge 5 kW (net -4 kW at the grid), and take the 5 kWh back in step 1."""
    p = _export_only(1000.0)
    plan = optimize(p)
    assert verify(p, plan) == []
    assert plan.status is SolverStatus.OPTIMAL, plan.message
    np.testing.assert_allclose(plan.session_power_w, [[-5000.0, 5000.0]], rtol=1e-6)


def _two_rows_problem() -> Problem:
    """A 3-phase AC EVSE (32 A = 22,080 W) under a node with a 6 kW power limit and a 10 A
    line limit: both rows break when the even share asks for the maximum."""
    return Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid", "max_power_w": 6000.0, "max_current_a": 10.0}],
        "evses": [{"id": "e1", "node": "grid", "max_current_a": 32.0, "min_current_a": 6.0}],
        "sessions": [{"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T02:00:00Z", "energy_wh": 100000.0}],
    })


def test_fallback_with_two_broken_rows_scales_to_the_tighter_not_to_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The even share (22,080 W each step) breaks the 6 kW row (ratio 0.27) and the 10 A
    rows (10 A x 3 x 230 V = 6,900 W, ratio 0.31). Scaling by the smaller ratio meets both:
    6,000 W per step. Scaling by the larger one leaves the power row broken, and the
    repair then zeroes the node: 0 W, which verify would also call safe."""
    # the solve stage (smartcharge.optimizer._model.solve_model) calls solve_lp
    solve_mod = importlib.import_module("smartcharge.optimizer._model")

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(solve_mod, "solve_lp", boom)
    p = _two_rows_problem()
    plan = optimize(p)
    assert plan.status is SolverStatus.FALLBACK
    assert verify(p, plan) == []
    np.testing.assert_allclose(plan.session_power_w, [[6000.0, 6000.0]], rtol=1e-9)


def test_make_safe_with_two_broken_rows_scales_to_the_tighter_row() -> None:
    """The repair on an LP answer that breaks both rows (the same 22,080 W): 6,000 W."""
    repair = importlib.import_module("smartcharge.optimizer._repair")
    p = _two_rows_problem()
    net = p.network()
    rows = net.rows(10.0)
    allowed = net.frac > 0
    sp, changed = repair.make_safe(net, rows, np.full((1, 2), 22080.0), allowed)
    assert changed
    np.testing.assert_allclose(sp, [[6000.0, 6000.0]], rtol=1e-9)


def test_lp_plans_a_binding_node_at_most_limit_minus_the_documented_margin() -> None:
    """docs/optimizer.md: the LP sees every right-hand side lowered by 1e-7 relative +
    1e-4 absolute. A DC EVSE that wants far more than a 10 kW node gives: the plan sits at
    10,000 - 0.001 - 0.0001 = 9,999.9989 W (never at the limit itself), and not lower
    than that by more than the solver's tolerance."""
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid", "max_power_w": 10000.0}],
        "evses": [{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 50000.0}],
        "sessions": [{"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T02:00:00Z", "energy_wh": 100000.0}],
    })
    plan = optimize(p)
    assert plan.status is SolverStatus.OPTIMAL
    cap = 10000.0 - 1e-7 * 10000.0 - 1e-4
    assert np.all(plan.session_power_w <= cap + 1e-9)
    assert np.all(plan.session_power_w >= cap - 1e-6)


# ---- validation: limits and defaults the mutation run found unpinned ----------------------


def test_status_info_limits_are_the_ocpp_schema_max_lengths() -> None:
    """REASON_CODE_MAX / ADDITIONAL_INFO_MAX are StatusInfoType's maxLength in the official
    schema (CiString20 / CiString512), read from the ocpp package, not restated."""
    schema = json.loads((Path(ocpp.__file__).parent / "v201" / "schemas"
                         / "SetChargingProfileResponse.json").read_text())
    props = schema["definitions"]["StatusInfoType"]["properties"]
    assert props["reasonCode"]["maxLength"] == REASON_CODE_MAX
    assert props["additionalInfo"]["maxLength"] == ADDITIONAL_INFO_MAX


def test_additional_info_is_cut_only_above_512_characters() -> None:
    reason = ProfileRejection.ChargingSchedulePeriodUnsupportedNumberPhases
    whole = ValidationResult(ChargingProfileStatus.Rejected, reason, "x" * 512)
    assert whole.additional_info == "x" * 512
    cut = ValidationResult(ChargingProfileStatus.Rejected, reason, "x" * 513)
    assert cut.additional_info == "x" * 509 + "..."


def test_station_context_default_is_one_three_phase_ac_evse_without_phase_switching() -> None:
    ctx = StationContext()
    assert list(ctx.evses) == [1]
    assert (ctx.max_phases(0), ctx.max_phases(1)) == (3, 3)
    three = _profile(1, periods=[{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}])
    assert validate_profile(1, three, ctx, now=T0).accepted
    assert validate_profile(0, three, ctx, now=T0).accepted
    switch = _profile(1, periods=[{"startPeriod": 0, "limit": 16.0, "numberPhases": 1,
                                   "phaseToUse": 2}])
    r = validate_profile(1, switch, ctx, now=T0)
    assert r.reason is ProfileRejection.ChargingSchedulePeriodPhaseToUseACPhaseSwitchingUnsupported
    assert validate_profile(1, switch, StationContext(phase_switching=True), now=T0).accepted


@pytest.mark.parametrize("phases", [0, 4])
def test_evse_info_supply_phases_must_be_1_to_3(phases: int) -> None:
    with pytest.raises(InvalidPayloadError) as err:
        EVSEInfo("AC", phases)
    assert err.value.path == "supply_phases"
    assert EVSEInfo("AC", 3).supply_phases == 3


# ---- kills that depended on luck: ties at one instant, recurring validity, evse_max --------


def _ext(pid: int, amps: float, start: datetime, stack: int = 0) -> ChargingProfile:
    return _profile(pid, "ChargingStationExternalConstraints",
                    [{"startPeriod": 0, "limit": amps}], start=start, stackLevel=stack)


def _first_limit(installed: dict[int, list[ChargingProfile]]) -> float:
    c = composite_schedule(installed, 1, T0, 600, "A", evse_ids=[1])
    return c.charging_schedule_period[0].limit


def test_same_stack_external_constraints_starting_at_one_instant_break_ties_as_documented() -> None:
    """composite.py rule 1: at one stack level the period that started earlier wins; at the
    same instant the EVSE's own profile beats the station-wide one; then the lower id."""
    own, station_wide = _ext(7, 10.0, T0), _ext(3, 20.0, T0)
    assert _first_limit({1: [own], 0: [station_wide]}) == 10.0  # own first
    own, station_wide = _ext(7, 20.0, T0), _ext(3, 10.0, T0)
    assert _first_limit({1: [own], 0: [station_wide]}) == 20.0  # still own, though higher
    a, b = _ext(4, 20.0, T0), _ext(9, 10.0, T0)
    assert _first_limit({1: [a, b]}) == 20.0  # one EVSE, one instant: lower id
    assert _first_limit({1: [b, a]}) == 20.0  # whatever the order given
    earlier = _ext(9, 20.0, T0 - timedelta(hours=1))
    assert _first_limit({1: [_ext(4, 10.0, T0), earlier]}) == 20.0  # started earlier
    higher = _ext(9, 25.0, T0, stack=1)
    assert _first_limit({1: [a, higher]}) == 25.0  # a higher stack level wins outright
    # units do not break the tie: the EVSE's own 10 A beats a station-wide 20 kW
    watts = _profile(3, "ChargingStationExternalConstraints",
                     [{"startPeriod": 0, "limit": 20000.0}], unit="W", start=T0)
    assert _first_limit({1: [_ext(7, 10.0, T0)], 0: [watts]}) == 10.0


def test_recurring_profile_with_validity_window_applies_inside_it_only() -> None:
    """A Daily TxDefaultProfile from 2024-01-01 08:00 (10 A for an hour, then 6 A), valid
    from Jan 3 08:30 to Jan 4 09:00. Window Jan 3 00:00 + 2 days, 32 A default:
    32 A until 08:30, 10 A until 09:00, 6 A until Jan 4 08:00, 10 A until 09:00, 32 A."""
    day = datetime(2024, 1, 3, tzinfo=timezone.utc)
    p = _profile(1, periods=[{"startPeriod": 0, "limit": 10.0},
                             {"startPeriod": 3600, "limit": 6.0}],
                 start=datetime(2024, 1, 1, 8, tzinfo=timezone.utc), kind="Recurring",
                 recurrencyKind="Daily", validFrom="2024-01-03T08:30:00Z",
                 validTo="2024-01-04T09:00:00Z")
    c = composite_schedule({1: [p]}, 1, day, 2 * 86_400, "A", evse_ids=[1],
                           default_limit_amps=32.0)
    got = [(q.start_period, q.limit) for q in c.charging_schedule_period]
    h = 3600
    assert got == [(0, 32.0), (8 * h + 1800, 10.0), (9 * h, 6.0), (32 * h, 10.0),
                   (33 * h, 32.0)]


def test_verify_reports_evse_max_with_the_evse_the_step_and_both_values() -> None:
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid"}],
        "evses": [{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 10000.0}],
        "sessions": [
            {"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
             "departure": "2024-01-01T01:30:00Z", "energy_wh": 50000.0,
             "max_power_w": 8000.0},
            {"id": "s2", "evse": "e1", "arrival": "2024-01-01T01:30:00Z",
             "departure": "2024-01-01T02:00:00Z", "energy_wh": 50000.0,
             "max_power_w": 8000.0},
        ],
    })
    # step 1: the two sessions share the EVSE; their powers add up (10 kW: at the limit)
    ok = Plan.from_session_power(p, [[8000.0, 5000.0], [0.0, 5000.0]])
    assert verify(p, ok) == []
    bad = Plan.from_session_power(p, [[8000.0, 5000.0], [0.0, 6000.0]])
    got = [(v.kind, v.subject, v.step, v.value, v.limit) for v in verify(p, bad)]
    assert got == [("evse_max", "e1", 1, 11000.0, 10000.0)]


def _ext_many(pid: int, base: float, n: int = 400) -> ChargingProfile:
    periods = [{"startPeriod": 60 * k, "limit": base + k % 2} for k in range(n)]
    return _profile(pid, "ChargingStationExternalConstraints", periods, start=T0)


def test_same_stack_ties_at_one_instant_on_large_inputs_too() -> None:
    """The same tie-breaks where the composite takes its per-profile path (cells x segments
    above the one-matrix limit): 400 one-minute periods each, all starting at T0."""
    want_own = [(60 * k, 10.0 + k % 2) for k in range(400)]
    for installed in ({1: [_ext_many(7, 10.0)], 0: [_ext_many(3, 20.0)]},
                      {1: [_ext_many(4, 10.0), _ext_many(9, 20.0)]},
                      {1: [_ext_many(9, 20.0), _ext_many(4, 10.0)]}):
        c = composite_schedule(installed, 1, T0, 400 * 60, "A", evse_ids=[1])
        got = [(q.start_period, q.limit) for q in c.charging_schedule_period]
        assert got == want_own


# ---- validation: the additionalInfo texts a station sends back -----------------------------


def test_rejection_messages_name_where_the_rule_broke() -> None:
    """The texts go on the wire (StatusInfo.additionalInfo): they name the place."""
    p3 = _profile(1, periods=[{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}])
    dc_station = StationContext(evses={1: EVSEInfo("DC")}, supply_phases=0)
    assert "on the station's DC supply" in validate_profile(0, p3, dc_station, now=T0).message
    assert "on DC EVSE 1" in validate_profile(1, p3, dc_station, now=T0).message
    no_units = StationContext(rate_units=frozenset())
    assert "(supported: none)" in validate_profile(1, p3, no_units, now=T0).message
    station_wide = _profile(5, stackLevel=2)
    ctx = StationContext(installed={0: [station_wide]})
    r = validate_profile(1, _profile(6, stackLevel=2), ctx, now=T0)
    assert r.reason is ProfileRejection.DuplicateTxDefaultProfileFound
    assert "TxDefaultProfile 5 on EVSE 0 (station-wide) already uses stackLevel 2" in r.message
    ctx = StationContext(installed={1: [_profile(6, stackLevel=2)]})
    r = validate_profile(0, station_wide, ctx, now=T0)
    assert "TxDefaultProfile 6 on EVSE 1 already uses stackLevel 2" in r.message


# ---- expand / composite: edges the mutation run found unpinned ----------------------------


def test_period_table_names_the_first_start_period_out_of_order() -> None:
    """Three periods, only the third out of order: the error names that one (not only a
    schedule whose every period is out of order)."""
    p = _profile(1, periods=[{"startPeriod": 0, "limit": 16.0},
                             {"startPeriod": 600, "limit": 10.0},
                             {"startPeriod": 300, "limit": 8.0}])
    with pytest.raises(ScheduleError) as err:
        period_entries(p, T0, T0 + timedelta(hours=1))
    assert err.value.path == "chargingSchedule[0].chargingSchedulePeriod[2].startPeriod"


def test_recurring_occurrence_starting_exactly_at_a_zero_length_window_counts() -> None:
    """duration 0 gives the period in force at the start; at the very instant a Daily
    occurrence starts, that is the occurrence's first period, as for the same Absolute
    profile."""
    daily = _profile(1, periods=[{"startPeriod": 0, "limit": 10.0},
                                 {"startPeriod": 3600, "limit": 6.0}],
                     start=T0 - timedelta(days=3), kind="Recurring", recurrencyKind="Daily")
    absolute = _profile(1, periods=[{"startPeriod": 0, "limit": 10.0},
                                    {"startPeriod": 3600, "limit": 6.0}])
    for p in (daily, absolute):
        c = composite_schedule({1: [p]}, 1, T0, 0, "A", evse_ids=[1])
        assert [(q.start_period, q.limit) for q in c.charging_schedule_period] == [(0, 10.0)]
        seg = period_entries(p, T0, T0)
        assert (seg.starts.tolist()[:1], seg.limits.tolist()[:1]) == ([int(T0.timestamp())],
                                                                       [10.0])


def test_composite_default_evses_are_the_installed_and_transaction_evses_not_0() -> None:
    """Without ``evse_ids`` the station's EVSEs are the keys of ``installed`` other than 0,
    plus the EVSEs with a transaction: EVSE 0's total sums EVSEs 1 and 2 (10 A + 6 A)."""
    e1 = _profile(1, periods=[{"startPeriod": 0, "limit": 10.0}])
    e2 = _profile(2, periods=[{"startPeriod": 0, "limit": 6.0}])
    cap = _profile(3, "ChargingStationMaxProfile", [{"startPeriod": 0, "limit": 40.0}])
    c = composite_schedule({0: [cap], 1: [e1], 2: [e2]}, 0, T0, 600, "A")
    assert [q.limit for q in c.charging_schedule_period] == [16.0]
    # a transaction's EVSE counts too (with the 32 A default): 10 + 6 + 32 = 48, capped 40
    c = composite_schedule({0: [cap], 1: [e1], 2: [e2]}, 0, T0, 600, "A",
                           transactions={3: ("tx", T0)})
    assert [q.limit for q in c.charging_schedule_period] == [40.0]
    assert composite_schedule({1: [e1]}, 1, T0, 600, "A").charging_schedule_period[0].limit \
        == 10.0


def test_period_index_zero_is_the_first_period_and_negative_is_an_error() -> None:
    p = _profile(1, periods=[{"startPeriod": 0, "limit": 16.0},
                             {"startPeriod": 600, "limit": 10.0}])
    seg = period_entries(p, T0, T0 + timedelta(hours=1), period_index=0)
    assert (seg.limits.tolist(), seg.period_index.tolist()) == ([16.0], [0])
    with pytest.raises(ScheduleError, match=r"period index -1 out of range 0\.\.1"):
        period_entries(p, T0, T0 + timedelta(hours=1), period_index=-1)


def test_recurring_profile_with_exactly_two_occurrences_in_the_window_gives_both() -> None:
    daily = _profile(1, periods=[{"startPeriod": 0, "limit": 10.0},
                                 {"startPeriod": 3600, "limit": 6.0}],
                     start=T0 - timedelta(days=3), kind="Recurring", recurrencyKind="Daily")
    t0 = int(T0.timestamp())
    seg = period_entries(daily, T0 + timedelta(hours=2), T0 + timedelta(hours=25))
    # (the last entry runs on past the window: no later occurrence in it cuts it)
    assert list(zip(seg.starts.tolist(), seg.ends.tolist()[:2], seg.limits.tolist(),
                    strict=False)) == [
        (t0 + 3600, t0 + 86_400, 6.0),
        (t0 + 86_400, t0 + 86_400 + 3600, 10.0),
    ]
    assert (seg.starts.tolist()[2], seg.limits.tolist()[2]) == (t0 + 86_400 + 3600, 6.0)


def test_make_safe_caps_energy_at_the_need_with_quarter_hour_steps() -> None:
    """8 kW for two 15-min steps is 4 kWh; the session needs 1 kWh: scaled to 2 kW each.
    (With hourly steps W and Wh per step coincide; quarter-hours tell them apart.)"""
    repair = importlib.import_module("smartcharge.optimizer._repair")
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_steps": 2},
        "nodes": [{"id": "grid"}],
        "evses": [{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 10000.0}],
        "sessions": [{"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T00:30:00Z", "energy_wh": 1000.0}],
    })
    net = p.network()
    sp, changed = repair.make_safe(net, net.rows(10.0), np.full((1, 2), 8000.0),
                                   net.frac > 0)
    assert changed
    np.testing.assert_allclose(sp, [[2000.0, 2000.0]], rtol=1e-12)


def _one_ac_session(need_wh: float, *, steps: int = 2, node: dict[str, Any] | None = None,
                    step_s: int = 3600) -> Problem:
    """A 1-phase 230 V EVSE, 6..32 A (1,380..7,360 W), one session over the horizon."""
    end = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=steps * step_s)
    return Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": step_s, "n_steps": steps},
        "nodes": [{"id": "grid", **(node or {})}],
        "evses": [{"id": "e1", "node": "grid", "phases": 1, "max_current_a": 32.0,
                   "min_current_a": 6.0}],
        "sessions": [{"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": end.isoformat(), "energy_wh": need_wh}],
    })


def test_make_safe_minimum_current_snaps_within_1e_9_and_drops_below() -> None:
    repair = importlib.import_module("smartcharge.optimizer._repair")
    p = _one_ac_session(100_000.0, steps=3)
    net = p.network()
    mn = 6 * 230.0
    raw = np.array([[mn * (1 - 1e-10), mn * (1 - 1e-6), mn]])
    sp, changed = repair.make_safe(net, net.rows(10.0), raw, net.frac > 0)
    assert sp.tolist() == [[mn, 0.0, mn]]
    assert changed


def test_make_safe_a_row_broken_after_the_minimum_rule_zeroes_that_step_only() -> None:
    """A 1,000 W node limit under the 1,380 W minimum: scaling gives 1,000 W, the minimum
    rule drops it to 0 -- in the broken step only; a step within the limit stays."""
    repair = importlib.import_module("smartcharge.optimizer._repair")
    p = _one_ac_session(100_000.0, node={"max_power_w": [1000.0, 5000.0]})
    net = p.network()
    sp, _ = repair.make_safe(net, net.rows(10.0), np.array([[3000.0, 3000.0]]), net.frac > 0)
    assert sp.tolist() == [[0.0, 3000.0]]


def test_win_back_turns_a_dropped_step_on_at_the_minimum_and_takes_the_excess_back() -> None:
    """Need 3,500 Wh; the plan gives 0 W then 3,000 W (short by 500 Wh), step 0 dropped by
    the minimum rule. Win-back sets step 0 to the 1,380 W minimum (880 Wh too much) and
    takes 880 Wh off step 1: 1,380 + 2,120 = 3,500 Wh."""
    repair = importlib.import_module("smartcharge.optimizer._repair")
    p = _one_ac_session(3500.0)
    net = p.network()
    rows = net.rows(10.0)
    dropped = np.array([[True, False]])
    sp = repair.win_back(net, rows, np.array([[0.0, 3000.0]]), net.frac > 0, dropped)
    np.testing.assert_allclose(sp, [[1380.0, 2120.0]], rtol=1e-12)
    # the same in quarter-hour steps (energies a quarter): need 875 Wh, short by 125 Wh
    p = _one_ac_session(875.0, step_s=900)
    net = p.network()
    sp = repair.win_back(net, net.rows(10.0), np.array([[0.0, 3000.0]]), net.frac > 0,
                         dropped)
    np.testing.assert_allclose(sp, [[1380.0, 2120.0]], rtol=1e-12)
    # not if the excess cannot be taken back (step 1 at the minimum already)
    p = _one_ac_session(2000.0)
    net = p.network()
    sp = repair.win_back(net, net.rows(10.0), np.array([[0.0, 1380.0]]), net.frac > 0,
                         dropped)
    np.testing.assert_allclose(sp, [[0.0, 1380.0]], rtol=1e-12)
    # not if a node row would break (a 1,000 W limit in step 0)
    p = _one_ac_session(3500.0, node={"max_power_w": [1000.0, 5000.0]})
    net = p.network()
    sp = repair.win_back(net, net.rows(10.0), np.array([[0.0, 3000.0]]), net.frac > 0,
                         dropped)
    np.testing.assert_allclose(sp, [[0.0, 3000.0]], rtol=1e-12)


def test_fallback_spreads_the_need_over_a_window_shorter_than_an_hour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1 kWh over a 30-minute window (two quarter-hours): 2 kW each step."""
    # the solve stage (smartcharge.optimizer._model.solve_model) calls solve_lp
    solve_mod = importlib.import_module("smartcharge.optimizer._model")

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(solve_mod, "solve_lp", boom)
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_steps": 2},
        "nodes": [{"id": "grid"}],
        "evses": [{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 10000.0}],
        "sessions": [{"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                      "departure": "2024-01-01T00:30:00Z", "energy_wh": 1000.0}],
    })
    plan = optimize(p)
    assert plan.status is SolverStatus.FALLBACK
    np.testing.assert_allclose(plan.session_power_w, [[2000.0, 2000.0]], rtol=1e-12)


def test_win_back_counts_the_part_of_a_step_a_session_is_there() -> None:
    """Arrival at 00:07:30 in quarter-hour steps: the session has half of step 0. Need
    800 Wh, plan 0 W then 3,000 W (750 Wh): step 0 at the 1,380 W minimum gives
    1,380 x 0.5 x 0.25 = 172.5 Wh, 122.5 Wh too much, taken off step 1: 2,510 W."""
    repair = importlib.import_module("smartcharge.optimizer._repair")
    p = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_steps": 2},
        "nodes": [{"id": "grid"}],
        "evses": [{"id": "e1", "node": "grid", "phases": 1, "max_current_a": 32.0,
                   "min_current_a": 6.0}],
        "sessions": [{"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:07:30Z",
                      "departure": "2024-01-01T00:30:00Z", "energy_wh": 800.0}],
    })
    net = p.network()
    np.testing.assert_allclose(net.frac, [[0.5, 1.0]])
    sp = repair.win_back(net, net.rows(10.0), np.array([[0.0, 3000.0]]), net.frac > 0,
                         np.array([[True, False]]))
    np.testing.assert_allclose(sp, [[1380.0, 2510.0]], rtol=1e-12)


@pytest.mark.parametrize("name", ["supply_voltage", "default_limit_amps",
                                  "default_limit_watts"])
@pytest.mark.parametrize("value", [True, "230", None])
def test_station_numbers_must_be_numbers_not_bools_or_strings(name: str, value: object) -> None:
    """A bool is an int in Python; the station takes it for no voltage or limit."""
    from smartcharge.errors import StationError

    with pytest.raises(StationError) as err:
        ChargingStation(**{name: value})
    assert (err.value.path, err.value.rule) == (name, "type")
    assert ChargingStation(**{name: 230}) is not None


def test_no_transaction_starts_on_evse_0_the_station_itself() -> None:
    from smartcharge.errors import StationError

    st_ = ChargingStation()
    with pytest.raises(StationError) as err:
        st_.start_transaction(0, "tx-1", T0)
    assert err.value.path is not None and "evse" in err.value.path.lower()
    assert dict(st_.transactions) == {}
    st_.start_transaction(1, "tx-1", T0)
    assert dict(st_.transactions) == {1: ("tx-1", T0)}


def _peak_shave(v2x: bool) -> Problem:
    """A 10 kW site-load peak in step 0, 2 kW in step 1, a flat price and a demand charge
    of 20/kW: a V2X car that wants no energy may lend and take back."""
    session: dict[str, Any] = {"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
                               "departure": "2024-01-01T02:00:00Z", "energy_wh": 0.0}
    if v2x:
        session |= {"max_discharge_w": 9000.0, "discharge_floor_wh": 9000.0}
    return Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 2},
        "nodes": [{"id": "grid", "max_power_w": 20000.0}],
        "evses": [{"id": "e1", "node": "grid", "kind": "DC", "max_power_w": 10000.0}],
        "sessions": [session],
        "tariff": {"price": [0.1, 0.1], "site_load_w": [10000.0, 2000.0],
                   "demand_charge_per_kw": 20.0},
    })


def test_v2x_discharge_shaves_the_import_peak_below_the_site_loads_own_peak() -> None:
    """Lending x Wh in step 0 and taking it back in step 1 makes the import peak
    max(10 kW - x, 2 kW + x), lowest at x = 4 kW: a 6 kW peak, 80 saved on the demand
    charge at no energy cost. The LP's peak column may go below the site load's own
    10 kW peak when cars can discharge (without V2X it cannot: the root power is at least
    the site load)."""
    # catches: the peak's lower bound kept at the site load's peak for V2X (no shaving valued)
    p = _peak_shave(v2x=True)
    plan = optimize(p)
    assert verify(p, plan) == []
    assert plan.status is SolverStatus.OPTIMAL, plan.message
    np.testing.assert_allclose(plan.session_power_w, [[-4000.0, 4000.0]], rtol=1e-6)
    assert plan.peak_w == pytest.approx(6000.0, rel=1e-6)
    assert plan.demand_cost == pytest.approx(120.0, rel=1e-6)
    plain = optimize(_peak_shave(v2x=False))
    assert plain.peak_w == pytest.approx(10000.0)
    assert plain.demand_cost == pytest.approx(200.0)
