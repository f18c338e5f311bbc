"""The site description: the electrical tree and the stations with their EVSEs.

A :class:`Site` names every EVSE once, by ``(station id, OCPP evseId)`` (1.6: connectorId),
and gives the optimizer its EVSEs under one key, ``"<station id>/<evseId>"``
(:meth:`Site.evse_key`, :meth:`Site.locate`), so no caller keeps a map of its own.

>>> site = Site.model_validate({
...     "nodes": [{"id": "grid", "max_current_a": 63}],
...     "stations": [{"id": "cs1", "protocol": "2.0.1", "evses": [
...         {"evse_id": 1, "node": "grid", "max_current_a": 32}]}]})
>>> [e.id for e in site.optimizer_evses()]
['cs1/1']
>>> site.locate("cs1/1")
('cs1', 1)
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from smartcharge.errors import ControllerError, InvalidProblemError
from smartcharge.model._base import UTCDateTime
from smartcharge.optimizer import EVSE, Node
from smartcharge.optimizer.problem import (
    Connection,
    NonNegFloat,
    PosFloat,
    SessionMode,
    _Part,
)

__all__ = ["ControllerConfig", "EvseSpec", "Protocol", "Site", "SiteGeneration",
           "StationSpec"]

Protocol = Literal["1.6", "2.0.1", "2.1"]
"""The OCPP version a station speaks."""


class EvseSpec(_Part):
    """One EVSE of a station, with its wiring (the optimizer's :class:`EVSE` fields).

    Attributes
    ----------
    evse_id
        The OCPP evseId (>= 1); for a 1.6 station, the connectorId.
    node
        The node of the electrical tree it hangs from.
    kind, phases, connection, voltage_v, line_voltage_v, max_current_a, max_power_w,
    min_current_a, min_power_w
        As :class:`smartcharge.optimizer.EVSE` ([A per phase], [W], [V]): ``voltage_v`` is
        phase to neutral; give ``line_voltage_v`` (line to line) instead and ``voltage_v``
        is ``line_voltage_v / sqrt(3)`` (both: they must agree within 1 %, else an
        :class:`~smartcharge.errors.InvalidProblemError` on ``voltage_v``, rule
        ``phase-voltage``, as the optimizer's EVSE).
    mode
        The mode of its sessions unless a ``SessionMode`` event says otherwise
        (:class:`smartcharge.optimizer.Session`'s ``mode``: ``"planned"``, ``"fast"``,
        ``"pv"``, ``"min_pv"``; see :mod:`smartcharge.controller.surplus`).

    >>> EvseSpec(evse_id=1, node="g", line_voltage_v=400, max_current_a=32).watts_per_amp
    692.82...
    """

    evse_id: Annotated[int, Field(ge=1, le=99_999)]
    node: str
    kind: Literal["AC", "DC"] = "AC"
    phases: Literal[1, 3] = 3
    connection: Connection | None = None
    voltage_v: PosFloat = 230.0
    line_voltage_v: PosFloat | None = None
    max_current_a: NonNegFloat | None = None
    max_power_w: NonNegFloat | None = None
    min_current_a: NonNegFloat | None = None
    min_power_w: NonNegFloat | None = None
    mode: SessionMode = "planned"

    @model_validator(mode="before")
    @classmethod
    def _from_line_voltage(cls, data: Any) -> Any:
        """``voltage_v`` from ``line_voltage_v`` (the optimizer's EVSE checks that the two
        agree when both are given, with its own rule)."""
        if not isinstance(data, dict) or data.get("line_voltage_v") is None \
                or data.get("voltage_v") is not None:
            return data
        line = data["line_voltage_v"]
        if not isinstance(line, int | float) or isinstance(line, bool) or not line > 0:
            return data  # the field's own validation reports it
        return {**data, "voltage_v": float(line) / math.sqrt(3.0)}

    @property
    def watts_per_amp(self) -> float:
        """Power [W] per ampere of conductor current (as :attr:`EVSE.watts_per_amp`)."""
        if self.phases == 3:
            return 3.0 * self.voltage_v
        if self.connection is not None and "-" in self.connection:
            return math.sqrt(3.0) * self.voltage_v
        return self.voltage_v


class StationSpec(_Part):
    """A charging station: its id (the websocket identity), protocol and EVSEs."""

    id: Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[^/]+$")]
    protocol: Protocol = "2.0.1"
    evses: Annotated[tuple[EvseSpec, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> StationSpec:
        seen: set[int] = set()
        for i, e in enumerate(self.evses):
            if e.evse_id in seen:
                raise InvalidProblemError(f"duplicate evse_id {e.evse_id}",
                                          path=f"evses[{i}].evse_id", rule="unique-id")
            seen.add(e.evse_id)
        return self


class SiteGeneration(_Part):
    """A generator (PV array) at a node and its forecast.

    Attributes
    ----------
    id, node
        Its name and the node it feeds into.
    forecast_w
        ``((t0, w0), (t1, w1), ...)``, ascending: the power available to the EVs [W] (PV
        less any load the site does not meter per EVSE) from each time on; 0 before
        ``t0``. Empty: no forecast (the live surplus, persisted, is all the plan knows).
    """

    id: Annotated[str, Field(min_length=1)]
    node: str
    forecast_w: tuple[tuple[UTCDateTime, NonNegFloat], ...] = ()

    @model_validator(mode="after")
    def _ascending(self) -> SiteGeneration:
        for k in range(1, len(self.forecast_w)):
            if self.forecast_w[k][0] <= self.forecast_w[k - 1][0]:
                raise InvalidProblemError("forecast times must ascend",
                                          path=f"forecast_w[{k}][0]", rule="ascending")
        return self


class Site(_Part):
    """The electrical tree (optimizer :class:`Node` s), the stations on it and its
    generation (:class:`SiteGeneration`; how the controller plans with it:
    :mod:`smartcharge.controller.surplus`)."""

    nodes: Annotated[tuple[Node, ...], Field(min_length=1)]
    stations: tuple[StationSpec, ...] = ()
    generation: tuple[SiteGeneration, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Site:
        node_ids = {n.id for n in self.nodes}
        seen: set[str] = set()
        for i, st in enumerate(self.stations):
            if st.id in seen:
                raise InvalidProblemError(f"duplicate station id {st.id!r}",
                                          path=f"stations[{i}].id", rule="unique-id")
            seen.add(st.id)
            for j, e in enumerate(st.evses):
                if e.node not in node_ids:
                    raise InvalidProblemError(f"unknown node {e.node!r}",
                                              path=f"stations[{i}].evses[{j}].node",
                                              rule="known-node")
        gen_ids: set[str] = set()
        for i, g in enumerate(self.generation):
            if g.node not in node_ids:
                raise InvalidProblemError(f"unknown node {g.node!r}",
                                          path=f"generation[{i}].node", rule="known-node")
            if g.id in gen_ids:
                raise InvalidProblemError(f"duplicate generation id {g.id!r}",
                                          path=f"generation[{i}].id", rule="unique-id")
            gen_ids.add(g.id)
        # the optimizer's own checks (one root, no cycle, EVSE rules) with the real paths
        self.optimizer_evses()
        return self

    @staticmethod
    def evse_key(station_id: str, evse_id: int) -> str:
        """The optimizer's EVSE id of ``(station_id, evse_id)``: ``"<station>/<evseId>"``."""
        return f"{station_id}/{evse_id}"

    def locate(self, key: str) -> tuple[str, int]:
        """``(station id, OCPP evseId)`` of an optimizer EVSE id.

        Raises
        ------
        ControllerError
            ``key`` names no EVSE of the site.
        """
        found = self._index.get(key)
        if found is None:
            raise ControllerError(f"no EVSE {key!r} on this site", path="evse",
                                  rule="known-evse")
        return found[0].id, found[1].evse_id

    def station(self, station_id: str) -> StationSpec:
        """The station named ``station_id`` (a :class:`ControllerError` if unknown)."""
        for st in self.stations:
            if st.id == station_id:
                return st
        raise ControllerError(f"unknown station {station_id!r}", path="station_id",
                              rule="known-station")

    def spec(self, key: str) -> EvseSpec:
        """The :class:`EvseSpec` of an optimizer EVSE id."""
        self.locate(key)
        return self._index[key][1]

    @cached_property
    def _index(self) -> dict[str, tuple[StationSpec, EvseSpec]]:
        return {self.evse_key(st.id, e.evse_id): (st, e)
                for st in self.stations for e in st.evses}

    @property
    def keys(self) -> tuple[str, ...]:
        """Every EVSE key, in site order (stations in order, their EVSEs in order)."""
        return tuple(self._index)

    def optimizer_evses(self) -> tuple[EVSE, ...]:
        """The optimizer's EVSEs, ids ``"<station>/<evseId>"``, in site order."""
        out = []
        for i, st in enumerate(self.stations):
            for j, e in enumerate(st.evses):
                fields = e.model_dump(exclude={"evse_id", "mode"})
                if fields["line_voltage_v"] is None:  # not given: as if left out
                    del fields["line_voltage_v"]
                try:
                    out.append(EVSE(id=self.evse_key(st.id, e.evse_id), **fields))
                except InvalidProblemError as exc:
                    raise InvalidProblemError(
                        exc.message, path=f"stations[{i}].evses[{j}].{exc.path or ''}"
                        .rstrip("."), rule=exc.rule) from None
        return tuple(out)


class ControllerConfig(_Part):
    """How the controller plans and sends (units in the names).

    Attributes
    ----------
    step_s, horizon_s
        The planning grid [s] (steps start at multiples of ``step_s`` since the epoch) and
        its length [s].
    deadband_a, deadband_w
        A profile is re-sent only where it moves by more than both ``deadband_a`` [A per
        phase] and ``deadband_w`` [W] (on a three-phase 230 V EVSE the 1 A binds, on a
        single-phase one the 500 W), unless the site is over a limit (safety first).
    lookahead_s
        Differences further ahead than this [s] do not make a profile be re-sent (default:
        half the horizon; a profile is then renewed well before it ends).
    fallback_share_a
        The fallback (TxDefaultProfile) share [A per phase] of every EVSE
        (:func:`smartcharge.ocpp.fallback.fallback_currents`). Default 0: no fallback
        (TxDefaultProfiles of 0 A): a car waits for its TxProfile, an offline station
        charges nothing new, and the whole capacity goes to the plan. A share > 0 lets a
        car charge before the CSMS hears of it (and an offline station's new cars), but it
        is reserved on every node for every EVSE (a car may arrive anywhere, any time), so
        on a site short of capacity the shares take most of it: on the 54-EVSE Caltech site
        at 40 kW, 6 A shares fill the transformer (15-22 % of the energy delivered, against
        99 % with 0: see docs/benchmarks.md).
    clock_skew_s
        The most a station's clock may be off [s], either way (default 5 s; less than half
        a step). Every TxProfile is sent *eroded* by it: the limit sent for instant ``t`` is
        the lowest planned for ``[t - s, t + s]`` (a decrease starts ``s`` early, an
        increase ``s`` late, the profile ends ``s`` early), so a station whose clock is off
        by at most ``s`` never applies more than the plan at the true time, and the
        worst case (the plan's envelopes, per step) holds for it: the highest such a
        station may apply around ``t`` (the dilation of what is sent) is exactly the plan
        (see :mod:`smartcharge.controller.safety`). A station further off can break a
        limit at a step boundary (one lowering while another EVSE raises).
    feedback_after_s
        A draw below the limit for this long [s] is persistent (taper, on-board charger).
    feedback_margin_a
        The measured cap is the draw plus this margin [A per phase].
    feedback_release_a
        A draw within this much [A] of the cap releases it (the EV wants more).
    phase_threshold_a
        A phase carrying more than this [A] is in use.
    default_energy_wh
        The need [Wh] of a session whose EV sent no charging needs.
    default_duration_s
        The stay [s] assumed when no departure is known.
    extend_s
        A car still plugged in at (or within one step of) its departure is planned to stay
        this much longer [s] from now (repeatedly, for as long as it stays).
    keep_tolerance
        The last sent plan is kept when it is still safe and delivers at least this share
        of the new plan's energy at no more than ``1 + keep_tolerance`` times its cost
        (stability: no flip between equal-value plans).
    keep_partial
        When the last sent plan cannot be kept whole (an arrival, a departure), keep it for
        the sessions that need not move and plan the others on what is left
        (:mod:`smartcharge.controller.keep`; with ``stable``). ``False`` (for comparison):
        the new plan goes as solved.
    time_limit_s
        The optimizer's time limit [s] (``None``: none).
    stable
        The stability rules (levelling, keeping the last plan, the deadband, the
        lookahead). ``False`` (for comparison only): every re-plan is sent as solved.
    grid
        The optimizer's time grid (:func:`smartcharge.optimizer.optimize`'s ``grid``):
        ``"mpc"`` (default: every step for the first hour, 15-minute blocks up to four
        hours, hours after that; the plan is still exact at every step), ``"all"`` (one LP
        column per step), or ``(until [s from the start], block length [s])`` pairs.
    solver
        The optimizer's LP solver (``optimize``'s ``solver``): ``"auto"`` (default: GLOP
        on small LPs, HiGHS interior point on large ones), ``"highs"``,
        ``"highs-simplex"`` or ``"glop"``.
    replan_warm
        On a block grid (``"mpc"`` or pairs), re-plan with
        :func:`smartcharge.optimizer.replan`: lazy node rows started from the rows that
        bound at the previous re-plan, kept in the state (:attr:`ControllerState.warm
        <smartcharge.controller.state.ControllerState>`). The same LP optimum as
        ``optimize`` (objective value), in less time when few rows bind, but possibly
        another optimal vertex where the optimum is not unique, so another plan; it also
        re-solves up to twice (``max_lp_rounds=3``) and uses ``replan``'s urgency-weighted
        tie-break. ``False`` (the default): ``optimize`` with every row; with
        ``grid="all"`` always ``optimize``. Off by default: on the Caltech day the warm
        re-plan was not measurably faster inside the controller (the optimizer is a
        quarter to a third of a re-plan event), it adds 27-62 kB of rows to each
        snapshot, and with the urgency weights an arrival on a full site moved most cars
        instead of a few (docs/benchmarks.md); the pinned 40-EVSE log sends 538 requests
        with it against 611 without.
    pv_start_hold_s, pv_stop_hold_s
        The surplus switch of a ``pv`` / ``min_pv`` session
        (:class:`smartcharge.optimizer.SurplusHysteresis`): it turns on after the surplus
        stayed at or above the start threshold for ``pv_start_hold_s`` [s], off after it
        stayed below the stop threshold for ``pv_stop_hold_s`` [s].
    pv_start_margin_w, pv_stop_margin_w
        The thresholds [W]: the session's minimum power plus ``pv_start_margin_w`` to
        start, minus ``pv_stop_margin_w`` to stop.
    pv_reading_max_age_s
        A grid-connection reading older than this [s] is not used as the live surplus.
    """

    step_s: Annotated[int, Field(gt=0, le=86_400)] = 300
    horizon_s: Annotated[int, Field(gt=0, le=7 * 86_400)] = 86_400
    deadband_a: NonNegFloat = 1.0
    deadband_w: NonNegFloat = 500.0
    lookahead_s: Annotated[int, Field(gt=0)] | None = None
    fallback_share_a: NonNegFloat = 0.0
    clock_skew_s: Annotated[int, Field(ge=0, le=3600)] = 5
    feedback_after_s: Annotated[int, Field(ge=0)] = 600
    feedback_margin_a: NonNegFloat = 2.0
    feedback_release_a: NonNegFloat = 1.0
    phase_threshold_a: NonNegFloat = 1.0
    default_energy_wh: NonNegFloat = 30_000.0
    default_duration_s: Annotated[int, Field(gt=0)] = 8 * 3600
    extend_s: Annotated[int, Field(gt=0)] = 3600
    keep_tolerance: Annotated[float, Field(ge=0, lt=1)] = 0.005
    keep_partial: bool = True
    time_limit_s: PosFloat | None = None
    stable: bool = True
    grid: Literal["all", "mpc"] | tuple[tuple[PosFloat, PosFloat], ...] = "mpc"
    solver: Literal["auto", "highs", "highs-simplex", "glop"] = "auto"
    replan_warm: bool = False
    pv_start_hold_s: Annotated[int, Field(ge=0, le=86_400)] = 300
    pv_stop_hold_s: Annotated[int, Field(ge=0, le=86_400)] = 600
    pv_start_margin_w: NonNegFloat = 0.0
    pv_stop_margin_w: NonNegFloat = 0.0
    pv_reading_max_age_s: Annotated[int, Field(gt=0)] = 900

    @model_validator(mode="after")
    def _grid(self) -> ControllerConfig:
        if self.horizon_s % self.step_s:
            raise InvalidProblemError("horizon_s must be a multiple of step_s",
                                      path="horizon_s", rule="multiple")
        if 2 * self.clock_skew_s >= self.step_s:
            raise InvalidProblemError(
                f"clock_skew_s ({self.clock_skew_s} s) must be less than half a step "
                f"({self.step_s} s): an eroded profile keeps every step's own limit for "
                "part of the step", path="clock_skew_s", rule="lt-half-step")
        if self.lookahead_s is None:
            object.__setattr__(self, "lookahead_s", self.horizon_s // 2)
        elif self.lookahead_s > self.horizon_s:
            raise InvalidProblemError("lookahead_s must be within the horizon",
                                      path="lookahead_s", rule="le-horizon")
        return self

    @property
    def n_steps(self) -> int:
        """Steps in the horizon."""
        return self.horizon_s // self.step_s
