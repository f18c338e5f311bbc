"""The site a simulation runs: the electrical tree, the EVSEs by station, the tariff.

EVSE ids are the site controller's keys ``"station/evse"`` (``Site.evse_key``): station id,
a slash, the OCPP evseId (1.6: connectorId). An id without a slash and number is a station
with one EVSE, numbered 1. :meth:`SimSite.from_site` takes the controller's ``Site``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from smartcharge.errors import InvalidProblemError
from smartcharge.optimizer.problem import EVSE, Horizon, Node, Problem, Session, Tariff

__all__ = ["PROTOCOLS", "SimSite", "locate"]

PROTOCOLS = ("2.0.1", "1.6")
"""The protocols the simulated stations speak."""


def locate(key: str) -> tuple[str, int]:
    """``"station/evse"`` -> ``(station, evse)``; an id without ``/<number>`` -> ``(id, 1)``.

    >>> locate("CP-7/2"), locate("CA-303")
    (('CP-7', 2), ('CA-303', 1))
    """
    station, sep, tail = key.rpartition("/")
    if sep and tail.isdigit() and int(tail) > 0 and station:
        return station, int(tail)
    return key, 1


@dataclass(frozen=True)
class SimSite:
    """A site to simulate.

    Attributes
    ----------
    nodes
        The electrical tree (optimizer nodes).
    evses
        The EVSEs (optimizer EVSEs) with ids ``"station/evse"``.
    protocols
        Station id -> ``"2.0.1"`` (default) or ``"1.6"``.
    price
        The energy price [currency/kWh] at an instant, or ``None`` (0).

    Raises
    ------
    InvalidProblemError
        Two EVSEs at one (station, evse), an unknown protocol, or a DC EVSE (the simulated
        stations are AC).
    """

    nodes: tuple[Node, ...]
    evses: tuple[EVSE, ...]
    protocols: Mapping[str, str] = field(default_factory=dict)
    price: Callable[[datetime], float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "evses", tuple(self.evses))
        seen: dict[tuple[str, int], str] = {}
        for i, e in enumerate(self.evses):
            where = locate(e.id)
            if where in seen:
                raise InvalidProblemError(f"{e.id!r} and {seen[where]!r} are one EVSE {where}",
                                          path=f"evses[{i}].id", rule="unique-evse")
            if e.kind != "AC":
                raise InvalidProblemError("the simulated stations are AC", path=f"evses[{i}].kind",
                                          rule="ac-only")
            seen[where] = e.id
        for sid, proto in self.protocols.items():
            if proto not in PROTOCOLS:
                raise InvalidProblemError(f"must be one of {PROTOCOLS}, got {proto!r}",
                                          path=f"protocols[{sid!r}]", rule="enum")

    @classmethod
    def from_site(cls, site: Any, price: Callable[[datetime], float] | None = None) -> SimSite:
        """The simulation site of a site controller's ``Site`` (its nodes, its
        ``optimizer_evses()`` and each station's protocol)."""
        return cls(nodes=tuple(site.nodes), evses=tuple(site.optimizer_evses()),
                   protocols={s.id: s.protocol for s in site.stations}, price=price)

    def protocol(self, station_id: str) -> str:
        """The protocol of a station (default ``"2.0.1"``)."""
        return self.protocols.get(station_id, "2.0.1")

    def stations(self) -> dict[str, dict[int, EVSE]]:
        """Station id -> evseId -> EVSE, in the order of :attr:`evses`."""
        out: dict[str, dict[int, EVSE]] = {}
        for e in self.evses:
            sid, n = locate(e.id)
            out.setdefault(sid, {})[n] = e
        return out

    def prices(self, start: datetime, step_s: int, n_steps: int) -> tuple[float, ...]:
        """The price of each step (the price at its start)."""
        if self.price is None:
            return (0.0,) * n_steps
        return tuple(float(self.price(start + timedelta(seconds=k * step_s)))
                     for k in range(n_steps))

    def problem(self, start: datetime, step_s: int, n_steps: int,
                sessions: Sequence[Session] = ()) -> Problem:
        """An optimizer problem on this site over ``n_steps`` steps of ``step_s`` from
        ``start``."""
        return Problem(horizon=Horizon(start=start, step_s=step_s, n_steps=n_steps),
                       nodes=self.nodes, evses=self.evses, sessions=tuple(sessions),
                       tariff=Tariff(price=self.prices(start, step_s, n_steps)))
