"""Measured feedback: plan an EV at what it really draws, and give headroom back.

A car that draws persistently less than its limit (battery taper, an on-board charger
below the EVSE's rating, a single-phase car on a three-phase EVSE) wastes the capacity
planned for it. Rule, per EVSE with a transaction, at each meter reading:

- the draw is the highest per-phase current, or the power over the EVSE's W per A;
- it is *low* when ``draw + feedback_margin_a`` is below the limit the station was told (the
  last request sent, else the fallback); low for ``feedback_after_s`` seconds in a row, the
  EV gets a cap of ``draw + feedback_margin_a`` (at least the EVSE's minimum, so the cap
  never stops a charge), and the freed capacity goes to the others at the next plan;
- a draw within ``feedback_release_a`` of the cap releases it (the EV wants more);
- phases in use: the phases carrying more than ``phase_threshold_a``. A car on a
  three-phase AC EVSE measured on one line alone (all three phases reported) is planned
  single-phase on that line (:attr:`EvseState.single_line`; the other lines' current goes
  to the others) until a reading shows it on two or three (a reading with none drawing
  changes nothing).

A cap that moves by less than the deadband is not updated (no re-plan for noise). The
remaining need is the requested energy minus the metered energy, never below 0.
"""

from __future__ import annotations

import math

from smartcharge.controller.events import MeterReading
from smartcharge.controller.site import ControllerConfig, EvseSpec
from smartcharge.controller.state import EvseState
from smartcharge.optimizer.problem import DEFAULT_AC_MIN_CURRENT_A

__all__ = ["apply_reading", "draw_a", "remaining_need_wh", "single_line"]



def draw_a(spec: EvseSpec, reading: MeterReading) -> float | None:
    """The EV's draw [A per phase]: the highest phase current, else power / (W per A)."""
    if reading.currents_a is not None:
        got = [c for c in reading.currents_a if c is not None]
        if got:
            return max(got)
    if reading.power_w is not None:
        return reading.power_w / spec.watts_per_amp
    return None


def single_line(spec: EvseSpec, currents_a: tuple[float | None, float | None, float | None],
                threshold_a: float, last: str | None = None) -> str | None:
    """The line a car on ``spec`` (three-phase AC) draws on alone by these per-phase
    currents [A] (``"L1"``...), ``None`` if it draws on two or three; ``last`` when they
    tell nothing (a phase not reported, none above ``threshold_a``, or a single-phase or
    DC EVSE)."""
    if spec.phases != 3 or spec.kind != "AC" or any(c is None for c in currents_a):
        return last
    on = [i for i, c in enumerate(currents_a) if c is not None and c > threshold_a]
    if not on:
        return last
    return f"L{on[0] + 1}" if len(on) == 1 else None


def _min_a(spec: EvseSpec) -> float:
    if spec.min_current_a is not None:
        return spec.min_current_a
    return DEFAULT_AC_MIN_CURRENT_A if spec.kind == "AC" else 0.0


def apply_reading(ev: EvseState, spec: EvseSpec, reading: MeterReading, config: ControllerConfig,
                  told_a: float) -> tuple[EvseState, bool]:
    """The EVSE's state after ``reading`` (taken at ``reading.timestamp``), and whether the
    plan must be redone (the cap was set, moved or released). ``told_a``: the limit the
    station was last told for this step [A per phase]."""
    ts = reading.timestamp if reading.timestamp is not None else ev.measured_at
    update: dict[str, object] = {"measured_at": ts}
    if reading.energy_wh is not None:
        update["energy_wh"] = reading.energy_wh
        if ev.meter_start_wh is None:
            update["meter_start_wh"] = reading.energy_wh
    if reading.power_w is not None:
        update["power_w"] = reading.power_w
    replan = False
    if reading.currents_a is not None:
        update["currents_a"] = reading.currents_a
        update["phases_in_use"] = sum(
            1 for c in reading.currents_a if c is not None and c > config.phase_threshold_a)
        line = single_line(spec, reading.currents_a, config.phase_threshold_a, ev.single_line)
        if line != ev.single_line:
            update["single_line"] = line
            replan = True
    draw = draw_a(spec, reading)
    if draw is not None and ts is not None:
        cap = ev.cap_a
        if cap is not None and draw >= cap - config.feedback_release_a:
            update.update(cap_a=None, low_since=None)
            replan = True
        elif draw + config.feedback_margin_a < told_a:
            since = ev.low_since if ev.low_since is not None else ts
            update["low_since"] = since
            if (ts - since).total_seconds() >= config.feedback_after_s:
                new = math.ceil(max(draw + config.feedback_margin_a, _min_a(spec)) * 10) / 10
                if cap is None or abs(new - cap) > config.deadband_a:
                    update["cap_a"] = new
                    replan = True
        else:
            update["low_since"] = None
    return ev.model_copy(update=update), replan


def remaining_need_wh(ev: EvseState, default_wh: float) -> float:
    """Requested energy minus metered energy [Wh], at least 0 (metered above the request:
    the need is 0, not negative)."""
    need = ev.need_wh if ev.need_wh is not None else default_wh
    if ev.energy_wh is not None and ev.meter_start_wh is not None:
        need -= max(ev.energy_wh - ev.meter_start_wh, 0.0)
    return max(need, 0.0)
