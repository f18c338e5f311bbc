"""Tests of smartcharge.composite (K08) from the spec's rules; no ../shared needed."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import ocpp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcharge.composite import DEFAULT_LIMIT_AMPS, DEFAULT_LIMIT_WATTS, composite_schedule
from smartcharge.errors import ScheduleError, SmartChargeError
from smartcharge.expand import expand_profile
from smartcharge.model import ChargingProfile, CompositeSchedule
from smartcharge.schedule import epoch_seconds

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)  # a Monday
E0 = epoch_seconds(T0)
H = 3600
DAY = 86_400
TX = "tx-1"
SCHEMA = json.loads(
    (
        Path(ocpp.__file__).parent / "v201" / "schemas" / "GetCompositeScheduleResponse.json"
    ).read_text()
)

_ids = iter(range(1, 10**9))


def iso(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def prof(
    purpose: str,
    periods: Sequence[tuple[int, float] | tuple[int, float, int]],
    *,
    unit: str = "A",
    stack: int = 0,
    kind: str = "Absolute",
    start: int = 0,
    duration: int | None = None,
    recurrency: str | None = None,
    valid_from: int | None = None,
    valid_to: int | None = None,
    tx: str | None = None,
    pid: int | None = None,
) -> ChargingProfile:
    sched: dict[str, Any] = {
        "id": 1,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": p[0], "limit": p[1]} | ({"numberPhases": p[2]} if len(p) > 2 else {})
            for p in periods
        ],
    }
    if kind != "Relative":
        sched["startSchedule"] = iso(start)
    if duration is not None:
        sched["duration"] = duration
    payload: dict[str, Any] = {
        "id": pid if pid is not None else next(_ids),
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [sched],
    }
    if recurrency:
        payload["recurrencyKind"] = recurrency
    if valid_from is not None:
        payload["validFrom"] = iso(valid_from)
    if valid_to is not None:
        payload["validTo"] = iso(valid_to)
    if tx is not None or purpose == "TxProfile":
        payload["transactionId"] = tx or TX
    return ChargingProfile.model_validate(payload)


def periods(c: CompositeSchedule) -> list[tuple[int, float, int | None]]:
    return [(p.start_period, p.limit, p.number_phases) for p in c.charging_schedule_period]


def comp(
    installed: Mapping[int, Sequence[ChargingProfile]],
    evse: int = 1,
    *,
    start: int = 0,
    duration: int = 4 * H,
    unit: str = "A",
    **kw: Any,
) -> list[tuple[int, float, int | None]]:
    c = composite_schedule(installed, evse, T0 + timedelta(seconds=start), duration, unit, **kw)
    jsonschema.validate({"status": "Accepted", "schedule": c.to_json_dict()}, SCHEMA)
    assert CompositeSchedule.model_validate(c.to_json_dict()) == c
    return periods(c)


# ---------------------------------------------------------------- defaults and shape


def test_no_profiles_gives_the_default() -> None:
    assert comp({1: []}) == [(0, DEFAULT_LIMIT_AMPS, None)]
    assert comp({1: []}, unit="W") == [(0, DEFAULT_LIMIT_WATTS, None)]
    assert comp({1: []}, default_limit_amps=57.0) == [(0, 57.0, None)]


def test_library_defaults_are_consistent() -> None:
    assert DEFAULT_LIMIT_WATTS == DEFAULT_LIMIT_AMPS * 3 * 230.0


def test_header_fields() -> None:
    c = composite_schedule({1: []}, 1, T0 + timedelta(microseconds=900_000), 600, "W")
    assert c.evse_id == 1
    assert c.duration == 600
    assert c.schedule_start == T0  # floored to whole seconds
    assert c.charging_rate_unit.value == "W"


# ---------------------------------------------------------------- stack levels and purposes


def test_highest_stack_level_wins_and_lower_shows_through() -> None:
    low = prof("TxDefaultProfile", [(0, 16.0)], stack=0)
    high = prof("TxDefaultProfile", [(0, 20.0), (H, 6.0)], stack=1, start=H, duration=2 * H)
    # the higher level wins outright even with a higher limit; the lower one shows through
    assert comp({1: [low, high]}) == [(0, 16.0, 3), (H, 20.0, 3), (2 * H, 6.0, 3), (3 * H, 16.0, 3)]


def test_tx_profile_overrides_tx_default_even_when_higher() -> None:
    txd = prof("TxDefaultProfile", [(0, 10.0)], stack=5)
    txp = prof("TxProfile", [(0, 20.0)], stack=0, duration=2 * H)
    running = {1: (TX, T0)}
    assert comp({1: [txd, txp]}, transactions=running) == [(0, 20.0, 3), (2 * H, 10.0, 3)]
    # no transaction: the TxProfile does not count (the TxDefault does, assumed transaction)
    assert comp({1: [txd, txp]}) == [(0, 10.0, 3)]
    # another transaction: the TxProfile does not count
    assert comp({1: [txd, txp]}, transactions={1: ("other", T0)}) == [(0, 10.0, 3)]
    # TxProfiles on EVSE 0 are ignored
    assert comp({0: [txp], 1: [txd]}, transactions=running) == [(0, 10.0, 3)]


def test_assume_transaction_false_ignores_the_tx_layer() -> None:
    txd = prof("TxDefaultProfile", [(0, 10.0)])
    mx = prof("ChargingStationMaxProfile", [(0, 25.0)])
    assert comp({0: [mx], 1: [txd]}, assume_transaction=False) == [(0, 25.0, 3)]
    assert comp({0: [mx], 1: [txd]}, assume_transaction=False, transactions={1: (TX, T0)}) == [
        (0, 10.0, 3)
    ]


@pytest.mark.parametrize(("station_stack", "evse_stack", "want"), [(2, 1, 8.0), (1, 2, 12.0)])
def test_station_and_evse_tx_defaults_compete_by_stack_level(
    station_stack: int, evse_stack: int, want: float
) -> None:
    station = prof("TxDefaultProfile", [(0, 8.0)], stack=station_stack)
    own = prof("TxDefaultProfile", [(0, 12.0)], stack=evse_stack)
    assert comp({0: [station], 1: [own]}) == [(0, want, 3)]


def test_minimum_of_external_max_and_tx() -> None:
    ext = prof("ChargingStationExternalConstraints", [(0, 20.0), (2 * H, 5.0)])
    mx = prof("ChargingStationMaxProfile", [(0, 30.0), (H, 12.0)])
    txd = prof("TxDefaultProfile", [(0, 16.0), (3 * H, 40.0)])
    assert comp({0: [mx, ext], 1: [txd]}) == [(0, 16.0, 3), (H, 12.0, 3), (2 * H, 5.0, 3)]


def test_max_profile_counts_only_on_evse_0() -> None:
    mx = prof("ChargingStationMaxProfile", [(0, 6.0)])
    assert comp({1: [mx]}) == [(0, DEFAULT_LIMIT_AMPS, None)]


# ---------------------------------------------------------------- units and phases


def test_mixing_amps_and_watts_three_phases() -> None:
    mx = prof("ChargingStationMaxProfile", [(0, 11040.0)], unit="W")  # 16 A on 3 phases
    txd = prof("TxDefaultProfile", [(0, 20.0), (H, 10.0)])
    assert comp({0: [mx], 1: [txd]}, duration=2 * H) == [(0, 16.0, 3), (H, 10.0, 3)]
    assert comp({0: [mx], 1: [txd]}, duration=2 * H, unit="W") == [
        (0, 11040.0, 3),
        (H, 6900.0, 3),
    ]


def test_mixing_amps_and_watts_single_phase() -> None:
    mx = prof("ChargingStationMaxProfile", [(0, 11040.0)], unit="W")
    txd = prof("TxDefaultProfile", [(0, 32.0, 1)])
    # one phase: 11040 W allow 48 A, so the 32 A profile limits; W = 32 * 230 * 1
    assert comp({0: [mx], 1: [txd]}) == [(0, 32.0, 1)]
    assert comp({0: [mx], 1: [txd]}, unit="W") == [(0, 7360.0, 1)]
    assert comp({0: [mx], 1: [txd]}, unit="W", supply_voltage=120.0) == [(0, 3840.0, 1)]


def test_conversion_rounds_down_to_one_decimal() -> None:
    txd = prof("TxDefaultProfile", [(0, 10000.0)], unit="W")
    (p,) = comp({1: [txd]})
    assert p == (0, 14.4, 3)  # 14.49... A, never rounded up


def test_default_number_phases_for_unspecified_segments() -> None:
    mx = prof("ChargingStationMaxProfile", [(0, 6900.0)], unit="W")  # phases -> 3 (absent)
    assert comp({0: [mx], 1: []}) == [(0, 10.0, 3)]
    # EVSE 0 of a station without EVSEs: only the max profile, no default phases needed
    assert comp({0: [mx]}, evse=0, evse_ids=[], unit="A", default_number_phases=1) == [(0, 10.0, 3)]


# ---------------------------------------------------------------- EVSE 0 totals


def test_evse0_sums_the_evses() -> None:
    txd = prof("TxDefaultProfile", [(0, 16.0), (H, 10.0)])
    assert comp({0: [txd]}, evse=0, evse_ids=[1, 2], duration=2 * H) == [
        (0, 32.0, 3),
        (H, 20.0, 3),
    ]


def test_evse0_total_capped_by_max_and_external() -> None:
    txd = prof("TxDefaultProfile", [(0, 16.0)])
    mx = prof("ChargingStationMaxProfile", [(0, 40.0), (H, 24.0)])
    ext = prof("ChargingStationExternalConstraints", [(0, 100.0)], start=2 * H, duration=H)
    got = comp({0: [txd, mx]}, evse=0, evse_ids=[1, 2, 3], duration=3 * H)
    assert got == [(0, 40.0, 3), (H, 24.0, 3)]
    ext = prof("ChargingStationExternalConstraints", [(0, 20.0)], start=2 * H, duration=H)
    got = comp({0: [txd, mx, ext]}, evse=0, evse_ids=[1, 2, 3], duration=3 * H)
    assert got == [(0, 40.0, 3), (H, 24.0, 3), (2 * H, 20.0, 3)]


def test_evse0_unlimited_evse_counts_with_the_default() -> None:
    txd = prof("TxDefaultProfile", [(0, 16.0)])
    got = comp({1: [txd], 2: []}, evse=0, default_limit_amps=57.0, default_limit_watts=39330.0)
    assert got == [(0, 73.0, 3)]
    # amps and watts defaults are summed separately and compared at the end (as in EVerest):
    # with the library's 22 080 W default, two EVSEs give 44 160 W = 64 A on 3 phases
    got = comp({1: [txd], 2: []}, evse=0, default_limit_amps=57.0)
    assert got == [(0, 64.0, 3)]
    # nothing anywhere: the sum of the defaults
    assert comp({1: [], 2: []}, evse=0, default_limit_amps=10.0) == [(0, 20.0, None)]


def test_evse0_phases_are_the_largest() -> None:
    one = prof("TxDefaultProfile", [(0, 10.0, 1)])
    three = prof("TxDefaultProfile", [(0, 10.0, 3)])
    assert comp({1: [one], 2: [three]}, evse=0) == [(0, 20.0, 3)]


# ---------------------------------------------------------------- kinds and validity


def test_recurring_daily() -> None:
    daily = prof(
        "TxDefaultProfile",
        [(0, 6.0)],
        kind="Recurring",
        recurrency="Daily",
        start=-DAY + 18 * H,
        duration=6 * H,
    )
    got = comp({1: [daily]}, start=12 * H, duration=DAY, default_limit_amps=32.0)
    assert got == [(0, 32.0, None), (6 * H, 6.0, 3), (12 * H, 32.0, None)]


def test_recurring_weekly() -> None:
    weekly = prof(
        "TxDefaultProfile",
        [(0, 8.0), (H, 4.0)],
        kind="Recurring",
        recurrency="Weekly",
        start=-5 * DAY,
        duration=2 * H,
    )
    d = DEFAULT_LIMIT_AMPS
    got = comp({1: [weekly]}, start=DAY, duration=9 * DAY)
    assert got == [
        (0, d, None),
        (DAY, 8.0, 3),
        (DAY + H, 4.0, 3),
        (DAY + 2 * H, d, None),
        (8 * DAY, 8.0, 3),
        (8 * DAY + H, 4.0, 3),
        (8 * DAY + 2 * H, d, None),
    ]


def test_relative_with_and_without_transaction() -> None:
    rel = prof("TxDefaultProfile", [(0, 6.0), (H, 12.0)], kind="Relative")
    # no transaction: anchored at the window start
    assert comp({1: [rel]}, start=30 * 60, duration=2 * H) == [(0, 6.0, 3), (H, 12.0, 3)]
    # a transaction that started at T0: anchored there
    got = comp({1: [rel]}, start=30 * 60, duration=2 * H, transactions={1: ("x", T0)})
    assert got == [(0, 6.0, 3), (30 * 60, 12.0, 3)]


def test_validity_window() -> None:
    txd = prof("TxDefaultProfile", [(0, 6.0)], valid_from=H, valid_to=2 * H)
    assert comp({1: [txd]}, duration=3 * H, default_limit_amps=20.0) == [
        (0, 20.0, None),
        (H, 6.0, 3),
        (2 * H, 20.0, None),
    ]


def test_zero_and_negative_duration() -> None:
    txd = prof("TxDefaultProfile", [(0, 6.0), (H, 9.0)])
    c = composite_schedule({1: [txd]}, 1, T0 + timedelta(hours=1), 0, "A")
    assert (c.duration, periods(c)) == (0, [(0, 9.0, 3)])
    c = composite_schedule({1: [txd]}, 1, T0 + timedelta(hours=1), -1, "A")
    assert (c.duration, periods(c)) == (0, [(0, 6.0, 3)])
    assert c.schedule_start == T0 + timedelta(seconds=H - 1)


# ---------------------------------------------------------------- errors


def test_errors() -> None:
    with pytest.raises(ScheduleError) as info:
        composite_schedule({1: []}, 2, T0, 60, "A")
    assert info.value.rule == "K08.FR.05"
    with pytest.raises(SmartChargeError):
        composite_schedule({1: []}, 1, T0, 60, "kW")
    with pytest.raises(ScheduleError, match="supply_voltage"):
        composite_schedule({1: []}, 1, T0, 60, "A", supply_voltage=0.0)
    with pytest.raises(ScheduleError, match="default_limit_amps"):
        composite_schedule({1: []}, 1, T0, 60, "A", default_limit_amps=float("nan"))
    with pytest.raises(ScheduleError, match=r"1\.\.3"):
        composite_schedule({1: []}, 1, T0, 60, "A", default_number_phases=4)
    with pytest.raises(ScheduleError, match="duration"):
        composite_schedule({1: []}, 1, T0, 60.5, "A")  # type: ignore[arg-type]
    with pytest.raises(ScheduleError, match="evse id"):
        composite_schedule({1: []}, -1, T0, 60, "A")


# ---------------------------------------------------------------- properties

PURPOSES = (
    "ChargingStationExternalConstraints",
    "ChargingStationMaxProfile",
    "TxDefaultProfile",
    "TxProfile",
)


@st.composite
def random_profile(draw: st.DrawFn, unit: str | None = None) -> ChargingProfile:
    purpose = draw(st.sampled_from(PURPOSES))
    kinds = ["Absolute", "Recurring"] + (
        [] if purpose == "ChargingStationMaxProfile" else ["Relative"]
    )
    kind = draw(st.sampled_from(kinds))
    u = unit or draw(st.sampled_from(["A", "W"]))
    n = draw(st.integers(1, 4))
    gaps = draw(st.lists(st.integers(60, 4 * H), min_size=n - 1, max_size=n - 1))
    starts = [0]
    for g in gaps:
        starts.append(starts[-1] + g)
    top = 640 if u == "A" else 440_000
    lims = draw(st.lists(st.integers(0, top).map(lambda k: k / 10), min_size=n, max_size=n))
    phases = draw(st.lists(st.sampled_from([0, 1, 3]), min_size=n, max_size=n))
    ps = [(s, lim, ph) if ph else (s, lim) for s, lim, ph in zip(starts, lims, phases, strict=True)]
    return prof(
        purpose,
        ps,
        unit=u,
        stack=draw(st.integers(0, 3)),
        kind=kind,
        start=draw(st.integers(-DAY, DAY)),
        duration=draw(st.none() | st.integers(60, DAY)),
        recurrency=draw(st.sampled_from(["Daily", "Weekly"])) if kind == "Recurring" else None,
        pid=draw(st.integers(1, 50)),
    )


@st.composite
def stations(draw: st.DrawFn) -> dict[int, list[ChargingProfile]]:
    return {
        e: draw(st.lists(random_profile(), max_size=4)) for e in range(draw(st.integers(1, 3)))
    } | {1: draw(st.lists(random_profile(), max_size=4))}


@given(
    stations(),
    st.integers(0, 2),
    st.integers(-DAY, DAY),
    st.integers(-10, 2 * DAY),
    st.sampled_from(["A", "W"]),
    st.booleans(),
)
def test_deterministic_order_independent_and_valid(
    installed: dict[int, list[ChargingProfile]],
    evse: int,
    start: int,
    duration: int,
    unit: str,
    tx: bool,
) -> None:
    evse_ids = [1, 2]
    txs = {1: (TX, T0)} if tx else None
    args = (evse, T0 + timedelta(seconds=start), duration, unit)
    a = composite_schedule(installed, *args, transactions=txs, evse_ids=evse_ids)
    b = composite_schedule(installed, *args, transactions=txs, evse_ids=evse_ids)
    assert a == b
    assert json.dumps(a.to_json_dict()) == json.dumps(b.to_json_dict())
    rng = random.Random(duration)
    shuffled = {}
    for k in rng.sample(sorted(installed), len(installed)):
        lst = list(installed[k])
        rng.shuffle(lst)
        shuffled[k] = lst
    c = composite_schedule(shuffled, *args, transactions=txs, evse_ids=evse_ids)
    assert c == a
    jsonschema.validate({"status": "Accepted", "schedule": a.to_json_dict()}, SCHEMA)
    ps = a.charging_schedule_period
    assert ps[0].start_period == 0
    assert all(x.start_period < y.start_period for x, y in itertools.pairwise(ps))
    assert all(
        (x.limit, x.number_phases) != (y.limit, y.number_phases) for x, y in itertools.pairwise(ps)
    )
    assert all(p.start_period < max(duration, 1) for p in ps)


@given(
    st.lists(random_profile(unit="W"), min_size=1, max_size=6),
    st.integers(-DAY, DAY),
    st.integers(1, 2 * DAY),
    st.lists(st.integers(0, 10**6 - 1), min_size=1, max_size=15),
)
def test_never_exceeds_an_applicable_profile(
    drawn: list[ChargingProfile], start: int, duration: int, probes: list[int]
) -> None:
    """At every instant the composite (all in W) is at most the limit of each profile that
    applies outright there -- the winning ChargingStationMaxProfile, the winning
    ExternalConstraints, the Tx layer's winner (TxProfile over TxDefaultProfile) -- and, with
    one-decimal inputs, exactly their minimum (or the default where none applies)."""
    # distinct stack levels, so each purpose has one winner at each instant
    profiles = [p.model_copy(update={"stack_level": i}) for i, p in enumerate(drawn)]
    station = [p for p in profiles[::2] if p.charging_profile_purpose.value != "TxProfile"]
    evse = [
        p for p in profiles[1::2] if p.charging_profile_purpose.value != "ChargingStationMaxProfile"
    ]
    evse += [p for p in profiles[::2] if p.charging_profile_purpose.value == "TxProfile"]
    t0 = E0 + start
    c = composite_schedule(
        {0: station, 1: evse},
        1,
        T0 + timedelta(seconds=start),
        duration,
        "W",
        transactions={1: (TX, T0)},
    )
    offsets = np.array([p.start_period for p in c.charging_schedule_period])
    lims = [p.limit for p in c.charging_schedule_period]

    def winner(purpose: str, pool: list[ChargingProfile], t: int) -> float:
        best: tuple[int, float] | None = None
        for p in pool:
            if p.charging_profile_purpose.value != purpose:
                continue
            v = expand_profile(p, t0, t0 + duration, transaction_start=T0).value_at(t)
            if not np.isnan(v) and (best is None or p.stack_level > best[0]):
                best = (p.stack_level, v)
        return np.inf if best is None else best[1]

    for f in probes:
        t = t0 + (f * duration) // 10**6
        got = lims[int(np.searchsorted(offsets, t - t0, side="right")) - 1]
        mx = winner("ChargingStationMaxProfile", station, t)
        ext = winner("ChargingStationExternalConstraints", evse + station, t)
        tx_layer = winner("TxProfile", evse, t)
        if np.isinf(tx_layer):
            tx_layer = winner("TxDefaultProfile", evse + station, t)
        bound = min(mx, ext, tx_layer)
        assert got <= bound
        assert got == (DEFAULT_LIMIT_WATTS if np.isinf(bound) else bound)


@given(
    stations(),
    st.integers(0, 2),
    st.integers(-DAY, DAY),
    st.integers(1, 2 * DAY),
    st.sampled_from(["A", "W"]),
)
def test_matrix_and_loop_resolution_agree(
    installed: dict[int, list[ChargingProfile]],
    evse: int,
    start: int,
    duration: int,
    unit: str,
) -> None:
    """The three ways of resolving stack levels give the same composite: the keyed search
    (no shared stack levels), the coverage matrix, and the per-profile loop."""
    from unittest import mock

    import smartcharge.composite as mod

    args = (installed, evse, T0 + timedelta(seconds=start), duration, unit)
    kw: dict[str, Any] = {"transactions": {1: (TX, T0)}, "evse_ids": [1, 2]}
    keyed = composite_schedule(*args, **kw)
    with mock.patch.object(mod, "_KEYED", False):
        matrix = composite_schedule(*args, **kw)
        with mock.patch.object(mod, "_MATRIX_LIMIT", -1):
            loop = composite_schedule(*args, **kw)
    assert keyed == matrix == loop


@given(
    st.lists(random_profile(unit="W"), max_size=3),
    st.lists(st.lists(random_profile(unit="W"), max_size=3), min_size=1, max_size=4),
    st.lists(st.none() | st.integers(-DAY, DAY), min_size=4, max_size=4),
    st.integers(-DAY, DAY),
    st.integers(1, 2 * DAY),
)
def test_evse0_is_the_sum_of_the_evses(
    station: list[ChargingProfile],
    per_evse: list[list[ChargingProfile]],
    tx_starts: list[int | None],
    start: int,
    duration: int,
) -> None:
    """Without station-wide caps, the EVSE 0 total is, at every instant, the sum of each
    EVSE's own composite (all in W, amps never binding)."""
    station = [
        p for p in station if p.charging_profile_purpose.value in ("TxDefaultProfile", "TxProfile")
    ]
    evse_ids = list(range(1, len(per_evse) + 1))
    installed = {0: station} | {e: per_evse[e - 1] for e in evse_ids}
    txs = {
        e: (TX, T0 + timedelta(seconds=s))
        for e, s in zip(evse_ids, tx_starts, strict=False)
        if s is not None
    }
    kw: dict[str, Any] = {
        "transactions": txs,
        "evse_ids": evse_ids,
        "default_limit_amps": 1e6,
        "default_limit_watts": 7400.0,
    }
    t = T0 + timedelta(seconds=start)
    total = composite_schedule(installed, 0, t, duration, "W", **kw)
    parts = [composite_schedule(installed, e, t, duration, "W", **kw) for e in evse_ids]

    def at(c: CompositeSchedule, off: int) -> tuple[float, int | None]:
        ps = [p for p in c.charging_schedule_period if p.start_period <= off]
        return ps[-1].limit, ps[-1].number_phases

    cuts = sorted({p.start_period for c in [total, *parts] for p in c.charging_schedule_period})
    for off in cuts:
        lim, ph = at(total, off)
        assert lim == pytest.approx(sum(at(c, off)[0] for c in parts), abs=1e-6)
        phases = [at(c, off)[1] for c in parts]
        assert ph == max((p for p in phases if p), default=None)


def test_fast_builders_match_validation() -> None:
    """The output is built without re-validation only where that gives exactly what
    validation gives (checked at import); here the fast builders are in use."""
    import smartcharge.composite as mod

    assert mod._period is mod._period_fast
    assert mod._composite is mod._composite_fast
    periods = (mod._period_fast(0, 16.0, 3), mod._period_fast(60, 0.1, None))
    args = (2, 120, T0, mod.ChargingRateUnit.A, periods)
    fast, slow = mod._composite_fast(*args), mod._composite_checked(*args)
    assert fast == slow
    assert fast.to_json_dict() == slow.to_json_dict()
    assert hash(fast) == hash(slow)
    with pytest.raises(Exception, match="frozen"):
        fast.duration = 5  # type: ignore[misc]


@given(
    stations(),
    st.integers(0, 2),
    st.integers(-DAY, DAY),
    st.integers(-10, 2 * DAY),
    st.sampled_from(["A", "W"]),
)
def test_numpy_and_python_merges_agree(
    installed: dict[int, list[ChargingProfile]],
    evse: int,
    start: int,
    duration: int,
    unit: str,
) -> None:
    """Equal neighbouring periods are merged in numpy above _NUMPY_MERGE cells and while
    building the periods below; both give the same composite."""
    from unittest import mock

    import smartcharge.composite as mod

    args = (installed, evse, T0 + timedelta(seconds=start), duration, unit)
    kw: dict[str, Any] = {"transactions": {1: (TX, T0)}, "evse_ids": [1, 2]}
    with mock.patch.object(mod, "_NUMPY_MERGE", -1):
        in_numpy = composite_schedule(*args, **kw)
    with mock.patch.object(mod, "_NUMPY_MERGE", 10**9):
        in_python = composite_schedule(*args, **kw)
    assert in_numpy == in_python
    assert json.dumps(in_numpy.to_json_dict()) == json.dumps(in_python.to_json_dict())


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"supply_voltage": "230"}, "supply_voltage"),
        ({"supply_voltage": 0.0}, "supply_voltage"),
        ({"default_limit_amps": float("nan")}, "default_limit_amps"),
        ({"default_limit_watts": True}, "default_limit_watts"),
        ({"default_number_phases": 4}, "default_number_phases"),
    ],
)
def test_bad_query_arguments_name_the_argument(kwargs: dict[str, Any], path: str) -> None:
    from smartcharge.ocpp.composite21 import composite_schedule_v21

    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for function in (composite_schedule, composite_schedule_v21):
        with pytest.raises(ScheduleError) as info:
            function({}, 0, start, 60, "A", **kwargs)
        assert info.value.path == path
