"""The site controller: ``step(site, config, state, event, now) -> (state, requests)``."""

from __future__ import annotations

from datetime import datetime

from smartcharge.controller.events import Event
from smartcharge.controller.request import Request
from smartcharge.controller.site import ControllerConfig, Site
from smartcharge.controller.state import ControllerState

__all__ = ["Controller", "step"]


def step(
    site: Site, config: ControllerConfig, state: ControllerState, event: Event, now: datetime
) -> tuple[ControllerState, list[Request]]:
    """Handle one event (work in progress: the pipeline lands in the next commits)."""
    raise NotImplementedError("the controller pipeline is not there yet")


class Controller:
    """A site controller holding its state between events (see :func:`step`)."""

    def __init__(self, site: Site, config: ControllerConfig | None = None,
                 state: ControllerState | None = None) -> None:
        self.site = site
        self.config = config if config is not None else ControllerConfig()
        self.state = state if state is not None else ControllerState()

    def handle(self, event: Event, now: datetime) -> list[Request]:
        """Handle one event; the new state is kept in ``self.state``."""
        self.state, requests = step(self.site, self.config, self.state, event, now)
        return requests
