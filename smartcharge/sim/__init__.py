"""A site simulator: replay sessions through a strategy with realistic cars, EVSEs and faults.

- :func:`simulate` (:mod:`~smartcharge.sim.run`): the loop; real
  :class:`~smartcharge.station.ChargingStation` objects receive the strategy's OCPP payloads;
- :class:`VehicleModel` (:mod:`~smartcharge.sim.vehicles`): ideal or tapering batteries,
  single-phase cars, minimum currents;
- :class:`PilotModel` (:mod:`~smartcharge.sim.evse`): continuous or discrete pilots;
- :class:`Faults`, :class:`Outage` (:mod:`~smartcharge.sim.faults`);
- :class:`SimResult` (:mod:`~smartcharge.sim.result`): energy, cost, peaks, exact violations
  of what was drawn, messages and bytes;
- :class:`PlanningStrategy`, :func:`baseline` (:mod:`~smartcharge.sim.strategies`): the
  optimizer and the baselines behind the controller's ``handle(event, now)`` interface;
- :mod:`~smartcharge.sim.caltech`: the Caltech ACN data set reader (give it a folder).
"""

from smartcharge.sim import caltech
from smartcharge.sim.events import Request
from smartcharge.sim.evse import PilotModel
from smartcharge.sim.faults import Faults, Outage
from smartcharge.sim.result import LIMIT_KINDS, SimResult
from smartcharge.sim.run import simulate
from smartcharge.sim.site import SimSite, locate
from smartcharge.sim.strategies import STRATEGIES, PlanningStrategy, baseline
from smartcharge.sim.vehicles import Fleet, VehicleModel

__all__ = [
    "LIMIT_KINDS",
    "STRATEGIES",
    "Faults",
    "Fleet",
    "Outage",
    "PilotModel",
    "PlanningStrategy",
    "Request",
    "SimResult",
    "SimSite",
    "VehicleModel",
    "baseline",
    "caltech",
    "locate",
    "simulate",
]
