"""A problem compiled into numpy arrays, shared by the solver, the repair step and verify().

Private: the public view is :class:`smartcharge.optimizer.problem.Problem`.

Line currents are complex phasors per watt: ``coef[n]`` (members x 3 lines) maps the power
[W] of each EVSE below node ``n`` to the three line currents [A] that node's limit applies
to. :func:`node_rows` turns every node's limits into linear rows ``coef @ p <= rhs`` that are
an INNER approximation of the exact limits (a polygon inside each line's current circle), so
any ``p`` meeting the rows meets the exact limits.

With V2X sessions (negative power allowed), a node with a power limit gets a second row
bounding the exported power, and each line's polygon covers the opposite of every V2X
EVSE's phasor too, so the rows hold for signed net powers. Charging-only problems get
exactly the rows they had.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ComplexArray = npt.NDArray[np.complex128]
BoolArray = npt.NDArray[np.bool_]

_LINE = np.exp(1j * np.deg2rad(np.array([0.0, -120.0, 120.0])))
"""Unit phasors of the phase-to-neutral voltages of L1, L2, L3."""
_DELTA_WYE = np.array([[1, 0, -1], [-1, 1, 0], [0, -1, 1]], dtype=np.complex128)
_LINE_INDEX = {"L1": 0, "L2": 1, "L3": 2}


def evse_phasors(phases: int, connection: str | None, voltage_v: float) -> ComplexArray:
    """Line currents [A] per watt drawn by an EVSE (3 complex numbers, lines L1..L3)."""
    out = np.zeros(3, dtype=np.complex128)
    if phases == 3:
        return np.asarray(_LINE / (3.0 * voltage_v), dtype=np.complex128)
    conn = connection or "L1"
    if "-" not in conn:
        k = _LINE_INDEX[conn]
        out[k] = _LINE[k] / voltage_v
        return out
    a, b = (_LINE_INDEX[x] for x in conn.split("-"))
    vab = _LINE[a] - _LINE[b]  # line-to-line voltage phasor, |vab| = sqrt(3)
    i = vab / abs(vab) / (math.sqrt(3.0) * voltage_v)
    out[a] += i
    out[b] -= i
    return out


@dataclass(frozen=True)
class Rows:
    """Linear inner approximation of one node's limits: ``coef @ P[members, t] <= rhs[:, t]``.

    ``coef`` is (R, m) over the node's member EVSEs, ``rhs`` is (R, T) with ``inf`` where a
    row does not bind. ``forced`` (T,) marks steps where even zero EV power cannot meet the
    rows (the site load alone is too high): every EVSE below must then be off.
    """

    coef: FloatArray
    rhs: FloatArray
    forced: BoolArray


class Source(Protocol):
    """What the arrays are compiled from: a :class:`smartcharge.optimizer.problem.Problem`.

    Named here as a protocol so that this module does not import ``problem`` (which
    imports this module to compile and cache its arrays): the dependency runs one way.
    """

    @property
    def horizon(self) -> Any: ...
    @property
    def nodes(self) -> Sequence[Any]: ...
    @property
    def evses(self) -> Sequence[Any]: ...
    @property
    def sessions(self) -> Sequence[Any]: ...
    @property
    def tariff(self) -> Any: ...
    @property
    def constraints(self) -> Sequence[Any]: ...

    def series(self, value: Any, *, missing: float = math.inf) -> FloatArray:
        """A per-step float array of ``value`` (``None`` entries become ``missing``)."""
        ...


class Network:
    """Arrays of a :class:`~smartcharge.optimizer.problem.Problem` (see module docstring)."""

    def __init__(self, problem: Source) -> None:
        h = problem.horizon
        self.T = h.n_steps
        self.step_s = h.step_s
        self.dt_h = h.step_s / 3600.0
        self.start = h.start
        T = self.T

        # ---- nodes
        nodes = problem.nodes
        self.node_ids = tuple(x.id for x in nodes)
        self.N = len(nodes)
        index = {x.id: i for i, x in enumerate(nodes)}
        self.node_index = index
        self.parent = np.array(
            [-1 if x.parent is None else index[x.parent] for x in nodes], dtype=np.int64
        )
        depth = np.zeros(self.N, dtype=np.int64)
        for i in range(self.N):
            j = i
            while self.parent[j] >= 0:
                depth[i] += 1
                j = int(self.parent[j])
        self.root = int(np.flatnonzero(self.parent < 0)[0])
        # children before parents (post-order by depth, ties by declaration order)
        self.order = np.lexsort((np.arange(self.N), -depth))
        self.power_limit = np.stack([problem.series(x.max_power_w) for x in nodes])
        # export limit [W]: max_export_w, else the power limit (both ways, as before)
        self.export_limit = np.stack([
            problem.series(x.max_power_w if x.max_export_w is None else x.max_export_w)
            for x in nodes])
        # ramp limits [W per step] (inf: none) and the EV power before the horizon (nan)
        self.ramp_w = np.array([np.inf if x.max_ramp_w is None else x.max_ramp_w
                                for x in nodes], dtype=np.float64)
        self.initial_w = np.array([np.nan if x.initial_power_w is None else x.initial_power_w
                                   for x in nodes], dtype=np.float64)
        self.has_ramp = bool(np.isfinite(self.ramp_w).any())
        self.current_limit = np.stack([problem.series(x.max_current_a) for x in nodes])
        mats = []
        for x in nodes:
            m = np.eye(3, dtype=np.complex128)
            if x.coupling == "delta-wye":
                m = _DELTA_WYE / x.ratio
            mats.append(m)

        # ---- EVSEs
        ev = problem.evses
        self.evse_ids = tuple(x.id for x in ev)
        self.E = len(ev)
        eindex = {x.id: i for i, x in enumerate(ev)}
        self.evse_index = eindex
        self.evse_node = np.array([index[x.node] for x in ev], dtype=np.int64)
        self.evse_wpa = np.array([x.watts_per_amp for x in ev], dtype=np.float64)
        self.evse_max_w = np.array([x.max_w for x in ev], dtype=np.float64)
        self.evse_min_w = np.array([x.min_w for x in ev], dtype=np.float64)
        self.evse_phases = np.array([x.phases for x in ev], dtype=np.int64)
        raw = np.zeros((self.E, 3), dtype=np.complex128)
        kinds: dict[tuple[int, str | None, float], ComplexArray] = {}
        for i, evse in enumerate(ev):  # one phasor computation per kind of EVSE
            kind = (evse.phases, evse.connection, evse.voltage_v)
            got = kinds.get(kind)
            if got is None:
                got = kinds[kind] = evse_phasors(*kind)
            raw[i] = got
        self.evse_raw = raw

        # ---- sessions
        ss = problem.sessions
        self.session_ids = tuple(x.id for x in ss)
        self.S = len(ss)
        self.sess_evse = np.array([eindex[x.evse] for x in ss], dtype=np.int64)
        self.need_wh = np.array([x.energy_wh for x in ss], dtype=np.float64)
        self.priority = np.array([x.priority for x in ss], dtype=np.float64)
        # bounds: the EVSE's, the session's current and power (missing: nan, ignored)
        def opt(name: str) -> FloatArray:
            return np.array([np.nan if (v := getattr(x, name)) is None else v for x in ss],
                            dtype=np.float64)

        wpa = self.evse_wpa[self.sess_evse]
        smax = np.fmin(np.fmin(self.evse_max_w[self.sess_evse], opt("max_current_a") * wpa),
                       opt("max_power_w"))
        smin = np.fmax(np.fmax(self.evse_min_w[self.sess_evse], opt("min_current_a") * wpa),
                       opt("min_power_w"))
        self.sess_min_w = smin
        self._one_session_per_evse = len(np.unique(self.sess_evse)) == self.S
        # a vehicle whose minimum is above the EVSE's maximum cannot charge here at all
        self.sess_max_w = np.where(smin > smax, 0.0, smax)
        # V2X: discharge bound [W] (0: charging only) and the energy it may lend [Wh]
        dis = np.array([x.max_discharge_w for x in ss], dtype=np.float64)
        evse_cap = self.evse_max_w[self.sess_evse] if self.S else np.zeros(0)
        self.sess_dis_max_w = np.where(smin > smax, 0.0, np.minimum(dis, evse_cap))
        self.sess_floor_wh = np.array([x.discharge_floor_wh for x in ss], dtype=np.float64)
        self.sess_v2x = self.sess_dis_max_w > 0
        self.has_v2x = bool(self.sess_v2x.any())
        self.evse_v2x = np.zeros(self.E, dtype=bool)
        self.evse_v2x[self.sess_evse[self.sess_v2x]] = True
        t0 = _epoch(h.start)
        arr = np.array([_epoch(y.arrival) - t0 for y in ss], dtype=np.float64)
        dep = np.array([_epoch(y.departure) - t0 for y in ss], dtype=np.float64)
        edges = np.arange(T + 1, dtype=np.float64) * h.step_s
        lo_e = np.maximum(edges[None, :-1], arr[:, None])
        hi_e = np.minimum(edges[None, 1:], dep[:, None])
        self.frac = np.clip((hi_e - lo_e) / h.step_s, 0.0, 1.0).reshape(self.S, T)
        """Share (S, T) of each step during which the vehicle is plugged in."""

        # ---- tariff
        tf = problem.tariff
        self.price = problem.series(tf.price)  # currency/kWh
        self.co2 = problem.series(tf.co2_g_per_kwh, missing=0.0) if (
            tf.co2_g_per_kwh is not None
        ) else np.zeros(T)
        self.has_co2 = tf.co2_g_per_kwh is not None
        self.demand_charge = float(tf.demand_charge_per_kw or 0.0)
        self.base_w = problem.series(tf.site_load_w) if tf.site_load_w is not None else (
            np.zeros(T)
        )
        base_node = index[tf.site_load_node] if tf.site_load_node is not None else self.root
        self.base_node = base_node

        # ---- per-node members and phasor coefficients (children first)
        members: list[IntArray] = [np.zeros(0, dtype=np.int64)] * self.N
        coef: list[ComplexArray] = [np.zeros((0, 3), dtype=np.complex128)] * self.N
        base_coef: list[ComplexArray] = [np.zeros(3, dtype=np.complex128)] * self.N
        children: list[list[int]] = [[] for _ in range(self.N)]
        for i in range(self.N):
            if self.parent[i] >= 0:
                children[int(self.parent[i])].append(i)
        by_node = np.argsort(self.evse_node, kind="stable")  # each node's EVSEs, ascending
        first = np.searchsorted(self.evse_node[by_node], np.arange(self.N + 1))
        for n in self.order.tolist():
            direct = by_node[first[n]:first[n + 1]]
            idx = [direct] + [members[c] for c in children[n]]
            cf = [raw[direct]] + [coef[c] for c in children[n]]
            bc = sum((base_coef[c] for c in children[n]), np.zeros(3, dtype=np.complex128))
            if n == base_node:
                bc = bc + _LINE / (3.0 * nodes[n].voltage_v)
            all_idx = np.concatenate(idx)
            all_cf = np.concatenate(cf, axis=0)
            srt = np.argsort(all_idx, kind="stable")
            members[n] = all_idx[srt]
            coef[n] = all_cf[srt] @ mats[n].T
            base_coef[n] = mats[n] @ bc
        self.members = members
        self.coef = coef
        self.base_coef = base_coef
        self.base_under = [bool(np.any(base_coef[n] != 0)) for n in range(self.N)]
        self.n_tree = self.N
        """Nodes of the tree; the constraint sets follow as nodes without a parent."""
        for c in problem.constraints:
            self._add_constraint(problem, c)
        self.has_constraints = self.n_tree < self.N
        self._rows: dict[float, list[Rows]] = {}
        self._active: list[IntArray | None] | None = None
        self.ancestors_cache: list[tuple[tuple[bool, ...], list[list[tuple[int, int]]]]] = []
        """(which nodes have rows, ancestors) pairs of
        :func:`smartcharge.optimizer._repair.ancestors`."""

    def _add_constraint(self, problem: Source, c: Any) -> None:
        """A :class:`~smartcharge.optimizer.problem.CurrentConstraint` as one more node:
        its members are the EVSEs it names, its "line L1" current ``sum_e a_e I_e`` (per W:
        ``a_e`` times the EVSE's phasor on the first line of its connection), lines L2 and
        L3 empty, its limit ``max_current_a``; no parent, no power limit, no site load."""
        idx = np.array(sorted(self.evse_index[e] for e in c.coefficients), dtype=np.int64)
        cf = np.zeros((len(idx), 3), dtype=np.complex128)
        for j, e in enumerate(idx.tolist()):
            conn = problem.evses[e].connection or "L1"
            cf[j, 0] = c.coefficients[self.evse_ids[e]] * self.evse_raw[
                e, _LINE_INDEX[conn.split("-")[0]]]
        n = self.N
        self.N += 1
        self.node_ids = (*self.node_ids, c.id)
        self.node_index[c.id] = n
        self.parent = np.append(self.parent, -1)
        self.order = np.append(self.order, n)
        self.power_limit = np.vstack([self.power_limit, np.full(self.T, np.inf)])
        self.export_limit = np.vstack([self.export_limit, np.full(self.T, np.inf)])
        self.current_limit = np.vstack([self.current_limit, problem.series(c.max_current_a)])
        self.ramp_w = np.append(self.ramp_w, np.inf)
        self.initial_w = np.append(self.initial_w, np.nan)
        self.members.append(idx)
        self.coef.append(cf)
        self.base_coef.append(np.zeros(3, dtype=np.complex128))
        self.base_under.append(False)

    # ---- derived quantities ----------------------------------------------------------------

    def active_members(self, n: int) -> IntArray | None:
        """Positions in ``members[n]`` of the EVSEs with a session, or ``None`` when every
        member has one (cached). An EVSE without a session draws nothing, so a row's value
        over these columns is its value over all of them; a re-plan of a 54-EVSE site with
        20 cars computes its rows' values on 20 columns instead of 54."""
        if self._active is None:
            used = np.zeros(self.E, dtype=bool)
            used[self.sess_evse] = True
            act: list[IntArray | None] = []
            for m in self.members:
                k = np.flatnonzero(used[m])
                act.append(None if len(k) == len(m) else k)
            self._active = act
        return self._active[n]

    def evse_power(self, session_power: FloatArray) -> FloatArray:
        """Power (E, T) [W] per EVSE: the sum of its sessions' powers."""
        out = np.zeros((self.E, self.T))
        if self._one_session_per_evse:  # a plain scatter (+ 0.0: -0.0 becomes 0.0 too)
            out[self.sess_evse] = session_power + 0.0
        else:
            np.add.at(out, self.sess_evse, session_power)
        return out

    def line_currents(self, n: int, evse_power: FloatArray) -> ComplexArray:
        """Line current phasors (3, T) [A] of node ``n``, site load included."""
        # einsum, not @: small products, see smartcharge.optimizer._repair._row_values
        cur = np.einsum("mk,mt->kt", self.coef[n], evse_power[self.members[n]])
        if self.base_under[n]:
            cur = cur + self.base_coef[n][:, None] * self.base_w[None, :]
        return np.asarray(cur, dtype=np.complex128)

    def node_power(self, n: int, evse_power: FloatArray) -> FloatArray:
        """Real power (T,) [W] through node ``n``, site load included."""
        p = evse_power[self.members[n]].sum(axis=0)
        if self.base_under[n]:
            p = p + self.base_w
        return np.asarray(p, dtype=np.float64)

    def rows(self, max_chord_deg: float = 10.0) -> list[Rows]:
        """Every node's limits as linear rows (an inner approximation), cached.

        Nodes with the same limits, site load and member phasors (e.g. thousands of
        identical feeders) get the same rows: they are computed once and copied.
        """
        got = self._rows.get(max_chord_deg)
        if got is None:
            seen: dict[tuple[bytes, ...], Rows] = {}
            got = []
            for n in range(self.N):
                key = self._rows_key(n)
                r = seen.get(key)
                if r is None:
                    r = seen[key] = self._node_rows(n, max_chord_deg)
                    got.append(r)
                else:
                    got.append(Rows(r.coef.copy(), r.rhs.copy(), r.forced.copy()))
            self._rows[max_chord_deg] = got
        return got

    def _rows_key(self, n: int) -> tuple[bytes, ...]:
        """Everything :meth:`_node_rows` reads of node ``n``."""
        base = self.base_w if self.base_under[n] else np.zeros(0)
        return (self.coef[n].tobytes(), np.asarray(self.base_coef[n]).tobytes(), base.tobytes(),
                self.power_limit[n].tobytes(), self.export_limit[n].tobytes(),
                self.current_limit[n].tobytes(), self.evse_v2x[self.members[n]].tobytes())

    def _node_rows(self, n: int, max_chord_deg: float) -> Rows:
        m = len(self.members[n])
        base = self.base_w if self.base_under[n] else np.zeros(self.T)
        coefs: list[FloatArray] = []  # blocks of rows (k x m) and their right-hand sides
        rhss: list[FloatArray] = []
        v2x = self.evse_v2x[self.members[n]]
        if np.any(np.isfinite(self.power_limit[n])):
            coefs.append(np.ones((1, m)))
            rhss.append((self.power_limit[n] - base)[None, :])
        if v2x.any() and np.any(np.isfinite(self.export_limit[n])):
            coefs.append(-np.ones((1, m)))  # V2X: the exported power
            rhss.append((self.export_limit[n] + base)[None, :])
        limit = self.current_limit[n]
        if np.any(np.isfinite(limit)):
            for k in range(3):
                c = self.coef[n][:, k]
                b = self.base_coef[n][k]
                # a discharging EVSE's current flows the other way: its phasor's opposite
                # joins the cone the polygon must cover
                cone = np.concatenate([c, -c[v2x]]) if v2x.any() else c
                chords = _chords(cone, b if self.base_under[n] else 0j, max_chord_deg)
                if not chords:
                    continue
                psi = np.array([x[0] for x in chords])
                cos_half = np.array([x[1] for x in chords])
                rot = np.exp(-1j * psi)
                coefs.append((c[None, :] * rot[:, None]).real)
                rhss.append(limit[None, :] * cos_half[:, None]
                            - (b * rot).real[:, None] * base[None, :])
        if not coefs:
            return Rows(np.zeros((0, m)), np.zeros((0, self.T)), np.zeros(self.T, dtype=bool))
        coef = np.concatenate(coefs)
        rhs = np.concatenate(rhss)
        # one row per distinct (coefficients, right-hand side), first occurrence kept
        ck = np.round(coef, 12)
        rk = np.round(rhs, 9)
        seen: set[tuple[bytes, bytes]] = set()
        keep: list[int] = []
        for i in range(len(coef)):
            key = (ck[i].tobytes(), rk[i].tobytes())
            if key not in seen:
                seen.add(key)
                keep.append(i)
        if len(keep) < len(coef):
            coef, rhs = coef[keep], rhs[keep]
        rhs = np.where(np.isnan(rhs), np.inf, rhs)
        forced = np.any(rhs < 0, axis=0)
        return Rows(np.ascontiguousarray(coef), np.ascontiguousarray(rhs), forced)


def _chords(c: ComplexArray, b: complex, max_chord_deg: float) -> list[tuple[float, float]]:
    """Directions ``psi`` and ``cos(half-angle)`` of an inner polygon of a current circle.

    All contributions are non-negative multiples of the phasors ``c`` (and ``b``), so the
    line current lies in the cone they span. Within that cone, the polygon whose vertices
    lie on the circle at evenly spaced angles (at most ``max_chord_deg`` apart) is inside
    the circle; each chord gives one row ``Re(I e^{-j psi}) <= L cos(half)``. When the cone
    is 180 degrees or wider, a full inscribed regular polygon is used.
    """
    pts = np.concatenate([c[np.abs(c) > 1e-15], [b] if abs(b) > 1e-15 else []])
    if len(pts) == 0:
        return []
    ang = np.sort(np.mod(np.angle(pts), 2 * np.pi))
    ang = np.unique(np.round(ang, 12))
    step = math.radians(max_chord_deg)
    if len(ang) == 1:
        return [(float(ang[0]), 1.0)]
    gaps = np.diff(np.concatenate([ang, [ang[0] + 2 * np.pi]]))
    g = int(np.argmax(gaps))
    width = 2 * np.pi - float(gaps[g])
    if width >= np.pi - 1e-9:
        k = max(3, math.ceil(2 * np.pi / step))
        half = np.pi / k
        return [(2 * np.pi * j / k, math.cos(half)) for j in range(k)]
    start = float(ang[(g + 1) % len(ang)])
    pieces = max(1, math.ceil(width / step - 1e-9))
    half = width / (2 * pieces)
    return [(start + (2 * j + 1) * half, math.cos(half)) for j in range(pieces)]


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _epoch(t: object) -> float:
    assert isinstance(t, datetime)
    return (t - _EPOCH).total_seconds()
