"""The exception family of smartcharge.

Every error the library raises on purpose derives from :class:`SmartChargeError`, and also
from the builtin a caller would naturally catch (``ValueError`` for bad input,
``RuntimeError`` for a solver that failed), so both ``except SmartChargeError`` and
``except ValueError`` work.

Each error carries

- ``path``: where the problem is, as a JSON path into the payload
  (``chargingSchedule[0].chargingSchedulePeriod[3].startPeriod``), or ``None``;
- ``rule``: the rule that was broken, e.g. ``"K01.FR.31"`` or ``"schema:maxLength"``;
- ``ocpp_error``: for payload errors, the OCPP CALLERROR code a CSMS or station should answer
  with (``FormationViolation``, ``PropertyConstraintViolation``, ...), or ``None``.

>>> err = InvalidPayloadError("must be 0", path="chargingSchedule[0].chargingSchedulePeriod[0]"
...                           ".startPeriod", rule="K01.FR.31")
>>> str(err)
'chargingSchedule[0].chargingSchedulePeriod[0].startPeriod: must be 0 [K01.FR.31]'
>>> isinstance(err, ValueError)
True
"""

from __future__ import annotations

__all__ = [
    "ControllerError",
    "InvalidPayloadError",
    "InvalidProblemError",
    "PlotUnavailableError",
    "ScheduleError",
    "SmartChargeError",
    "SolverError",
    "StationError",
    "TranslationError",
    "UnitConversionError",
]


class SmartChargeError(Exception):
    """Base class of every error smartcharge raises on purpose.

    Parameters
    ----------
    message
        A human sentence saying what is wrong.
    path
        JSON path of the offending field, e.g. ``chargingSchedule[0].duration``.
    rule
        The rule broken: an OCPP requirement id (``K01.FR.35``), a schema keyword
        (``schema:required``) or a short name of a library rule.
    ocpp_error
        The OCPP CALLERROR code that fits, when the error is about a message payload.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        rule: str | None = None,
        ocpp_error: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.rule = rule
        self.ocpp_error = ocpp_error
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = self.message
        if self.path:
            text = f"{self.path}: {text}"
        if self.rule:
            text = f"{text} [{self.rule}]"
        return text

    def __reduce__(self) -> tuple[object, ...]:  # keep pickling (executors) lossless
        return (
            _rebuild,
            (type(self), self.message, self.path, self.rule, self.ocpp_error),
        )


def _rebuild(
    cls: type[SmartChargeError],
    message: str,
    path: str | None,
    rule: str | None,
    ocpp_error: str | None,
) -> SmartChargeError:
    return cls(message, path=path, rule=rule, ocpp_error=ocpp_error)


class InvalidPayloadError(SmartChargeError, ValueError):
    """A payload or value breaks the OCPP schema or one of the spec's rules."""


class UnitConversionError(SmartChargeError, ValueError):
    """A conversion between A and W cannot be made (bad phases, voltage or unit)."""


class ScheduleError(SmartChargeError, ValueError):
    """A schedule operation got inconsistent arrays or an invalid window."""


class InvalidProblemError(SmartChargeError, ValueError):
    """An optimizer problem is inconsistent (unknown EVSE, bad horizon, negative limit, ...)."""


class SolverError(SmartChargeError, RuntimeError):
    """The solver failed in a way no safe fallback could cover."""


class TranslationError(SmartChargeError, ValueError):
    """A profile cannot be expressed in the target OCPP version (e.g. 2.0.1 -> 1.6)."""


class StationError(SmartChargeError, ValueError):
    """A :class:`~smartcharge.station.ChargingStation` was used in a way that makes no sense
    (programming misuse): a transaction on an unknown EVSE, a second transaction on a busy
    EVSE, a station document that is not valid."""


class PlotUnavailableError(SmartChargeError, ImportError):
    """A picture was asked for but matplotlib is not installed (``smartcharge[plot]``)."""


class ControllerError(SmartChargeError, ValueError):
    """The site controller got an event, a snapshot or a call that makes no sense: a naive
    ``now``, time going backwards, an unknown station or EVSE, a damaged state document."""
