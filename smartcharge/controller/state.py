"""The controller's whole state: one JSON document a stateless worker stores between events.

:class:`ControllerState` holds, with a ``format_version``:

- per station: online or not;
- per EVSE (key ``"<station>/<evseId>"``): the running transaction, the EV's needs, the
  last meter reading and the measured-feedback cap, and the **acknowledged** TxProfile
  (what the station confirmed holding, as an :class:`Envelope`);
- the requests in flight (or timed out: possibly installed), each with its envelope;
- grid limits, the tariff, the last plan (desired envelopes) and whether to re-plan;
- the last reading of the grid connection (:class:`SiteMeterState`) and, per ``pv`` /
  ``min_pv`` session, its surplus switch (:class:`SwitchDoc`, the
  :class:`~smartcharge.optimizer.SwitchState` of the start/stop hysteresis);
- the warm state of the last re-plan (:class:`WarmDoc`: the optimizer's
  :class:`~smartcharge.optimizer.LazyRows` as JSON, :mod:`smartcharge.controller.warm`),
  which the next re-plan starts from: part of the state so that a controller restored
  from a snapshot re-plans exactly as the one that wrote it.

Format versions: 2 added the session mode, the surplus switch and the site reading; 3 the
warm state. A version 1 or 2 document is read as version 3 with none of what it lacks (no
session had a mode in version 1; no warm state: the next re-plan starts cold).

``to_json()`` is deterministic (sorted keys); ``ControllerState.from_json`` raises
:class:`~smartcharge.errors.ControllerError` naming the JSON path of the first damaged
field, never a bare ``TypeError`` or ``KeyError``.

>>> s = ControllerState()
>>> ControllerState.from_json(s.to_json()) == s
True
>>> ControllerState.from_json('{"format_version": 2, "seq": null}')
Traceback (most recent call last):
...
smartcharge.errors.ControllerError: seq: Input should be a valid integer [int_type]
>>> ControllerState.from_json('{"format_version": 2}').warm is None
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cached_property
from itertools import pairwise
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from smartcharge.errors import ControllerError
from smartcharge.model._base import UTCDateTime
from smartcharge.optimizer.problem import _path

__all__ = [
    "FORMAT_VERSION",
    "ControllerState",
    "Envelope",
    "EvseState",
    "GridLimitState",
    "PendingRequest",
    "PlanState",
    "SiteMeterState",
    "StationState",
    "SwitchDoc",
    "WarmDoc",
    "WarmNode",
    "on_grid_many",
]

FORMAT_VERSION: Literal[3] = 3
"""The version of the state document this code writes (and reads, with versions 1 and 2)."""
_MIGRATES = (1, 2)
"""Older versions read by adding the new fields' defaults (see the module docstring)."""

FloatArray = npt.NDArray[np.float64]
Amps = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]
Watts = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
Energy = Annotated[float, Field(ge=0, le=1e15, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=2**53)]


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class Envelope(_Doc):
    """A limit per step [A per phase; W / (W per A) for DC] from ``start`` (a step
    boundary) on, ``step_s`` [s] per value; past the end the station's fallback applies."""

    start: UTCDateTime
    step_s: Annotated[int, Field(gt=0, le=86_400)]
    limits_a: Annotated[tuple[Amps, ...], Field(min_length=1, max_length=100_000)]

    @property
    def end(self) -> datetime:
        """End of the last step (UTC)."""
        return self.start + timedelta(seconds=self.step_s * len(self.limits_a))

    def on_grid(self, start: datetime, n_steps: int, outside: float = math.nan) -> FloatArray:
        """Its values on the grid of ``n_steps`` steps of ``step_s`` from ``start``
        (aligned to the same step boundaries); ``outside`` where it does not cover a step."""
        out = np.full(n_steps, outside, dtype=np.float64)
        offset = int((start - self.start).total_seconds()) // self.step_s
        lo, hi = max(offset, 0), min(offset + n_steps, len(self.limits_a))
        if hi > lo:
            out[lo - offset:hi - offset] = self.limits_array[lo:hi]
        return out

    @cached_property
    def limits_array(self) -> FloatArray:
        """``limits_a`` as a read-only array (made once per envelope; not a field)."""
        arr = np.array(self.limits_a, dtype=np.float64)
        arr.setflags(write=False)
        return arr


def on_grid_many(envelopes: Sequence[Envelope | None], start: datetime, n_steps: int,
                 outside: float = math.nan) -> FloatArray:
    """(len(envelopes), n_steps) :meth:`Envelope.on_grid` of each envelope (``outside``
    everywhere for ``None``): the same values, envelopes of one start and length copied
    together."""
    out = np.full((len(envelopes), n_steps), outside, dtype=np.float64)
    groups: dict[tuple[datetime, int, int], list[int]] = {}
    for i, env in enumerate(envelopes):
        if env is not None:
            groups.setdefault((env.start, env.step_s, len(env.limits_a)), []).append(i)
    for (first, step_s, n), idx in groups.items():
        offset = int((start - first).total_seconds()) // step_s
        lo, hi = max(offset, 0), min(offset + n_steps, n)
        if hi > lo:
            rows = [envelopes[i].limits_array[lo:hi] for i in idx]  # type: ignore[union-attr]
            out[np.asarray(idx), lo - offset:hi - offset] = np.stack(rows)
    return out


class SwitchDoc(_Doc):
    """A session's surplus switch (:class:`smartcharge.optimizer.SwitchState` as JSON)."""

    on: bool = False
    since: UTCDateTime | None = None
    last: UTCDateTime | None = None


class SiteMeterState(_Doc):
    """The last reading at the grid connection ``node``: ``power_w`` [W] (import positive,
    export negative) measured at ``at``."""

    node: str
    power_w: Annotated[float, Field(ge=-1e12, le=1e12, allow_inf_nan=False)]
    at: UTCDateTime


class StationState(_Doc):
    """A station's link."""

    online: bool = False


class EvseState(_Doc):
    """What the controller knows of one EVSE.

    Attributes
    ----------
    transaction_id, started
        The running transaction (``None``: none).
    meter_start_wh, energy_wh
        The energy register at the transaction's start and now [Wh].
    power_w, currents_a, measured_at
        The last reading [W], [A per phase] (L1..L3), and its time.
    low_since
        Since when the EV draws persistently below its limit (measured feedback).
    cap_a
        The measured cap [A per phase] (``None``: none).
    phases_in_use
        Phases carrying current in the last reading with per-phase currents.
    single_line
        The line (``"L1"``, ``"L2"``, ``"L3"``) a car on a three-phase AC EVSE was last
        measured drawing on alone (all three phases reported, one above
        ``phase_threshold_a``); ``None``: on the EVSE's phases as wired (not measured, or
        measured on two or three). Left out of the JSON when ``None``.
    need_wh, departure, ev_max_current_a, ev_max_power_w, ev_min_current_a
        The EV's needs (NotifyEVChargingNeeds).
    external_a, external_w
        A limit set at the station by another party (NotifyChargingLimit).
    acked
        The TxProfile the station acknowledged (Accepted) for this transaction.
    fallback
        The fallback TxDefaultProfile: ``"due"`` (to send), ``"sent"``, ``"acked"`` or
        ``"failed"`` (not re-sent before the next connection).
    mode
        The session's mode set by a ``SessionMode`` event (``None``: the EVSE's default).
    pv_switch
        The surplus switch of a ``pv`` / ``min_pv`` session (``None``: off, never read).
    """

    transaction_id: Annotated[str, Field(min_length=1, max_length=36)] | None = None
    started: UTCDateTime | None = None
    meter_start_wh: Energy | None = None
    energy_wh: Energy | None = None
    power_w: Watts | None = None
    currents_a: tuple[Amps | None, Amps | None, Amps | None] | None = None
    measured_at: UTCDateTime | None = None
    low_since: UTCDateTime | None = None
    cap_a: Amps | None = None
    phases_in_use: Annotated[int, Field(ge=0, le=3)] | None = None
    single_line: Annotated[Literal["L1", "L2", "L3"] | None,
                           Field(exclude_if=lambda v: v is None)] = None
    need_wh: Energy | None = None
    departure: UTCDateTime | None = None
    ev_max_current_a: Amps | None = None
    ev_max_power_w: Watts | None = None
    ev_min_current_a: Amps | None = None
    external_a: Amps | None = None
    external_w: Watts | None = None
    acked: Envelope | None = None
    fallback: Literal["due", "sent", "acked", "failed"] = "due"
    mode: Literal["planned", "fast", "pv", "min_pv"] | None = None
    pv_switch: SwitchDoc | None = None


class PendingRequest(_Doc):
    """A request sent and not settled: in flight, or timed out (possibly installed).

    ``kind``: ``"tx"`` (a TxProfile, with its envelope and transaction) or ``"default"``
    (the fallback TxDefaultProfile, whose limits the worst case always counts)."""

    correlation_id: Annotated[str, Field(min_length=1, max_length=128)]
    seq: Count
    station_id: str
    evse_id: Annotated[int, Field(ge=0, le=99_999)]
    kind: Literal["tx", "default"]
    transaction_id: str | None = None
    envelope: Envelope | None = None
    timed_out: bool = False


class GridLimitState(_Doc):
    """A grid / DSO limit on ``node`` from ``start`` to ``end``."""

    node: str
    start: UTCDateTime
    end: UTCDateTime
    max_power_w: Watts | None = None
    max_current_a: Amps | None = None


class PlanState(_Doc):
    """The last plan: its grid start and the desired envelope per EVSE key."""

    start: UTCDateTime
    desired: dict[str, Envelope] = {}
    status: str = ""


Finite = Annotated[float, Field(allow_inf_nan=False)]
_MAX_ROWS = 10_000_000


class WarmNode(_Doc):
    """One node's rows of :class:`~smartcharge.optimizer.LazyRows` (exactly: JSON numbers
    round-trip float64).

    Attributes
    ----------
    node
        The node id.
    coef_shape, coef
        The node's polygon coefficients, shape ``(R, m)`` (R facets, m member EVSEs), row
        by row: a later problem's rows match only if its node has the same ones.
    facet, start_s, end_s
        Per row that bound: the facet index (``< R``) and the time span [s since the
        epoch] of its block, sorted by facet, then start.
    """

    node: str
    coef_shape: tuple[Annotated[int, Field(ge=0, le=_MAX_ROWS)],
                      Annotated[int, Field(ge=0, le=_MAX_ROWS)]]
    coef: Annotated[tuple[Finite, ...], Field(max_length=_MAX_ROWS)]
    facet: Annotated[tuple[Annotated[int, Field(ge=0, le=_MAX_ROWS)], ...],
                     Field(max_length=_MAX_ROWS)]
    start_s: Annotated[tuple[Finite, ...], Field(max_length=_MAX_ROWS)]
    end_s: Annotated[tuple[Finite, ...], Field(max_length=_MAX_ROWS)]

    @model_validator(mode="after")
    def _consistent(self) -> WarmNode:
        r, m = self.coef_shape
        if len(self.coef) != r * m:
            raise ValueError(f"coef has {len(self.coef)} values, coef_shape {r} x {m} "
                             f"needs {r * m}")
        if not len(self.facet) == len(self.start_s) == len(self.end_s):
            raise ValueError(f"facet, start_s and end_s differ in length ({len(self.facet)}"
                             f", {len(self.start_s)}, {len(self.end_s)})")
        if self.facet and max(self.facet) >= r:
            raise ValueError(f"facet {max(self.facet)} is not below the {r} facets of "
                             "coef_shape")
        key = list(zip(self.facet, self.start_s, strict=True))
        if any(b < a for a, b in pairwise(key)):
            raise ValueError("the rows are not sorted by facet, then start_s")
        if any(e <= s for s, e in zip(self.start_s, self.end_s, strict=True)):
            raise ValueError("a row's end_s is not after its start_s")
        return self


class WarmDoc(_Doc):
    """The warm state of the last re-plan (:func:`smartcharge.optimizer.replan`'s second
    result) as JSON: one :class:`WarmNode` per node with rows that bound."""

    nodes: Annotated[tuple[WarmNode, ...], Field(max_length=100_000)] = ()


class ControllerState(_Doc):
    """The controller's snapshot (see the module docstring)."""

    format_version: Literal[3] = FORMAT_VERSION
    now: UTCDateTime | None = None
    seq: Count = 0
    stations: dict[str, StationState] = {}
    evses: dict[str, EvseState] = {}
    pending: tuple[PendingRequest, ...] = ()
    grid_limits: tuple[GridLimitState, ...] = ()
    tariff: tuple[tuple[UTCDateTime, Annotated[float, Field(allow_inf_nan=False)]], ...] = ()
    plan: PlanState | None = None
    dirty: bool = True
    site_meter: SiteMeterState | None = None
    warm: WarmDoc | None = None

    def to_json(self) -> str:
        """The state as deterministic JSON (sorted keys, compact)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ControllerState:
        """Read :meth:`to_json` output.

        Raises
        ------
        ControllerError
            Not JSON, a ``format_version`` other than 3 (or 1 or 2, migrated), or a damaged
            field
            (named by its path).
        """
        try:
            data = json.loads(text)
        except (ValueError, TypeError, RecursionError) as exc:
            raise ControllerError(f"not a JSON document: {exc}", path="$",
                                  rule="json") from None
        return cls.from_json_dict(data)

    @classmethod
    def from_json_dict(cls, data: Any) -> ControllerState:
        """Read the parsed JSON of :meth:`to_json` (errors as :meth:`from_json`)."""
        if not isinstance(data, dict):
            raise ControllerError(f"expected an object, got {type(data).__name__}",
                                  path="$", rule="type")
        version = data.get("format_version")
        if version in _MIGRATES and not isinstance(version, bool):
            data = {**data, "format_version": FORMAT_VERSION}
            version = FORMAT_VERSION
        if version != FORMAT_VERSION or isinstance(version, bool):
            raise ControllerError(
                f"unsupported format_version {version!r} (this code reads "
                f"{FORMAT_VERSION}, 2 and 1)", path="format_version", rule="format-version")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ControllerError(err.get("msg", "invalid"),
                                  path=_path(list(err.get("loc", ()))) or "$",
                                  rule=str(err.get("type", "invalid"))) from None
        except (ValueError, TypeError, OverflowError) as exc:
            raise ControllerError(str(exc), path="$", rule="invalid") from None
