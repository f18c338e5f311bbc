"""The site allocation problem: horizon, electrical tree, EVSEs, sessions, tariff.

Every part is a frozen pydantic model that reads plain JSON (snake_case keys, units in the
names: ``_w`` watts, ``_a`` amperes, ``_wh`` watt-hours, ``_v`` volts, ``_s`` seconds).
``Problem.model_validate(json_dict)`` (or ``Problem(...)``) raises
:class:`~smartcharge.errors.InvalidProblemError` naming the JSON path of the first bad field
(``sessions[3].departure``) and the rule broken, never a bare pydantic error.

Electrical conventions
----------------------
- Lines L1, L2, L3 carry phase-to-neutral voltages at 0, -120 and +120 degrees (positive
  sequence), unity power factor.
- A three-phase EVSE (AC, or the AC side of a DC charger) draws ``P / (3 V)`` on each line.
  A single-phase EVSE between a line and neutral (``"L1"``) draws ``P / V`` on that line.
  A single-phase EVSE between two lines (``"L1-L2"``, as at Caltech's ACN) draws
  ``P / (sqrt(3) V)`` in phase with the line-to-line voltage, out of the first line and back
  through the second, so the line currents of a feeder are **phasor sums**.
- A node's ``max_current_a`` bounds the magnitude of each of its line currents;
  ``max_power_w`` bounds the total real power below it. A node with
  ``coupling="delta-wye"`` is the primary (delta) side of a transformer: its line currents
  are ``(I_a - I_c) / ratio``, ``(I_b - I_a) / ratio``, ``(I_c - I_b) / ratio`` of the
  currents below it (ACN-Sim's model of the Caltech transformer).
- The inflexible site load (``tariff.site_load_w``) is a balanced three-phase real load at
  ``tariff.site_load_node`` (default: the root), at that node's ``voltage_v``.

>>> p = Problem.model_validate({
...     "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_steps": 4},
...     "nodes": [{"id": "grid", "max_power_w": 11000}],
...     "evses": [{"id": "e1", "node": "grid", "max_current_a": 16}],
...     "sessions": [{"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
...                   "departure": "2024-01-01T01:00:00Z", "energy_wh": 5000}]})
>>> p.evses[0].watts_per_amp
690.0
>>> Problem.model_validate({"horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 0,
...                                     "n_steps": 4}, "nodes": [{"id": "grid"}]})
Traceback (most recent call last):
...
smartcharge.errors.InvalidProblemError: horizon.step_s: Input should be greater ... [greater_than]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from smartcharge.errors import InvalidProblemError, SmartChargeError
from smartcharge.model._base import UTCDateTime
from smartcharge.model.types import ChargingNeeds
from smartcharge.optimizer._network import Network

if TYPE_CHECKING:
    from typing_extensions import Self

    from smartcharge.schedule import Schedule

__all__ = [
    "EVSE",
    "Battery",
    "Generation",
    "Horizon",
    "Node",
    "Objective",
    "Problem",
    "Session",
    "Tariff",
    "limits_from_schedule",
]

FloatArray = npt.NDArray[np.float64]

NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Limit = NonNegFloat | tuple[NonNegFloat | None, ...] | None
"""A limit: one number for the whole horizon, one per step (``None`` = no limit at that
step), or ``None`` for no limit at all."""
Series = float | tuple[float, ...]
"""A value per step, or one number for every step."""

Connection = Literal["L1", "L2", "L3", "L1-L2", "L2-L3", "L3-L1", "L2-L1", "L3-L2", "L1-L3"]

SessionMode = Literal["planned", "fast", "pv", "min_pv"]
"""How a session charges (see :class:`Session`)."""

DEFAULT_AC_MIN_CURRENT_A = 6.0
"""IEC 61851-1: an AC pilot below 6 A stops the charge, so 6 A is the default minimum."""


class _Part(BaseModel):
    """Base of the problem's parts: frozen, no extra keys, errors as InvalidProblemError."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _convert(exc) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        """Read from a JSON dict; errors are :class:`InvalidProblemError` with the path."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise _convert(exc) from None


class Horizon(_Part):
    """The time grid: ``n_steps`` steps of ``step_s`` [s] from ``start`` (UTC)."""

    start: UTCDateTime
    step_s: Annotated[int, Field(gt=0)]
    n_steps: Annotated[int, Field(gt=0, le=100_000)]

    @property
    def end(self) -> datetime:
        """End of the last step (UTC)."""
        return self.start + timedelta(seconds=self.step_s * self.n_steps)

    @property
    def step_h(self) -> float:
        """Length of a step [h]."""
        return self.step_s / 3600.0


class Node(_Part):
    """A node of the site's electrical tree (grid connection, transformer, feeder, pod, ...).

    Attributes
    ----------
    id
        Unique name.
    parent
        The node above, or ``None`` for the root (exactly one root).
    max_power_w
        Limit on the total real power [W] of everything below (EVSEs and site load).
    max_current_a
        Limit on each line current's magnitude [A] (phasor sum of what is below).
    coupling
        ``"direct"`` or ``"delta-wye"`` (this node is a transformer's delta primary).
    ratio
        Current ratio of a ``delta-wye`` node (secondary phase voltage over primary
        line-to-line voltage inverted: 4 for 480 V delta -> 120 V wye).
    voltage_v
        Phase-to-neutral voltage [V] at this node (used for the site load's current).
    max_ramp_w
        Ramp limit [W per step] (``None``: none): the EV power below the node (the sum of
        its EVSEs' net powers; the site load is not controlled and not included) may change
        by at most this much from one step to the next, up or down.
    initial_power_w
        The EV power below the node [W] in the step before the horizon (needs
        ``max_ramp_w``): the first step may then rise at most ``max_ramp_w`` above it (a
        drop is not limited: the plan cannot keep cars charging). ``None``: the first step
        is unconstrained.
    max_export_w
        Limit on the power [W] flowing up and out of the node (generation, batteries and
        V2X sessions below it feeding back; 0 for a zero-export site). ``None``: a power
        limit bounds export too wherever export is possible (with generation, a battery or
        a V2X session below), as before; ``max_power_w`` then bounds import only when
        ``max_export_w`` is given.
    """

    id: Annotated[str, Field(min_length=1)]
    parent: str | None = None
    max_power_w: Limit = None
    max_export_w: Limit = None
    max_current_a: Limit = None
    coupling: Literal["direct", "delta-wye"] = "direct"
    ratio: PosFloat = 1.0
    voltage_v: PosFloat = 230.0
    max_ramp_w: NonNegFloat | None = None
    initial_power_w: NonNegFloat | None = None

    @model_validator(mode="after")
    def _ramp(self) -> Node:
        if self.initial_power_w is not None and self.max_ramp_w is None:
            raise InvalidProblemError(
                "initial_power_w only bounds a ramp: give max_ramp_w too",
                path="initial_power_w", rule="ramp-required",
            )
        return self


class CurrentConstraint(_Part):
    """A limit on a linear combination of EVSE current phasors, beside the node tree.

    The form research simulators describe a site in (ACN-Sim's constraint matrix, one row
    per constraint): ``|sum_e a_e I_e| <= max_current_a`` at every step, where ``I_e`` is
    EVSE ``e``'s current phasor [A] (its conductor current, at the angle of its supply
    voltage: 0 deg for ``L1``, +30 deg for ``L1-L2``, -90 deg for ``L2-L3``, +150 deg for
    ``L3-L1``, as in ACN-Sim) and ``a_e`` its coefficient. A transformer secondary's line A
    at Caltech is ``{AB EVSEs: 1, CA EVSEs: -1}``, a pod "sum of currents" has 1 for each
    member (with the EVSEs all on one pair it is a plain sum). The tree stays the friendly
    form; any published topology can be planned with these without re-deriving one. They are
    met exactly like node limits (an inner polygon in the LP, exact magnitudes in
    :func:`~smartcharge.optimizer.verify`, where a breach is a ``node_current`` violation of
    the constraint's id on line ``L1``). Single-phase EVSEs only.

    Attributes
    ----------
    id
        Unique name among nodes and constraints.
    coefficients
        ``{EVSE id: a_e}``, at least one.
    max_current_a
        The limit [A], one value or one per step (``None`` entries: no limit then).
    """

    id: Annotated[str, Field(min_length=1)]
    coefficients: Annotated[dict[str, float], Field(min_length=1)]
    max_current_a: Limit


_LINE_ONLY_V = (208.0, 380.0, 400.0, 415.0, 480.0)
"""Nominal line-to-line voltages [V] that are never a phase-to-neutral supply voltage."""


class EVSE(_Part):
    """A charging point (one connector in use at a time) attached to one node.

    Attributes
    ----------
    id, node
        Its name and the node it hangs from.
    kind
        ``"AC"`` or ``"DC"`` (a DC charger draws a balanced three-phase AC load).
    phases
        1 or 3 (AC); DC chargers are three-phase on their AC side.
    connection
        For single-phase EVSEs: ``"L1"``/``"L2"``/``"L3"`` (line to neutral) or a line pair
        ``"L1-L2"``/``"L2-L3"``/``"L3-L1"`` (line to line). Default ``"L1"``.
    voltage_v
        Phase-to-neutral supply voltage [V] (line to line is ``sqrt(3)`` times it), also
        for a single-phase EVSE connected line to line: a 208 V EVSE on a 120/208 V system
        has ``voltage_v=120.09``. A value within 1 % of a nominal line-to-line voltage that
        is never a phase-to-neutral one (208, 380, 400, 415, 480 V) is rejected (rule
        ``phase-voltage``): it would scale currents by ``sqrt(3)``; give ``line_voltage_v``.
    line_voltage_v
        Line-to-line supply voltage [V], instead of ``voltage_v`` (which becomes
        ``line_voltage_v / sqrt(3)``); both may be given only if they agree within 1 %.
    max_current_a, max_power_w
        Upper bounds [A per phase] and [W]; at least one is required, both may be given.
    min_current_a, min_power_w
        Lowest non-zero rate [A per phase] / [W]: the EVSE gives 0 or at least this.
        ``min_current_a`` defaults to 6 A on AC (IEC 61851-1) and 0 on DC.
    """

    id: Annotated[str, Field(min_length=1)]
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

    @model_validator(mode="before")
    @classmethod
    def _from_line_voltage(cls, data: Any) -> Any:
        """``voltage_v`` from ``line_voltage_v`` (checked against it when both are given)."""
        if not isinstance(data, dict) or data.get("line_voltage_v") is None:
            return data
        line = data["line_voltage_v"]
        if not isinstance(line, int | float) or isinstance(line, bool) or not line > 0:
            return data  # the field's own validation reports it
        phase = float(line) / math.sqrt(3.0)
        given = data.get("voltage_v")
        if given is None:
            return {**data, "voltage_v": phase}
        if isinstance(given, int | float) and abs(float(given) - phase) > 0.01 * phase:
            raise InvalidProblemError(
                f"voltage_v {given} V (phase to neutral) and line_voltage_v {line} V "
                f"disagree: line to line is sqrt(3) x phase to neutral ({phase:.2f} V)",
                path="voltage_v", rule="phase-voltage")
        return data

    @model_validator(mode="after")
    def _rules(self) -> EVSE:
        if "line_voltage_v" not in self.model_fields_set and any(
            abs(self.voltage_v - v) <= 0.01 * v for v in _LINE_ONLY_V
        ):
            raise InvalidProblemError(
                f"voltage_v is phase to neutral; {self.voltage_v:g} V is a line-to-line "
                f"voltage (its phase voltage is {self.voltage_v / math.sqrt(3.0):.2f} V): "
                "give line_voltage_v instead", path="voltage_v", rule="phase-voltage")
        if self.max_current_a is None and self.max_power_w is None:
            raise InvalidProblemError(
                "an EVSE needs max_current_a or max_power_w", path="max_current_a",
                rule="required",
            )
        if self.kind == "DC" and self.phases != 3:
            raise InvalidProblemError(
                "a DC charger is modelled as a three-phase AC load", path="phases", rule="dc"
            )
        if self.phases == 3 and self.connection is not None:
            raise InvalidProblemError(
                "connection is only for single-phase EVSEs", path="connection",
                rule="single-phase",
            )
        return self

    @property
    def line_to_line(self) -> bool:
        """True for a single-phase EVSE connected between two lines."""
        return self.phases == 1 and self.connection is not None and "-" in self.connection

    @property
    def watts_per_amp(self) -> float:
        """Power [W] per ampere of conductor current: ``3V``, ``V`` or ``sqrt(3) V``."""
        if self.phases == 3:
            return 3.0 * self.voltage_v
        if self.line_to_line:
            return math.sqrt(3.0) * self.voltage_v
        return self.voltage_v

    @property
    def max_w(self) -> float:
        """Effective maximum power [W]."""
        caps = [math.inf]
        if self.max_current_a is not None:
            caps.append(self.max_current_a * self.watts_per_amp)
        if self.max_power_w is not None:
            caps.append(self.max_power_w)
        return min(caps)

    @property
    def min_w(self) -> float:
        """Effective minimum non-zero power [W]."""
        amps = self.min_current_a
        if amps is None:
            amps = DEFAULT_AC_MIN_CURRENT_A if self.kind == "AC" else 0.0
        return max(amps * self.watts_per_amp, self.min_power_w or 0.0)


class Session(_Part):
    """An EV plugged into an EVSE from ``arrival`` to ``departure`` (UTC).

    Attributes
    ----------
    energy_wh
        Energy still wanted [Wh]; a soft target (the plan delivers at most this).
    max_current_a, max_power_w, min_current_a, min_power_w
        The vehicle's own bounds [A per phase] / [W] (``None``: the EVSE's apply).
    priority
        Weight (> 0) of this session's energy against the others' (default 1).
    transaction_id
        OCPP transactionId for the TxProfile (at most 36 characters).
    max_discharge_w
        Bidirectional power (V2X): the most [W] the vehicle may feed back (> 0 enables it;
        default 0, charging only). The EVSE's maximum bounds it too.
    discharge_floor_wh
        The most energy [Wh] the vehicle may lend: the net energy delivered since arrival
        (charged minus discharged) must stay >= ``-discharge_floor_wh`` at the end of every
        step, and be >= 0 at the end of the horizon (the vehicle never leaves with less
        than it came with; ``energy_wh`` is still the most it gets). Only with
        ``max_discharge_w > 0``.
    mode
        ``"planned"`` (default, the optimizer's behaviour without modes: the most energy
        by departure at the lowest cost, grid, generation and batteries alike);
        ``"fast"`` (as much as possible as early as possible: being behind the
        full-power schedule since arrival costs more than any price); ``"pv"`` (only
        surplus: at any step the vehicle draws power, the site imports nothing and no
        battery discharges); ``"min_pv"`` (the minimum from arrival, from any source, and
        anything above the minimum under the ``"pv"`` rule). See
        :mod:`smartcharge.optimizer._storage`.
    """

    id: Annotated[str, Field(min_length=1)]
    evse: str
    arrival: UTCDateTime
    departure: UTCDateTime
    energy_wh: NonNegFloat
    max_current_a: NonNegFloat | None = None
    max_power_w: NonNegFloat | None = None
    min_current_a: NonNegFloat | None = None
    min_power_w: NonNegFloat | None = None
    priority: PosFloat = 1.0
    transaction_id: Annotated[str, Field(max_length=36)] | None = None
    max_discharge_w: NonNegFloat = 0.0
    discharge_floor_wh: NonNegFloat = 0.0
    mode: SessionMode = "planned"

    @model_validator(mode="after")
    def _window(self) -> Session:
        if self.departure <= self.arrival:
            raise InvalidProblemError(
                f"departure {self.departure.isoformat()} is not after arrival "
                f"{self.arrival.isoformat()}", path="departure", rule="departure>arrival",
            )
        if self.discharge_floor_wh > 0 and self.max_discharge_w <= 0:
            raise InvalidProblemError(
                "a discharge floor needs max_discharge_w > 0", path="discharge_floor_wh",
                rule="v2x",
            )
        return self

    @property
    def v2x(self) -> bool:
        """True when the session may discharge (``max_discharge_w > 0``)."""
        return self.max_discharge_w > 0

    @classmethod
    def from_charging_needs(
        cls,
        needs: ChargingNeeds,
        *,
        id: str,
        evse: str,
        arrival: datetime,
        departure: datetime | None = None,
        energy_wh: float | None = None,
        priority: float = 1.0,
        transaction_id: str | None = None,
    ) -> Session:
        """A session from an EV's NotifyEVChargingNeeds.

        AC: ``energyAmount`` [Wh], ``evMinCurrent``/``evMaxCurrent`` [A]. DC:
        ``energyAmount`` [Wh], ``evMaxPower`` [W]. ``departure``/``energy_wh`` given here
        override the EV's; a missing departure or energy is an error.

        >>> from smartcharge.model import ChargingNeeds
        >>> needs = ChargingNeeds.model_validate({"requestedEnergyTransfer": "AC_three_phase",
        ...     "departureTime": "2024-01-01T08:00:00Z", "acChargingParameters": {
        ...     "energyAmount": 20000, "evMinCurrent": 6, "evMaxCurrent": 16,
        ...     "evMaxVoltage": 400}})
        >>> t0 = datetime.fromisoformat("2024-01-01T00:00:00+00:00")
        >>> s = Session.from_charging_needs(needs, id="s1", evse="e1", arrival=t0)
        >>> s.energy_wh, s.max_current_a, s.departure.hour
        (20000.0, 16.0, 8)
        """
        fields: dict[str, Any] = {}
        ac, dc = needs.ac_charging_parameters, needs.dc_charging_parameters
        if ac is not None:
            fields.update(
                energy_wh=float(ac.energy_amount),
                max_current_a=float(ac.ev_max_current),
                min_current_a=float(ac.ev_min_current),
            )
        elif dc is not None:
            if dc.energy_amount is not None:
                fields["energy_wh"] = float(dc.energy_amount)
            if dc.ev_max_power is not None:
                fields["max_power_w"] = float(dc.ev_max_power)
        if energy_wh is not None:
            fields["energy_wh"] = energy_wh
        if "energy_wh" not in fields:
            raise InvalidProblemError(
                "the charging needs carry no energyAmount and none was given",
                path="energy_wh", rule="required",
            )
        dep = departure if departure is not None else needs.departure_time
        if dep is None:
            raise InvalidProblemError(
                "the charging needs carry no departureTime and none was given",
                path="departure", rule="required",
            )
        return cls.model_validate(
            dict(id=id, evse=evse, arrival=arrival, departure=dep, priority=priority,
                 transaction_id=transaction_id, **fields),
        )


class Tariff(_Part):
    """Prices and the inflexible load, per step (or one number for every step).

    Attributes
    ----------
    price
        Import price [currency/kWh].
    export_price
        Feed-in price [currency/kWh] paid for energy the site exports at the root
        (default: none, 0); at most the import price at every step.
    co2_g_per_kwh
        Grid CO2 intensity [g/kWh], optional.
    demand_charge_per_kw
        Charge on the site's peak import over the horizon [currency/kW], optional.
    site_load_w
        Inflexible load [W] (building), a balanced three-phase load at ``site_load_node``.
    site_load_node
        Where that load hangs (default: the root).
    """

    price: Series = 0.0
    export_price: Series | None = None
    co2_g_per_kwh: Series | None = None
    demand_charge_per_kw: NonNegFloat | None = None
    site_load_w: Series | None = None
    site_load_node: str | None = None


class Objective(_Part):
    """Objective weights (see :func:`smartcharge.optimizer.optimize` and docs/optimizer.md).

    The optimizer maximises ``sum_s priority_s * V * energy_s`` first (``V`` is set far
    above any price), then minimises ``cost * energy cost + co2_per_kg * CO2 + demand
    charge``, rewards fairness with a concave bonus on each session's share of its need
    (``fairness``, a fraction of ``V``; 0 disables it), and breaks ties by charging early.

    Attributes
    ----------
    cost
        Weight of the energy cost (1: money as money; 0 ignores prices).
    co2_per_kg
        Price put on CO2 [currency/kg].
    demand
        Whether the tariff's demand charge is part of the objective.
    fairness
        Bonus (fraction of ``V``, < 0.5) for the first share of each session's need, falling
        linearly to 0 over ``tiers`` equal shares.
    tiers
        Number of equal shares of need for the fairness bonus (>= 1).
    early
        Charge early when everything else ties.
    front_load
        How much less a Wh is worth at the end of the horizon than now, as a share of a Wh's
        value (0: charging early only breaks ties; at most 0.5). Above 0 the "charge early"
        term is no longer a tie-break: a plan may deliver a little less within the horizon
        to deliver it sooner, which pays off when the plan is re-made at every step and
        only its first step applied (later arrivals will compete for the later steps).
        :func:`~smartcharge.optimizer.replan` uses 0.03 (docs/optimizer.md).
    urgency
        Weight of each session's urgency in that tie-break (>= 0; 0: every session alike).
        A session's "charge early" term is multiplied by ``1 + urgency * u``, where ``u`` is
        the share of its plugged-in time it needs at its maximum power (its need over its
        maximum times its hours, at most 1): among plans that tie on everything else, the
        sessions with the least slack charge first, the rest later. Without a front load
        it changes no plan's energy, cost or fairness, only which of equally good plans is
        chosen; in a re-planning loop that choice is what is applied. With one it scales
        the front load too (a Wh at the end is worth up to ``front_load * (1 + urgency)``
        less), so ``front_load * (1 + urgency)`` must be at most 0.5, else a Wh late in the
        horizon could be worth nothing and energy would no longer come first.
        :func:`~smartcharge.optimizer.replan` uses 4 (docs/optimizer.md).
    degradation_per_kwh
        Battery wear [currency/kWh] charged on every kWh a V2X session discharges, so that
        discharging pays only when the price spread covers it (no pointless cycling).
    """

    cost: NonNegFloat = 1.0
    co2_per_kg: NonNegFloat = 0.0
    demand: bool = True
    fairness: Annotated[float, Field(ge=0, lt=0.5)] = 0.01
    tiers: Annotated[int, Field(ge=1, le=20)] = 4
    early: bool = True
    front_load: Annotated[float, Field(ge=0, le=0.5)] = 0.0
    urgency: NonNegFloat = 0.0
    degradation_per_kwh: NonNegFloat = 0.02

    @model_validator(mode="after")
    def _front_load_with_urgency(self) -> Objective:
        # the most urgent session's Wh at the horizon's end loses front_load * (1 + urgency)
        # of its value: above 0.5 (with prices up to a tenth of it) a late Wh may be worth
        # nothing and the LP would leave need unserved without any congestion
        if self.front_load * (1.0 + self.urgency) > 0.5:
            raise InvalidProblemError(
                f"front_load * (1 + urgency) = {self.front_load} * (1 + {self.urgency}) is "
                f"above 0.5: a late Wh would lose more than half its value",
                path="front_load", rule="front-load-with-urgency")
        return self


class Generation(_Part):
    """A generator (PV array, ...) at a node: its forecast power, kept apart from the load.

    Attributes
    ----------
    id, node
        Its name and the node it feeds into.
    power_w
        Available power [W] per step (or one number for every step), >= 0: the plan uses
        at most this (the rest is curtailed, e.g. on a zero-export site). A balanced
        three-phase source at the node's ``voltage_v``.
    """

    id: Annotated[str, Field(min_length=1)]
    node: str
    power_w: Series


class Battery(_Part):
    """A stationary battery at a node (a balanced three-phase load or source).

    The state of charge ``soc`` [Wh] at the end of step ``t`` is ``soc[t-1] +
    (eta * charge - discharge / eta) * dt`` with ``eta = sqrt(efficiency)`` and ``dt`` the
    step [h]; it must stay within ``[min_wh, max_wh]`` at the end of every step (power is
    constant within a step, so also in between). The battery charges from generation or the
    grid and discharges to EVs or the site, within every node limit.

    Attributes
    ----------
    id, node
        Its name and the node it hangs from.
    capacity_wh
        Usable capacity [Wh] (> 0).
    initial_wh
        State of charge at the start of the horizon [Wh].
    min_wh, max_wh
        Bounds on the state of charge [Wh] (default 0 and ``capacity_wh``).
    final_wh
        Target state of charge at the end of the horizon [Wh] (soft, like a session's
        energy: met whenever the limits allow; ``None``: no target).
    max_charge_w, max_discharge_w
        Power limits [W] at the battery's AC terminals.
    efficiency
        Round-trip efficiency in (0, 1] (half the loss charging, half discharging).
    cost_per_kwh
        Wear [currency/kWh] charged on every kWh discharged (so cycling pays only when a
        price spread covers it).
    """

    id: Annotated[str, Field(min_length=1)]
    node: str
    capacity_wh: PosFloat
    initial_wh: NonNegFloat
    min_wh: NonNegFloat = 0.0
    max_wh: NonNegFloat | None = None
    final_wh: NonNegFloat | None = None
    max_charge_w: NonNegFloat
    max_discharge_w: NonNegFloat
    efficiency: Annotated[float, Field(gt=0, le=1)] = 0.9
    cost_per_kwh: NonNegFloat = 0.02

    @model_validator(mode="after")
    def _bounds(self) -> Battery:
        top = self.capacity_wh if self.max_wh is None else self.max_wh
        if top > self.capacity_wh:
            raise InvalidProblemError(f"max_wh {top} is above capacity_wh "
                                      f"{self.capacity_wh}", path="max_wh", rule="le-capacity")
        if self.min_wh > top:
            raise InvalidProblemError(f"min_wh {self.min_wh} is above max_wh {top}",
                                      path="min_wh", rule="min<=max")
        for name in ("initial_wh", "final_wh"):
            v = getattr(self, name)
            if v is not None and not self.min_wh <= v <= top:
                raise InvalidProblemError(
                    f"{name} {v} is outside [min_wh, max_wh] = [{self.min_wh}, {top}]",
                    path=name, rule="soc-bounds")
        return self

    @property
    def top_wh(self) -> float:
        """The effective maximum state of charge [Wh]."""
        return self.capacity_wh if self.max_wh is None else self.max_wh


class Problem(_Part):
    """A site allocation problem (see the module docstring for conventions)."""

    horizon: Horizon
    nodes: Annotated[tuple[Node, ...], Field(min_length=1)]
    evses: tuple[EVSE, ...] = ()
    sessions: tuple[Session, ...] = ()
    tariff: Tariff = Tariff()
    generation: tuple[Generation, ...] = ()
    batteries: tuple[Battery, ...] = ()
    constraints: tuple[CurrentConstraint, ...] = ()

    _cache: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Problem:
        n = self.horizon.n_steps
        node_ids = _unique([x.id for x in self.nodes], "nodes")
        roots = [i for i, x in enumerate(self.nodes) if x.parent is None]
        if len(roots) != 1:
            raise InvalidProblemError(
                f"the tree needs exactly one root (parent null), found {len(roots)}",
                path="nodes", rule="one-root",
            )
        for i, node in enumerate(self.nodes):
            if node.parent is not None and node.parent not in node_ids:
                raise InvalidProblemError(
                    f"unknown parent {node.parent!r}", path=f"nodes[{i}].parent",
                    rule="known-node",
                )
            for name in ("max_power_w", "max_current_a", "max_export_w"):
                _check_series(getattr(node, name), n, f"nodes[{i}].{name}")
        # cycles: every node must reach the root
        parent = {x.id: x.parent for x in self.nodes}
        for i, node in enumerate(self.nodes):
            seen: set[str] = set()
            cur: str | None = node.id
            while cur is not None:
                if cur in seen:
                    raise InvalidProblemError(
                        "the parent links form a cycle", path=f"nodes[{i}].parent",
                        rule="tree",
                    )
                seen.add(cur)
                cur = parent[cur]
        evse_ids = _unique([x.id for x in self.evses], "evses")
        for i, evse in enumerate(self.evses):
            if evse.node not in node_ids:
                raise InvalidProblemError(
                    f"unknown node {evse.node!r}", path=f"evses[{i}].node", rule="known-node"
                )
        _unique([x.id for x in self.sessions], "sessions")
        self._check_constraints(node_ids, n)
        by_evse: dict[str, list[int]] = {}
        for i, s in enumerate(self.sessions):
            if s.evse not in evse_ids:
                raise InvalidProblemError(
                    f"unknown EVSE {s.evse!r}", path=f"sessions[{i}].evse", rule="known-evse"
                )
            by_evse.setdefault(s.evse, []).append(i)
        for idx in by_evse.values():
            idx.sort(key=lambda k: self.sessions[k].arrival)
            for a, b in pairwise(idx):
                if self.sessions[b].arrival < self.sessions[a].departure:
                    raise InvalidProblemError(
                        f"overlaps session {self.sessions[a].id!r} on the same EVSE",
                        path=f"sessions[{b}].arrival", rule="one-session-per-evse",
                    )
        t = self.tariff
        _check_series(t.price, n, "tariff.price", finite=True, nonneg=False)
        _check_series(t.co2_g_per_kwh, n, "tariff.co2_g_per_kwh", finite=True)
        _check_series(t.site_load_w, n, "tariff.site_load_w", finite=True)
        if t.site_load_node is not None and t.site_load_node not in node_ids:
            raise InvalidProblemError(
                f"unknown node {t.site_load_node!r}", path="tariff.site_load_node",
                rule="known-node",
            )
        _check_site(self, node_ids)
        return self

    def _check_constraints(self, node_ids: set[str], n: int) -> None:
        """Constraint ids unique beside the nodes', known single-phase EVSEs, finite
        coefficients, one limit per step."""
        _unique([x.id for x in self.constraints], "constraints")
        evse = {x.id: x for x in self.evses}
        for i, c in enumerate(self.constraints):
            where = f"constraints[{i}]"
            if c.id in node_ids:
                raise InvalidProblemError(f"id {c.id!r} is a node's too", path=f"{where}.id",
                                          rule="unique-id")
            for e, a in c.coefficients.items():
                if e not in evse:
                    raise InvalidProblemError(f"unknown EVSE {e!r}",
                                              path=f"{where}.coefficients", rule="known-evse")
                if evse[e].phases != 1:
                    raise InvalidProblemError(
                        f"EVSE {e!r} is three-phase: a constraint takes one current phasor "
                        "per EVSE (single-phase EVSEs only)", path=f"{where}.coefficients",
                        rule="single-phase")
                if not math.isfinite(a):
                    raise InvalidProblemError(f"coefficient of {e!r} must be finite",
                                              path=f"{where}.coefficients", rule="finite")
            _check_series(c.max_current_a, n, f"{where}.max_current_a")

    # ---- arrays -------------------------------------------------------------------------

    def series(self, value: Limit | Series, *, missing: float = math.inf) -> FloatArray:
        """A per-step float array of ``value`` (``None`` entries become ``missing``)."""
        n = self.horizon.n_steps
        if value is None:
            return np.full(n, missing)
        if isinstance(value, tuple):
            return np.array([missing if v is None else v for v in value], dtype=np.float64)
        return np.full(n, float(value))

    def network(self) -> Network:
        """The compiled arrays (:class:`smartcharge.optimizer._network.Network`), cached.

        The cache belongs to this very object: ``model_copy`` shares pydantic's private
        state with the copy, so the owner is checked (the copy gets a cache of its own), and
        the cache is neither pickled nor compared (two equal problems are equal whether or
        not either compiled its arrays).
        """
        if self._cache.get("owner") is not self:
            self._cache = {"owner": self, "network": Network(self)}
        net: Network = self._cache["network"]
        return net

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__.values()))

    def __getstate__(self) -> dict[Any, Any]:
        state = dict(super().__getstate__())
        state["__pydantic_private__"] = {"_cache": {}}
        return state


def limits_from_schedule(
    schedule: Schedule, horizon: Horizon
) -> dict[str, tuple[float | None, ...]]:
    """A node's per-step limit from an OCPP-derived :class:`smartcharge.schedule.Schedule`.

    Takes the minimum over each step (``Schedule.sample(..., how="min")``, so the limit never
    exceeds the schedule inside a step) and returns ``{"max_power_w": ...}`` for a schedule
    in W or ``{"max_current_a": ...}`` for one in A, ready to pass to :class:`Node`.
    Steps without any limit are ``None``.
    """
    values = np.asarray(
        schedule.sample(horizon.start, horizon.step_s, horizon.n_steps, how="min"),
        dtype=np.float64,
    )
    per_step = tuple(None if math.isnan(v) else max(float(v), 0.0) for v in values)
    key = "max_power_w" if str(schedule.unit) == "W" else "max_current_a"
    return {key: per_step}


# ---- helpers ------------------------------------------------------------------------------


def _check_site(p: Problem, node_ids: set[str]) -> None:
    """The generation, batteries and feed-in price: known nodes, unique ids, per-step
    series, feed-in at most the import price."""
    n = p.horizon.n_steps
    groups: tuple[tuple[str, Sequence[Generation | Battery]], ...] = (
        ("generation", p.generation), ("batteries", p.batteries))
    for where, parts in groups:
        _unique([x.id for x in parts], where)
        for i, x in enumerate(parts):
            if x.node not in node_ids:
                raise InvalidProblemError(f"unknown node {x.node!r}",
                                          path=f"{where}[{i}].node", rule="known-node")
    for i, g in enumerate(p.generation):
        _check_series(g.power_w, n, f"generation[{i}].power_w", finite=True)
    t = p.tariff
    _check_series(t.export_price, n, "tariff.export_price", finite=True, nonneg=False)
    if t.export_price is not None:
        above = np.flatnonzero(p.series(t.export_price) > p.series(t.price))
        if len(above):
            k = int(above[0])
            raise InvalidProblemError(
                f"the feed-in price is above the import price at step {k}",
                path="tariff.export_price" + (f"[{k}]" if isinstance(t.export_price, tuple)
                                              else ""), rule="export<=import")



def _unique(ids: Sequence[str], where: str) -> set[str]:
    seen: set[str] = set()
    for i, x in enumerate(ids):
        if x in seen:
            raise InvalidProblemError(
                f"duplicate id {x!r}", path=f"{where}[{i}].id", rule="unique-id"
            )
        seen.add(x)
    return seen


def _check_series(
    value: object, n: int, path: str, *, finite: bool = False, nonneg: bool = True
) -> None:
    if not isinstance(value, tuple):
        if isinstance(value, float) and nonneg and value < 0:
            raise InvalidProblemError(f"must be >= 0, got {value}", path=path, rule="ge0")
        return
    if len(value) != n:
        raise InvalidProblemError(
            f"needs one value per step ({n}), got {len(value)}", path=path, rule="per-step"
        )
    for k, v in enumerate(value):
        if v is None:
            if finite:
                raise InvalidProblemError("must be a number", path=f"{path}[{k}]", rule="type")
            continue
        if not math.isfinite(v) or (nonneg and v < 0):
            raise InvalidProblemError(
                f"must be a finite number{' >= 0' if nonneg else ''}, got {v}",
                path=f"{path}[{k}]", rule="ge0" if nonneg else "finite",
            )


_TYPE_TAGS = {"float", "int", "str", "bool", "none", "list", "tuple", "dict"}


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TYPE_TAGS or any(c in part for c in "[(-"):
            continue  # pydantic's union / validator tags, not field names
        else:
            out += f".{part}" if out else part
    return out


def _convert(exc: ValidationError) -> SmartChargeError:
    err = exc.errors()[0]
    loc = list(err.get("loc", ()))
    ctx = err.get("ctx") or {}
    inner = ctx.get("error")
    if isinstance(inner, SmartChargeError):
        base = _path(loc)
        sub = inner.path or ""
        path = f"{base}.{sub}" if base and sub else (base or sub)
        return InvalidProblemError(inner.message, path=path or None, rule=inner.rule)
    return InvalidProblemError(err.get("msg", "invalid"), path=_path(loc) or None,
                               rule=str(err.get("type", "invalid")))
