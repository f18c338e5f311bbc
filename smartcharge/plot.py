"""Pictures of composite schedules and site plans (optional extra ``smartcharge[plot]``).

matplotlib is imported lazily, inside the functions, so ``import smartcharge.plot`` works
without it; asking for a picture without matplotlib raises :class:`PlotUnavailableError`
(both a :class:`~smartcharge.errors.SmartChargeError` and an ``ImportError``) naming the
extra to install. Figures are drawn on the non-interactive Agg canvas and returned, never
shown: save them with ``fig.savefig("site.png")``.

- :func:`plot_composite`: a composite schedule as a bold step line over the profiles that
  contribute to it, each drawn as its own thin step line ("why is this EVSE at 6 A?").
- :func:`plot_site_load`: per-EVSE power stacked under the node limits, with the price on a
  second axis; :func:`plot_plan` draws an optimizer :class:`~smartcharge.optimizer.Plan` so.
- :func:`plot_simulation`: a simulation's result (:func:`smartcharge.sim.simulate`): what the
  stations allowed, what the EVSEs signalled and what the cars really drew, over the root's
  limit, with the steps where a limit was broken marked.

Times are int epoch seconds [s, UTC] or aware datetimes; plots label them in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from smartcharge.errors import PlotUnavailableError, ScheduleError
from smartcharge.expand import expand_profile
from smartcharge.model import ChargingProfile, CompositeSchedule
from smartcharge.schedule import epoch_seconds

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from smartcharge.optimizer import Plan

__all__ = [
    "PlotUnavailableError",
    "plot_composite",
    "plot_plan",
    "plot_simulation",
    "plot_site_load",
]

FloatArray = npt.NDArray[np.float64]

_INSTALL_HINT = 'install the plot extra: pip install "smartcharge[plot]"'




def _new_figure(width: float, height: float) -> Figure:
    """A Figure on its own Agg canvas (no pyplot, no global state)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - exercised with matplotlib hidden
        raise PlotUnavailableError(
            f"plots need matplotlib: {_INSTALL_HINT}", rule="extra:plot"
        ) from exc
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _to_datetime64(seconds: npt.NDArray[np.int64]) -> npt.NDArray[np.datetime64]:
    return np.asarray(seconds, dtype=np.int64).astype("datetime64[s]")


def _format_time_axis(ax: Axes, span: int) -> None:
    import matplotlib.dates as mdates

    fmt = "%H:%M" if span <= 2 * 86_400 else "%m-%d %H:%M"
    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt))  # type: ignore[no-untyped-call]
    ax.set_xlabel("time [UTC]")


def _step(ax: Axes, edges: npt.NDArray[np.int64], values: FloatArray, **kw: Any) -> None:
    """Draw ``values`` on ``[edges[i], edges[i+1])`` as a post-step line."""
    if values.size == 0:
        return
    y = np.append(values, values[-1])
    ax.step(_to_datetime64(edges), y, where="post", **kw)


def _profile_label(evse: int, p: ChargingProfile) -> str:
    return (
        f"EVSE {evse} #{p.id} {p.charging_profile_purpose.value} "
        f"L{p.stack_level} [{p.charging_schedule[0].charging_rate_unit.value}]"
    )


def plot_composite(
    composite: CompositeSchedule,
    installed: Mapping[int, Sequence[ChargingProfile]] | None = None,
    *,
    transactions: Mapping[int, tuple[str, datetime]] | None = None,
    supply_voltage: float = 230.0,
    default_number_phases: int = 3,
    title: str | None = None,
) -> Figure:
    """A composite schedule as a step plot over the profiles it is made of.

    Parameters
    ----------
    composite
        The result of :func:`smartcharge.composite.composite_schedule`.
    installed
        The installed profiles per EVSE id, as given to ``composite_schedule``. The
        profiles of ``composite.evse_id`` and of EVSE 0 are drawn as thin lines, each
        converted to the composite's unit (with its periods' ``numberPhases`` or
        ``default_number_phases`` and ``supply_voltage`` [V]).
    transactions
        Running transactions (EVSE id -> (transactionId, start)); anchors Relative profiles.
    supply_voltage
        Phase-to-neutral voltage [V] for A <-> W.
    default_number_phases
        Phases used where a period has no ``numberPhases``.
    title
        Figure title; default names the EVSE and the window.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: limit in the composite's unit against UTC time.

    Raises
    ------
    PlotUnavailableError
        matplotlib is not installed.
    """
    fig = _new_figure(9.0, 4.2)
    ax = fig.add_subplot()
    t0 = epoch_seconds(composite.schedule_start)
    t1 = t0 + max(int(composite.duration), 1)
    unit = composite.charging_rate_unit
    periods = composite.charging_schedule_period
    starts = np.array([p.start_period for p in periods], dtype=np.int64) + t0
    edges = np.append(starts, t1)
    values = np.array([p.limit for p in periods], dtype=np.float64)
    # the result underneath, wide and pale, so the profile lines on top stay visible
    _step(ax, edges, values, color="black", alpha=0.35, linewidth=6.0, zorder=1,
          label="composite schedule")
    evse = composite.evse_id
    txs = transactions or {}
    if installed:
        keys = [evse] if evse == 0 else [evse, 0]
        for key in keys:
            tx = txs.get(key)
            for p in sorted(installed.get(key, ()), key=lambda q: (q.stack_level, q.id)):
                s = expand_profile(p, t0, t1, transaction_start=None if tx is None else tx[1])
                if len(s) == 0 or bool(np.all(np.isnan(s.values))):
                    continue
                s = s.to_unit(
                    unit, voltage=supply_voltage, default_phases=default_number_phases
                )
                _step(ax, s.edges, s.values, linewidth=1.6, zorder=2,
                      linestyle="--", label=_profile_label(key, p))
    ax.set_ylabel(f"limit [{unit.value}]")
    ax.set_ylim(bottom=0)
    ax.set_xlim(_to_datetime64(np.array([t0]))[0], _to_datetime64(np.array([t1]))[0])
    _format_time_axis(ax, t1 - t0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    start_text = composite.schedule_start.strftime("%Y-%m-%d %H:%M")
    ax.set_title(title or f"Composite schedule of EVSE {evse} from {start_text} UTC")
    return fig


def _check_series(name: str, values: object, n: int) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ScheduleError(
            f"{name} needs one value per step ({n}), got shape {arr.shape}",
            path=name,
            rule="length",
        )
    if not np.all(np.isfinite(arr)):
        raise ScheduleError(f"{name} must be finite", path=name, rule="finite")
    return arr


def plot_site_load(
    edges: Sequence[int] | Sequence[datetime] | npt.NDArray[np.int64],
    power: npt.ArrayLike,
    *,
    limits: Mapping[str, npt.ArrayLike] | None = None,
    price: npt.ArrayLike | None = None,
    labels: Sequence[str] | None = None,
    base: npt.ArrayLike | None = None,
    base_label: str = "other site load",
    price_label: str = "price [per kWh]",
    title: str | None = None,
) -> Figure:
    """Per-EVSE power stacked under the node limits, with the price on a second axis.

    Parameters
    ----------
    edges
        The ``T + 1`` step boundaries [epoch s or aware datetimes], strictly increasing.
    power
        Power of each EVSE in each step, shape ``(n_evse, T)`` [kW], >= 0.
    limits
        Node name -> its limit [kW] per step (shape ``(T,)``) or a constant; drawn as dashed
        step lines over the stack.
    price
        Energy price per step (shape ``(T,)``), drawn on the right axis.
    labels
        One name per EVSE for the legend (shown for up to 12 EVSEs).
    base
        Inflexible load [kW] per step (or a constant), drawn in grey under the EVSEs.
    base_label
        Its legend entry.
    price_label
        Label of the right axis.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ScheduleError
        Arrays of the wrong shape, non-finite or negative power.
    PlotUnavailableError
        matplotlib is not installed.
    """
    e = np.array([epoch_seconds(t) for t in edges], dtype=np.int64)
    if e.size < 2 or np.any(np.diff(e) <= 0):
        raise ScheduleError(
            "edges must hold at least 2 strictly increasing times", path="edges", rule="increasing"
        )
    n_t = e.size - 1
    p = np.asarray(power, dtype=np.float64)
    if p.ndim == 1:
        p = p.reshape(1, -1)
    if p.ndim != 2 or p.shape[1] != n_t:
        raise ScheduleError(
            f"power must have shape (n_evse, {n_t}), got {np.shape(power)}",
            path="power",
            rule="shape",
        )
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ScheduleError("power must be finite and >= 0", path="power", rule="finite>=0")
    if labels is not None and len(labels) != p.shape[0]:
        raise ScheduleError(
            f"need one label per EVSE ({p.shape[0]}), got {len(labels)}",
            path="labels",
            rule="length",
        )
    lims = {name: _check_series(f"limits.{name}", v, n_t) for name, v in (limits or {}).items()}
    pr = None if price is None else _check_series("price", price, n_t)
    b = None if base is None else _check_series("base", base, n_t)
    if b is not None and np.any(b < 0):
        raise ScheduleError("base must be >= 0", path="base", rule="finite>=0")

    fig = _new_figure(10.0, 4.8)
    ax = fig.add_subplot()
    x = _to_datetime64(e)
    cum = np.zeros(n_t + 1)
    if b is not None:
        cum = np.append(b, b[-1])
        ax.fill_between(x, 0.0, cum, step="post", color="0.75", linewidth=0, label=base_label)
    import matplotlib as mpl

    cmap = mpl.colormaps["viridis"]
    n = p.shape[0]
    show_each = n <= 12
    for i in range(n):
        top = cum + np.append(p[i], p[i, -1])
        label = (labels[i] if labels is not None else f"EVSE {i}") if show_each else None
        ax.fill_between(x, cum, top, step="post", color=cmap(i / max(n - 1, 1)),
                        alpha=0.85, linewidth=0, label=label)
        cum = top
    if not show_each:
        what = f"{n} EVSEs stacked" + ("" if b is None else " on the other load")
        ax.step(x, cum, where="post", color="tab:blue", linewidth=1.4, label=f"total: {what}")
    styles = ["-", "--", "-.", ":"]
    for k, (name, v) in enumerate(lims.items()):
        _step(ax, e, v, color="tab:red", linestyle=styles[k % len(styles)], linewidth=2.0,
              label=f"limit: {name}")
    ax.set_ylabel("power [kW]")
    tops = [float(cum.max()), *(float(v.max()) for v in lims.values())]
    ax.set_ylim(0.0, max(max(tops) * 1.08, 1e-3))
    ax.set_xlim(x[0], x[-1])
    _format_time_axis(ax, int(e[-1] - e[0]))
    ax.grid(True, alpha=0.3)
    handles, names = ax.get_legend_handles_labels()
    if pr is not None:
        ax2 = ax.twinx()
        _step(ax2, e, pr, color="tab:orange", linewidth=1.6, label="price")
        ax2.set_ylabel(price_label)
        ax2.set_ylim(bottom=0, top=float(pr.max()) * 1.25 if pr.max() > 0 else 1.0)
        h2, n2 = ax2.get_legend_handles_labels()
        handles, names = handles + h2, names + n2
    ax.legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, -0.14),
              ncol=min(len(names), 4), fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    return fig


def plot_plan(plan: Plan, *, title: str | None = None) -> Figure:
    """An optimizer plan: per-EVSE power stacked over the site load, under the root limit.

    Parameters
    ----------
    plan
        A :class:`~smartcharge.optimizer.Plan` (from ``optimize`` or a baseline).
    title
        Figure title; default: the plan's one-line summary of energy, cost and peak.

    Returns
    -------
    matplotlib.figure.Figure
        Power [kW] against UTC time; the root node's power limit (where it has one), the
        tariff's inflexible site load (grey) and the price (right axis).
    """
    problem = plan.problem
    h = problem.horizon
    start = epoch_seconds(h.start)
    edges = start + h.step_s * np.arange(h.n_steps + 1, dtype=np.int64)
    root = next(node for node in problem.nodes if node.parent is None)
    limits: dict[str, FloatArray] = {}
    root_w = problem.series(root.max_power_w)
    if np.all(np.isfinite(root_w)):
        limits[root.id] = root_w / 1000.0
    site = problem.tariff.site_load_w
    base = None if site is None else problem.series(site) / 1000.0
    price = problem.series(problem.tariff.price)
    if title is None:
        title = (
            f"{plan.share_delivered:.1%} of {plan.energy_needed_wh / 1000:.0f} kWh delivered, "
            f"cost {plan.cost:.2f}, peak {plan.peak_w / 1000:.1f} kW"
        )
    return plot_site_load(
        edges, np.asarray(plan.power_w) / 1000.0, limits=limits, price=price,
        labels=list(plan.evse_ids), base=base, title=title,
    )


def plot_simulation(result: Any, *, title: str | None = None) -> Figure:
    """A simulation: allowed, signalled and drawn power of the whole site, and the limits.

    Parameters
    ----------
    result
        A :class:`smartcharge.sim.SimResult` (read through its ``plan``, ``limit_a``,
        ``pilot_a`` and ``violations``; this module sits below ``sim`` and does not import it).
    title
        Figure title; default: delivered share, violations and messages.

    Returns
    -------
    matplotlib.figure.Figure
        Top: the cars' power [kW] stacked per EVSE (as :func:`plot_site_load`) under the root
        node's power limit where it has one. Bottom: the site's total of the stations'
        composite limits, of the EVSEs' pilots (both times each EVSE's W per A, capped at the
        car's maximum) and of what was drawn [kW]: the gaps are what discrete pilots and
        tapering batteries leave unused. Red marks: steps with a broken site limit.
    """
    plan = result.plan
    problem = plan.problem
    net = problem.network()
    h = problem.horizon
    start = epoch_seconds(h.start)
    e = start + h.step_s * np.arange(h.n_steps + 1, dtype=np.int64)
    wpa = net.evse_wpa[net.sess_evse][:, None] if net.S else np.zeros((0, 1))
    smax = net.sess_max_w[:, None] if net.S else np.zeros((0, 1))

    def site_kw(amps: FloatArray) -> FloatArray:
        watts = np.minimum(np.nan_to_num(np.asarray(amps, dtype=np.float64)) * wpa, smax)
        return np.asarray(watts.sum(axis=0) / 1000.0, dtype=np.float64) if net.S \
            else np.zeros(net.T)

    allowed, signalled = site_kw(result.limit_a), site_kw(result.pilot_a)
    drawn = np.asarray(plan.power_w, dtype=np.float64).sum(axis=0) / 1000.0
    bad_steps = sorted({v.step for v in result.violations if v.step is not None})
    fig = _new_figure(10.0, 7.0)
    top, bottom = fig.subplots(2, 1, sharex=True)
    x = _to_datetime64(e)
    p = np.asarray(plan.power_w, dtype=np.float64) / 1000.0
    cum = np.zeros(net.T + 1)
    import matplotlib as mpl

    cmap = mpl.colormaps["viridis"]
    for i in range(p.shape[0]):
        nxt = cum + np.append(p[i], p[i, -1]) if net.T else cum
        top.fill_between(x, cum, nxt, step="post", color=cmap(i / max(p.shape[0] - 1, 1)),
                         alpha=0.85, linewidth=0)
        cum = nxt
    root = problem.nodes[net.root]
    root_w = problem.series(root.max_power_w)
    if np.all(np.isfinite(root_w)):
        _step(top, e, root_w / 1000.0, color="tab:red", linestyle="--", linewidth=2.0,
              label=f"limit: {root.id}")
    if bad_steps:
        k = np.asarray(bad_steps, dtype=np.int64)
        top.plot(_to_datetime64(e[k] + h.step_s // 2), drawn[k], "v", color="tab:red",
                 markersize=4, label=f"{len(bad_steps)} steps over a limit")
    top.set_ylabel("drawn, per EVSE [kW]")
    top.grid(True, alpha=0.3)
    if top.get_legend_handles_labels()[0]:
        top.legend(loc="upper right", fontsize="small")
    _step(bottom, e, allowed, color="0.5", linewidth=1.2, label="stations' limits")
    _step(bottom, e, signalled, color="tab:orange", linewidth=1.2, label="pilots")
    _step(bottom, e, drawn, color="tab:blue", linewidth=1.6, label="drawn")
    bottom.set_ylabel("site total [kW]")
    bottom.grid(True, alpha=0.3)
    bottom.legend(loc="upper right", fontsize="small")
    bottom.set_xlim(x[0], x[-1])
    _format_time_axis(bottom, int(e[-1] - e[0]))
    if title is None:
        title = (f"{plan.share_delivered:.1%} of {plan.energy_needed_wh / 1000:.0f} kWh "
                 f"delivered, {len(result.violations)} violations, {result.messages} "
                 f"messages")
    fig.suptitle(title)
    return fig
