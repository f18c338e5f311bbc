"""smartcharge.plot: figures hold the data they claim, and matplotlib stays optional."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from smartcharge.composite import composite_schedule
from smartcharge.errors import ScheduleError, SmartChargeError
from smartcharge.model import ChargingProfile
from smartcharge.plot import PlotUnavailableError, plot_composite, plot_plan, plot_site_load

T0 = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)
E0 = int(T0.timestamp())


def _profile(pid: int, purpose: str, stack: int, unit: str,
             periods: list[tuple[int, float]]) -> ChargingProfile:
    return ChargingProfile.model_validate({
        "id": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [{"id": pid, "chargingRateUnit": unit,
                              "startSchedule": "2024-01-01T08:00:00Z",
                              "chargingSchedulePeriod": [
                                  {"startPeriod": s, "limit": v} for s, v in periods]}]})


INSTALLED = {
    0: [_profile(1, "ChargingStationMaxProfile", 0, "A", [(0, 32.0), (7200, 20.0)])],
    1: [_profile(2, "TxDefaultProfile", 0, "A", [(0, 16.0)]),
        _profile(3, "TxDefaultProfile", 1, "W", [(0, 11000.0), (1800, 4140.0), (5400, 11000.0)])],
}


def test_composite_plot_draws_result_and_every_layer(tmp_path: Path) -> None:
    comp = composite_schedule(INSTALLED, 1, T0, 4 * 3600, "A")
    fig = plot_composite(comp, INSTALLED)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[0] == "composite schedule"
    assert sorted(labels[1:]) == sorted([
        "EVSE 1 #2 TxDefaultProfile L0 [A]", "EVSE 1 #3 TxDefaultProfile L1 [W]",
        "EVSE 0 #1 ChargingStationMaxProfile L0 [A]"])
    # the composite line's y data are the payload's limits (plus the repeated last one)
    limits = [p.limit for p in comp.charging_schedule_period]
    y = list(ax.get_lines()[0].get_ydata())
    assert y == [*limits, limits[-1]]
    # the W profile is drawn converted to A (11000 W / 690 = 15.94 A)
    w_line = next(ln for ln in ax.get_lines() if "#3" in str(ln.get_label()))
    assert np.asarray(w_line.get_ydata())[0] == pytest.approx(11000 / 690)
    assert ax.get_ylabel() == "limit [A]"
    out = tmp_path / "c.png"
    fig.savefig(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_composite_plot_without_layers_and_in_watts() -> None:
    comp = composite_schedule(INSTALLED, 0, T0, 3 * 3600, "W", evse_ids=[1])
    fig = plot_composite(comp, title="station")
    ax = fig.axes[0]
    assert [ln.get_label() for ln in ax.get_lines()] == ["composite schedule"]
    assert ax.get_title() == "station"
    assert ax.get_ylabel() == "limit [W]"


def test_site_load_stacks_power_under_limits_with_price() -> None:
    edges = E0 + 900 * np.arange(5)
    power = np.array([[1.0, 2.0, 3.0, 0.0], [4.0, 0.0, 1.0, 2.0]])
    fig = plot_site_load(edges, power, limits={"transformer": 6.0},
                         price=[0.1, 0.1, 0.3, 0.3], labels=["a", "b"], title="site")
    ax, ax_price = fig.axes
    polys = ax.collections
    assert len(polys) == 2
    # the top of the stack equals the total per step
    top = polys[1].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(power.sum(axis=0).max())
    limit_line = next(ln for ln in ax.get_lines() if ln.get_label() == "limit: transformer")
    assert set(np.asarray(limit_line.get_ydata()).tolist()) == {6.0}
    assert list(ax_price.get_lines()[0].get_ydata()) == [0.1, 0.1, 0.3, 0.3, 0.3]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["a", "b", "limit: transformer", "price"]


def test_site_load_many_evses_draws_one_total_line() -> None:
    edges = E0 + 3600 * np.arange(4)
    power = np.ones((30, 3))
    fig = plot_site_load(edges, power)
    ax = fig.axes[0]
    total = next(ln for ln in ax.get_lines() if "30 EVSEs stacked" in str(ln.get_label()))
    assert list(total.get_ydata()) == [30.0] * 4


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"power": np.ones((2, 3))}, "power"),
        ({"power": -np.ones((1, 4))}, "power"),
        ({"power": np.ones((1, 4)), "price": [1.0, 2.0]}, "price"),
        ({"power": np.ones((1, 4)), "limits": {"feeder": [1.0, np.nan, 1.0, 1.0]}},
         "limits.feeder"),
        ({"power": np.ones((2, 4)), "labels": ["only one"]}, "labels"),
    ],
)
def test_site_load_rejects_bad_arrays(kwargs: dict[str, object], path: str) -> None:
    with pytest.raises(ScheduleError) as info:
        plot_site_load(E0 + 60 * np.arange(5), **kwargs)  # type: ignore[arg-type]
    assert info.value.path == path


def test_site_load_rejects_unordered_edges() -> None:
    with pytest.raises(ScheduleError, match="increasing"):
        plot_site_load([E0, E0], np.ones((1, 1)))


def test_import_works_without_matplotlib_and_plots_name_the_extra() -> None:
    code = (
        "import sys\n"
        "for m in ('matplotlib', 'matplotlib.figure', 'matplotlib.backends.backend_agg'):\n"
        "    sys.modules[m] = None\n"
        "import smartcharge.plot as p\n"
        "try:\n"
        "    p.plot_site_load([0, 60], [[1.0]])\n"
        "except ImportError as e:\n"
        "    assert isinstance(e, p.PlotUnavailableError)\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "smartcharge[plot]" in out.stdout
    assert issubclass(PlotUnavailableError, SmartChargeError)


def test_plan_plot_shows_evse_power_site_load_limit_and_price() -> None:
    from smartcharge.optimizer import Plan, Problem

    problem = Problem.model_validate({
        "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 3},
        "nodes": [{"id": "grid", "max_power_w": 30000}],
        "evses": [{"id": "e1", "node": "grid", "max_current_a": 32},
                  {"id": "e2", "node": "grid", "max_current_a": 32}],
        "sessions": [
            {"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
             "departure": "2024-01-01T03:00:00Z", "energy_wh": 20000},
            {"id": "s2", "evse": "e2", "arrival": "2024-01-01T01:00:00Z",
             "departure": "2024-01-01T03:00:00Z", "energy_wh": 10000}],
        "tariff": {"price": [0.1, 0.3, 0.2], "site_load_w": 5000}})
    plan = Plan.from_session_power(problem, [[11040, 11040, 0], [0, 6900, 6900]])
    fig = plot_plan(plan)
    ax, ax_price = fig.axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["other site load", "e1", "e2", "limit: grid", "price"]
    limit = next(ln for ln in ax.get_lines() if ln.get_label() == "limit: grid")
    assert set(np.asarray(limit.get_ydata()).tolist()) == {30.0}
    # base (5 kW) + e1 + e2 at the top of the stack, in kW
    top = ax.collections[-1].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(5.0 + 11.04 + 6.9)
    assert list(ax_price.get_lines()[0].get_ydata()) == [0.1, 0.3, 0.2, 0.2]
    assert "kWh delivered" in ax.get_title()
