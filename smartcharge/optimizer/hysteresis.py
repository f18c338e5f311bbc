"""Start/stop hysteresis for surplus (PV-only) charging in live use.

A plan says when a ``pv`` session may charge; a live controller sees the real surplus
flicker as clouds pass. :class:`SurplusHysteresis` turns a stream of surplus readings into
a contactor decision that changes only after the surplus has stayed past a threshold for a
minimum time: at least ``start_w`` for ``start_hold_s`` before starting, below ``stop_w``
for ``stop_hold_s`` before stopping. It is pure: the caller keeps the
:class:`SwitchState` and passes ``now`` (no clock, no globals).

The surplus to pass is the power the vehicle could draw without the site importing: the
export at the grid connection plus what the vehicle draws at that moment (so a car that
charges does not see its own draw as a missing surplus).

>>> from datetime import datetime, timedelta, timezone
>>> rule = SurplusHysteresis(start_w=4140, stop_w=4140, start_hold_s=300, stop_hold_s=600)
>>> t0 = datetime(2024, 6, 1, 12, tzinfo=timezone.utc)
>>> state = SwitchState()
>>> for minute, surplus in [(0, 5000), (4, 5000), (5, 5000), (6, 1000), (10, 1000)]:
...     state = rule.step(state, t0 + timedelta(minutes=minute), surplus)
...     print(minute, state.on)
0 False
4 False
5 True
6 True
10 True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from smartcharge.errors import InvalidProblemError

__all__ = ["SurplusHysteresis", "SwitchState"]


@dataclass(frozen=True)
class SwitchState:
    """The contactor decision and, while a change is pending, since when.

    Attributes
    ----------
    on
        Whether surplus charging is on.
    since
        When the surplus first crossed the threshold that would change ``on`` (``None``:
        no change pending).
    last
        The time of the last reading (``None`` before the first), to refuse time running
        backwards.
    """

    on: bool = False
    since: datetime | None = None
    last: datetime | None = None


@dataclass(frozen=True)
class SurplusHysteresis:
    """Start when the surplus stays >= ``start_w`` [W] for ``start_hold_s`` [s]; stop when it
    stays < ``stop_w`` [W] for ``stop_hold_s`` [s].

    ``stop_w <= start_w`` (typically both the vehicle's minimum power, or ``stop_w`` a little
    lower); holds >= 0 (0: switch at once). Bad values raise
    :class:`~smartcharge.errors.InvalidProblemError`.
    """

    start_w: float
    stop_w: float
    start_hold_s: float = 300.0
    stop_hold_s: float = 600.0

    def __post_init__(self) -> None:
        for name in ("start_w", "stop_w", "start_hold_s", "stop_hold_s"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v) \
                    or v < 0:
                raise InvalidProblemError(f"must be a finite number >= 0, got {v!r}",
                                          path=name, rule="ge0")
        if self.stop_w > self.start_w:
            raise InvalidProblemError(
                f"stop_w {self.stop_w} is above start_w {self.start_w}: the switch would "
                "cycle", path="stop_w", rule="stop<=start")

    def step(self, state: SwitchState, now: datetime, surplus_w: float) -> SwitchState:
        """The state after a surplus reading ``surplus_w`` [W] at ``now``.

        Off: a reading >= ``start_w`` starts (or continues) a pending start; it switches on
        once ``now - since >= start_hold_s``; a reading below ``start_w`` cancels it. On:
        likewise with readings < ``stop_w`` and ``stop_hold_s``.
        """
        if not np.isfinite(surplus_w):
            raise InvalidProblemError(f"must be a finite number, got {surplus_w!r}",
                                      path="surplus_w", rule="finite")
        if state.last is not None and now < state.last:
            raise InvalidProblemError(
                f"time ran backwards: {now.isoformat()} is before {state.last.isoformat()}",
                path="now", rule="monotonic")
        wants_change = surplus_w < self.stop_w if state.on else surplus_w >= self.start_w
        if not wants_change:
            return SwitchState(state.on, None, now)
        since = state.since if state.since is not None else now
        hold = self.stop_hold_s if state.on else self.start_hold_s
        if (now - since).total_seconds() >= hold:
            return SwitchState(not state.on, None, now)
        return SwitchState(state.on, since, now)

    def run(
        self, times: Sequence[datetime], surplus_w: npt.ArrayLike,
        state: SwitchState | None = None,
    ) -> npt.NDArray[np.bool_]:
        """The decision after each reading of a series (``times`` ascending, ``surplus_w``
        [W] one per time), from ``state`` (default: off)."""
        values = np.asarray(surplus_w, dtype=np.float64).reshape(-1)
        if len(values) != len(times):
            raise InvalidProblemError(
                f"needs one surplus per time ({len(times)}), got {len(values)}",
                path="surplus_w", rule="per-step")
        st = state or SwitchState()
        out = np.zeros(len(values), dtype=bool)
        for k, (t, v) in enumerate(zip(times, values.tolist(), strict=True)):
            st = self.step(st, t, v)
            out[k] = st.on
        return out
