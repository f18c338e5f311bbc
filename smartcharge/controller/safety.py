"""Safety at every instant: the worst case over every state the stations may be in.

While requests are in flight a station may hold the old or the new profile; a station that
timed out may have applied a request or not; an offline station runs on what it holds; and
at any instant a car may leave and another arrive, drawing the fallback TxDefaultProfile
until the CSMS hears of it. So the most an EVSE may draw in a step is

``worst = min(EVSE max, max(fallback, acknowledged TxProfile, every unsettled TxProfile))``

(the maximum over all combinations of accepted / not-yet-accepted requests, since each
EVSE's draw depends only on its own profile). :func:`worst_case` computes it per EVSE and
step [A per phase] and :func:`violations` checks it **exactly** with
:func:`smartcharge.optimizer.verify` (phasor line currents, every node);
:class:`WorstCaseCheck` makes the same decision, node by node with verify's own arithmetic
and tolerances, without building a Plan, and only on the nodes a change can reach. The
controller sends a request only if adding its envelope to the worst case keeps every limit
(:func:`admit`);
a pure decrease never raises the worst case, so it always goes at once.

Clock skew: the worst case is per step of the *plan's* envelopes, while a station applies
what was sent on its own clock, off by up to ``s = clock_skew_s``. What it may apply around
true time ``t`` is the dilation of the sent profile, ``max over |d| <= s of sent(t + d)``;
the sent profile is the plan eroded by ``s`` (:func:`smartcharge.controller.messages.
eroded_periods`: ``sent(t) = min over |u| <= s of plan(t + u)``), and for steps longer than
``2 s`` the dilation of the erosion is the plan itself (every plateau keeps a core of at
least one instant). So the per-step envelopes counted here are exactly what a skewed
station may apply, and no combination of skews breaks a limit this check keeps.

Assumptions (documented in docs/how-to/controller.md): stations are commissioned with the
fallback TxDefaultProfiles (the controller re-sends them at every connection); a station
applies requests in the order they were sent (OCPP-J: one CALL at a time); its clock is off
by at most ``clock_skew_s``; an EVSE draws as its wiring says, except that a car measured
on one line of a three-phase EVSE (:func:`measured_lines`) is counted on that line only
until a reading shows it on more (a car that switches to three phases is counted on one
until the next reading reports it, or its station is back online).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone

import numpy as np
import numpy.typing as npt

from smartcharge.controller.site import ControllerConfig, Site
from smartcharge.controller.state import (
    ControllerState,
    Envelope,
    GridLimitState,
    on_grid_many,
)
from smartcharge.ocpp.fallback import fallback_currents
from smartcharge.optimizer import (
    EVSE,
    Horizon,
    Node,
    Plan,
    Problem,
    Session,
    Violation,
    verify,
)

__all__ = [
    "EPOCH",
    "WorstCaseCheck",
    "admit",
    "capped_power",
    "envelope_problem",
    "evses_on_lines",
    "fallback_a",
    "horizon_at",
    "limited_nodes",
    "measured_lines",
    "violations",
    "worst_case",
]

FloatArray = npt.NDArray[np.float64]
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NODE_KINDS = frozenset({"node_power", "node_current"})
_HUGE_WH = 1e15


def horizon_at(config: ControllerConfig, now: datetime) -> Horizon:
    """The planning grid at ``now``: ``config.n_steps`` steps from the step boundary at or
    before ``now`` (boundaries at multiples of ``step_s`` since the epoch)."""
    secs = math.floor((now - EPOCH).total_seconds())
    start = EPOCH + timedelta(seconds=secs - secs % config.step_s)
    return Horizon(start=start, step_s=config.step_s, n_steps=config.n_steps)


def fallback_a(site: Site, config: ControllerConfig) -> dict[str, float]:
    """The fallback current [A per phase] of every EVSE key (safe with all drawing it);
    all 0 when ``config.fallback_share_a`` is 0 (no fallback: see
    :class:`~smartcharge.controller.site.ControllerConfig`)."""
    if config.fallback_share_a == 0:
        return dict.fromkeys(site.keys, 0.0)
    h = Horizon(start=EPOCH, step_s=config.step_s, n_steps=1)
    problem = Problem(horizon=h, nodes=site.nodes, evses=site.optimizer_evses())
    return fallback_currents(problem, share_a=config.fallback_share_a)


def _step_mask(h: Horizon, g: GridLimitState) -> npt.NDArray[np.bool_]:
    """The steps of ``h`` that the window ``[g.start, g.end)`` touches."""
    starts = np.arange(h.n_steps, dtype=np.float64) * h.step_s  # [s] from h.start
    begin = (g.start - h.start).total_seconds()
    end = (g.end - h.start).total_seconds()
    return np.asarray((starts < end) & (starts + h.step_s > begin), dtype=bool)


def limited_nodes(site: Site, grid_limits: Sequence[GridLimitState], h: Horizon,
                  reserve_w: Mapping[str, FloatArray] | None = None,
                  reserve_a: Mapping[str, FloatArray] | None = None) -> tuple[Node, ...]:
    """The site's nodes with the grid limits that touch each step (the lowest wins), less a
    reserve per node [W] / [A per line] (for loads the plan does not control)."""
    out = []
    for node in site.nodes:
        lims: dict[str, FloatArray] = {}
        for name in ("max_power_w", "max_current_a"):
            base = getattr(node, name)
            lims[name] = np.full(h.n_steps, math.inf if base is None else float(base))
        for g in grid_limits:
            if g.node != node.id:
                continue
            mask = _step_mask(h, g)
            for name in ("max_power_w", "max_current_a"):
                v = getattr(g, name)
                if v is not None:
                    lims[name] = np.where(mask, np.minimum(lims[name], v), lims[name])
        res = {"max_power_w": (reserve_w or {}).get(node.id),
               "max_current_a": (reserve_a or {}).get(node.id)}
        fields: dict[str, object] = {}
        for name, arr in lims.items():
            r = res[name]
            if r is not None:
                arr = np.maximum(arr - r, 0.0)
            if np.all(np.isinf(arr)):
                fields[name] = None
            elif np.all(arr == arr[0]):
                fields[name] = float(arr[0])
            else:
                fields[name] = tuple(None if math.isinf(v) else float(v) for v in arr)
        out.append(node.model_copy(update=fields))
    return tuple(out)


def measured_lines(site: Site, state: ControllerState,
                   fallback: Mapping[str, float]) -> dict[str, str]:
    """EVSE key -> the line its car is counted on alone (``"L1"``...): a three-phase EVSE
    whose running transaction's car was last measured on one line
    (:attr:`~smartcharge.controller.state.EvseState.single_line`) and whose fallback is
    0 (its worst case is then this car's TxProfiles only, which end with its transaction; a
    fallback is for any car, so an EVSE with one stays counted as wired). Also while its
    station is offline: the car it measured is the one that holds the TxProfile (counting
    it as wired when the link drops would break limits the others' raises were admitted
    under)."""
    out: dict[str, str] = {}
    for key, ev in state.evses.items():
        if ev.single_line is not None and ev.transaction_id is not None \
                and fallback.get(key) == 0:
            out[key] = ev.single_line
    return out


def evses_on_lines(site: Site, lines: Mapping[str, str]) -> tuple[EVSE, ...]:
    """The site's optimizer EVSEs, those in ``lines`` single-phase on their line."""
    return tuple(
        e.model_copy(update={"phases": 1, "connection": lines[e.id]}) if e.id in lines else e
        for e in site.optimizer_evses())


def envelope_problem(site: Site, state: ControllerState, h: Horizon,
                     lines: Mapping[str, str] | None = None) -> Problem:
    """The site on ``h`` with one always-plugged session per EVSE (``"w:<key>"``), on which
    a worst-case power array is checked; the EVSEs in ``lines`` (:func:`measured_lines`)
    single-phase on their line."""
    evses = evses_on_lines(site, lines or {})
    sessions = tuple(
        Session(id=f"w:{e.id}", evse=e.id, arrival=h.start, departure=h.end,
                energy_wh=_HUGE_WH) for e in evses)
    return Problem(horizon=h, nodes=limited_nodes(site, state.grid_limits, h), evses=evses,
                   sessions=sessions)


def worst_case(site: Site, state: ControllerState, h: Horizon, fallback: Mapping[str, float],
               extra: Mapping[str, Envelope] | None = None) -> FloatArray:
    """(n_evse, n_steps) the most each EVSE (site order) may draw [A per phase], with the
    ``extra`` envelopes counted as sent (see the module docstring)."""
    keys = site.keys
    index = {k: i for i, k in enumerate(keys)}
    fb = np.array([fallback[k] for k in keys], dtype=np.float64)
    acked = [None if (ev := state.evses.get(k)) is None else ev.acked for k in keys]
    # fmax: NaN (not covered) leaves the other value; max is exact, so order is irrelevant
    out = np.fmax(np.broadcast_to(fb[:, None], (len(keys), h.n_steps)),
                  on_grid_many(acked, h.start, h.n_steps))
    rows: list[int] = []
    envs: list[Envelope | None] = []
    for p in state.pending:
        if p.kind == "tx" and p.envelope is not None:
            rows.append(index[site.evse_key(p.station_id, p.evse_id)])
            envs.append(p.envelope)
    for key, env in (extra or {}).items():
        rows.append(index[key])
        envs.append(env)
    if rows:
        np.fmax.at(out, np.asarray(rows), on_grid_many(envs, h.start, h.n_steps))
    return np.asarray(out, dtype=np.float64)


def capped_power(problem: Problem, worst_a: FloatArray) -> FloatArray:
    """(n_evse, n_steps) power [W] of currents [A per phase], each EVSE capped at its max."""
    net = problem.network()
    wpa: FloatArray = net.evse_wpa
    cap: FloatArray = net.evse_max_w
    return np.asarray(np.minimum(worst_a * wpa[:, None], cap[:, None]), dtype=np.float64)


def violations(problem: Problem, worst_a: FloatArray) -> list[Violation]:
    """Every node power or line-current limit the worst case breaks (exact, by
    :func:`smartcharge.optimizer.verify`; EVSEs capped at their own maximum)."""
    plan = Plan.from_session_power(problem, capped_power(problem, worst_a))
    return [v for v in verify(problem, plan) if v.kind in _NODE_KINDS]


class WorstCaseCheck:
    """The worst-case check of one grid, set up once: which nodes a worst case breaks.

    The decision is :func:`violations`' exactly (same node power and line-current phasor
    arithmetic as :func:`smartcharge.optimizer.verify`, same ``rtol`` / ``atol``, a node
    breaking only where EVs are on or make it worse than the site load alone), but without
    building a :class:`~smartcharge.optimizer.Plan` nor checking the sessions, and per node:
    a change of some EVSEs is checked only on the nodes above them.

    Parameters
    ----------
    problem
        The site on the grid (:func:`envelope_problem`).
    """

    def __init__(self, problem: Problem, *, rtol: float = 1e-9, atol: float = 1e-6) -> None:
        net = problem.network()
        self.problem = problem
        self._net = net
        self._rtol, self._atol = rtol, atol
        zero = np.zeros((net.E, net.T))
        self._power = [bool(np.any(np.isfinite(net.power_limit[n]))) for n in range(net.N)]
        self._current = [bool(np.any(np.isfinite(net.current_limit[n])))
                         for n in range(net.N)]
        self._zero_p = [net.node_power(n, zero) + atol for n in range(net.N)]
        self._zero_i = [np.abs(net.line_currents(n, zero)) + atol for n in range(net.N)]
        # the thresholds of verify, computed once (the same values as at every check)
        self._plim = [net.power_limit[n] * (1 + rtol) + atol for n in range(net.N)]
        self._ilim = [net.current_limit[n][None, :] * (1 + rtol) + atol for n in range(net.N)]
        self._first = -1  # the node that broke last: checked first by breaks()
        above: list[list[int]] = [[] for _ in range(net.E)]
        for n in range(net.N):
            if self._power[n] or self._current[n]:
                for e in np.asarray(net.members[n]).tolist():
                    above[int(e)].append(n)
        self._above = above
        self.all_nodes: tuple[int, ...] = tuple(
            n for n in range(net.N) if self._power[n] or self._current[n])

    def nodes_above(self, rows: Sequence[int]) -> tuple[int, ...]:
        """The limited nodes (indices, ascending) above the EVSEs in ``rows``."""
        return tuple(sorted({n for r in rows for n in self._above[r]}))

    def power(self, worst_a: FloatArray) -> FloatArray:
        """(n_evse, n_steps) power [W] of the worst case (:func:`capped_power`; a value that
        is not a number counts 0, as in ``verify``)."""
        ep = capped_power(self.problem, worst_a)
        return np.where(np.isfinite(ep), ep, 0.0)

    def raised_power(self, power_w: FloatArray, worst_a: FloatArray,
                     rows: Sequence[int]) -> FloatArray:
        """``power_w`` (:meth:`power` of some worst case) with the ``rows`` recomputed from
        ``worst_a`` (element by element as :meth:`power`, so the same numbers)."""
        idx = np.asarray(rows, dtype=np.int64)
        net = self._net
        got = np.minimum(worst_a[idx] * net.evse_wpa[idx, None], net.evse_max_w[idx, None])
        out: FloatArray = power_w.copy()
        out[idx] = np.where(np.isfinite(got), got, 0.0)
        return out

    def broken(self, worst_a: FloatArray, nodes: Sequence[int] | None = None) -> list[int]:
        """The nodes (of ``nodes``, default every limited node) whose power or line-current
        limit the worst case breaks at some step."""
        return self.broken_power(self.power(worst_a), nodes)

    def broken_power(self, ep: FloatArray, nodes: Sequence[int] | None = None) -> list[int]:
        """:meth:`broken` of the worst case whose :meth:`power` [W] is ``ep``."""
        return [n for n in (self.all_nodes if nodes is None else nodes)
                if self._node_broken(n, ep)]

    def breaks(self, ep: FloatArray, nodes: Sequence[int]) -> bool:
        """Whether :meth:`broken_power` of ``ep`` on ``nodes`` is not empty; it stops at the
        first broken node (the one that broke last is tried first: the same answer)."""
        first = self._first
        if first in nodes and self._node_broken(first, ep):
            return True
        for n in nodes:
            if n != first and self._node_broken(n, ep):
                self._first = n
                return True
        return False

    def _node_broken(self, n: int, ep: FloatArray) -> bool:
        """Whether node ``n`` breaks its power or line-current limit at some step under
        ``ep``: :meth:`Network.node_power` and :meth:`Network.line_currents`' arithmetic
        on one copy of the node's rows (the same numbers), verify's tolerances."""
        net, atol = self._net, self._atol
        members = net.members[n]
        sub = ep[members]
        total = sub.sum(axis=0)
        ev_on = total > atol if len(members) else np.zeros(net.T, bool)
        if self._power[n]:
            pw = total + net.base_w if net.base_under[n] else total
            worse = ev_on | (pw > self._zero_p[n])
            if np.any((pw > self._plim[n]) & worse):
                return True
        if self._current[n]:
            # einsum, as Network.line_currents (the same sums, bit for bit)
            cur = np.einsum("mk,mt->kt", net.coef[n], sub)
            if net.base_under[n]:
                cur = cur + net.base_coef[n][:, None] * net.base_w[None, :]
            mag = np.abs(cur)
            worse_k = ev_on[None, :] | (mag > self._zero_i[n])
            if np.any((mag > self._ilim[n]) & worse_k):
                return True
        return False


def admit(check: WorstCaseCheck, worst_a: FloatArray,
          candidates: Sequence[tuple[int, FloatArray]],
          broken: Sequence[int] | None = None) -> list[int]:
    """The candidates (EVSE row, envelope on the grid) that can be sent, in order: each is
    admitted if, with the worst case raised by it and by every candidate admitted before
    it, no limit breaks. Bisection: a whole run that fits is admitted with one check, and a
    check looks only at the nodes above the run's EVSEs (the others keep their state: a
    node already broken refuses every increase, as :func:`violations` on the whole site
    would). ``broken``: ``check.broken(worst_a)`` if already known."""
    admitted: list[int] = []
    base = worst_a.copy()
    if not candidates:
        return admitted
    base_w = check.power(base)
    broken_before = set(check.broken_power(base_w) if broken is None else broken)

    def raised(items: Sequence[tuple[int, FloatArray]]) -> FloatArray:
        w: FloatArray = np.array(base, dtype=np.float64)
        for row, env in items:
            w[row] = np.fmax(w[row], env)
        return w

    def go(items: Sequence[tuple[int, FloatArray]]) -> None:
        nonlocal base, base_w, broken_before
        if not items:
            return
        w = raised(items)
        rows = [row for row, _ in items]
        nodes = check.nodes_above(rows)
        ep = None if broken_before - set(nodes) else check.raised_power(base_w, w, rows)
        if ep is not None and not check.breaks(ep, nodes):
            base, base_w = w, ep
            broken_before = set()
            for row, _ in items:
                admitted.append(row)
            return
        if len(items) == 1:
            return
        mid = len(items) // 2
        go(items[:mid])
        go(items[mid:])

    go(list(candidates))
    return admitted
