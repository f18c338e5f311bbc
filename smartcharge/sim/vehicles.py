"""Vehicles of a simulation: what a car takes of the power its EVSE offers.

Two battery models, as ACN-Sim has them:

- ``"ideal"``: the car draws what it is offered, up to its maximum power, until its
  requested energy is in;
- ``"taper"``: a two-stage battery (ACN-Sim's ``Linear2StageBattery``): up to
  ``transition_soc`` the car draws what it is offered (at most its maximum power ``Pm``);
  above it the most it takes falls linearly with the state of charge ``s`` to 0 at full,
  ``Pm (1 - s) / (1 - transition_soc)``. Within a step the charge follows this exactly (the
  ordinary differential equation ``C ds/dt = min(p, Pm (1 - s) / (1 - s0))`` is solved in
  closed form: linear while ``p`` binds, exponential afterwards), so a step's energy does
  not depend on the step length. The battery's capacity ``C`` is
  ``max(capacity_wh, requested energy)`` and it arrives at ``1 - requested / C``: full means
  the requested energy is in.

Also a car's phases (a single-phase car on a three-phase EVSE draws on one phase only, so
one third of the power an EVSE limit in A per phase allows) and its minimum current (below
it the car does not charge at all).

>>> import numpy as np
>>> fleet = Fleet(VehicleModel(battery="taper", capacity_wh=10_000.0),
...               requested_wh=np.array([2_000.0]), max_power_w=np.array([6_600.0]))
>>> p = fleet.charge(np.array([0]), np.array([6_600.0]), 3600)
>>> bool(p[0] < 2_000.0), bool(fleet.delivered_wh[0] < 2_000.0)  # tapers: never quite full
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from smartcharge.errors import InvalidProblemError

__all__ = ["Fleet", "VehicleModel"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class VehicleModel:
    """How the simulated cars charge.

    Attributes
    ----------
    battery
        ``"ideal"`` or ``"taper"`` (two-stage linear taper above ``transition_soc``).
    transition_soc
        State of charge (0..1, exclusive) where a tapering battery starts to taper.
    capacity_wh
        A tapering battery's capacity [Wh] (at least the session's requested energy).
    phases
        The car's phases (1, 2 or 3); ``None`` = as many as the EVSE has.
    min_current_a
        Below this pilot [A] the car does not charge (J1772 cars stop under 6 A).

    Raises
    ------
    InvalidProblemError
        A value out of range, named by its field.
    """

    battery: Literal["ideal", "taper"] = "ideal"
    transition_soc: float = 0.8
    capacity_wh: float = 60_000.0
    phases: int | None = None
    min_current_a: float = 0.0

    def __post_init__(self) -> None:
        if self.battery not in ("ideal", "taper"):
            raise InvalidProblemError(f"must be 'ideal' or 'taper', got {self.battery!r}",
                                      path="battery", rule="enum")
        if not (isinstance(self.transition_soc, (int, float))
                and 0.0 < self.transition_soc < 1.0):
            raise InvalidProblemError(f"must be in (0, 1), got {self.transition_soc!r}",
                                      path="transition_soc", rule="range")
        if not (isinstance(self.capacity_wh, (int, float)) and math.isfinite(self.capacity_wh)
                and self.capacity_wh > 0):
            raise InvalidProblemError(f"must be a finite number > 0, got {self.capacity_wh!r}",
                                      path="capacity_wh", rule="range")
        if self.phases is not None and self.phases not in (1, 2, 3):
            raise InvalidProblemError(f"must be 1, 2, 3 or None, got {self.phases!r}",
                                      path="phases", rule="range")
        if not (isinstance(self.min_current_a, (int, float))
                and math.isfinite(self.min_current_a) and self.min_current_a >= 0):
            raise InvalidProblemError(f"must be a finite number >= 0, got {self.min_current_a!r}",
                                      path="min_current_a", rule="range")

    def phase_share(self, evse_phases: IntArray) -> FloatArray:
        """The share (0..1] of an EVSE's per-phase limit times its phases the car can use."""
        ph = np.asarray(evse_phases, dtype=np.float64)
        if self.phases is None:
            return np.ones_like(ph)
        return np.minimum(float(self.phases), ph) / ph


class Fleet:
    """The state of every car of a simulation (one per session), charged step by step.

    Parameters
    ----------
    model
        The vehicle model.
    requested_wh
        (S,) energy each car wants [Wh].
    max_power_w
        (S,) the most each car takes [W].
    """

    def __init__(self, model: VehicleModel, requested_wh: FloatArray,
                 max_power_w: FloatArray) -> None:
        self.model = model
        self.requested_wh = np.asarray(requested_wh, dtype=np.float64).copy()
        self.max_power_w = np.asarray(max_power_w, dtype=np.float64).copy()
        if self.requested_wh.shape != self.max_power_w.shape:
            raise InvalidProblemError("requested_wh and max_power_w must have one shape",
                                      path="max_power_w", rule="shape")
        for name, arr in (("requested_wh", self.requested_wh), ("max_power_w", self.max_power_w)):
            if not np.all(np.isfinite(arr) & (arr >= 0)):
                raise InvalidProblemError("must be finite and >= 0", path=name, rule="range")
        self.capacity_wh = np.maximum(model.capacity_wh, self.requested_wh)
        safe = np.where(self.capacity_wh > 0, self.capacity_wh, 1.0)
        self.soc0 = np.where(self.capacity_wh > 0, 1.0 - self.requested_wh / safe, 1.0)
        self.soc = self.soc0.copy()
        self.delivered_wh = np.zeros_like(self.requested_wh)

    def charge(self, idx: IntArray, offered_w: FloatArray, dt_s: float) -> FloatArray:
        """Charge cars ``idx`` for ``dt_s`` seconds with ``offered_w`` [W] offered to each.

        Returns the mean power [W] each drew over the step (never above what was offered,
        its maximum, or what brings it to its requested energy); updates the state.
        """
        idx = np.asarray(idx, dtype=np.int64)
        p = np.minimum(np.maximum(np.asarray(offered_w, dtype=np.float64), 0.0),
                       self.max_power_w[idx])
        dt_h = dt_s / 3600.0
        left = np.maximum(self.requested_wh[idx] - self.delivered_wh[idx], 0.0)
        if self.model.battery == "ideal":
            energy = np.minimum(p * dt_h, left)
        else:
            energy = self._taper(idx, p, dt_h)
            energy = np.minimum(energy, left)
        self.delivered_wh[idx] += energy
        cap = self.capacity_wh[idx]
        self.soc[idx] = np.where(cap > 0, self.soc0[idx] + self.delivered_wh[idx]
                                 / np.where(cap > 0, cap, 1.0), 1.0)
        return np.asarray(energy / dt_h, dtype=np.float64)

    def accept_w(self, idx: IntArray) -> FloatArray:
        """The power [W] cars ``idx`` take at this instant when offered without limit: their
        maximum, the taper's ceiling ``max x (1 - soc) / (1 - transition_soc)`` above the
        transition, 0 once they have their requested energy."""
        idx = np.asarray(idx, dtype=np.int64)
        pm = self.max_power_w[idx]
        left = self.requested_wh[idx] - self.delivered_wh[idx]
        if self.model.battery == "ideal":
            take = pm
        else:
            s0 = self.model.transition_soc
            take = pm * np.clip((1.0 - self.soc[idx]) / (1.0 - s0), 0.0, 1.0)
        return np.asarray(np.where(left > 1e-9, take, 0.0), dtype=np.float64)

    def _taper(self, idx: IntArray, p: FloatArray, dt_h: float) -> FloatArray:
        s0 = self.model.transition_soc
        cap = self.capacity_wh[idx]
        pm = self.max_power_w[idx]
        soc = self.soc[idx]
        on = (p > 1e-9) & (pm > 1e-9) & (cap > 0)  # [W]: less is no charge
        p_ = np.where(on, p, 1.0)
        pm_ = np.where(on, pm, 1.0)
        cap_ = np.where(on, cap, 1.0)
        # the state of charge where the taper's ceiling meets the offered power
        soc_x = np.maximum(1.0 - p_ * (1.0 - s0) / pm_, s0)
        t_lin = np.maximum(soc_x - soc, 0.0) * cap_ / p_  # [h] drawing p before the taper binds
        lin_h = np.minimum(t_lin, dt_h)
        e_lin = p_ * lin_h
        start = np.maximum(soc, soc_x)  # where the exponential stage starts
        tau = dt_h - lin_h
        k = pm_ / ((1.0 - s0) * cap_)  # [1/h]
        e_exp = cap_ * (1.0 - start) * -np.expm1(-k * tau)
        return np.where(on, e_lin + np.maximum(e_exp, 0.0), 0.0)
