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

Inside a handler of the ``ocpp`` package, :meth:`SmartChargeError.to_ocpp_exception` turns an
error into the package's exception of the right CALLERROR code, with the path and the rule in
its details (see also :func:`smartcharge.ocpp.interop.ocpp_errors`).
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

__all__ = [
    "ControllerError",
    "InvalidPayloadError",
    "InvalidProblemError",
    "NaiveDatetimeError",
    "PlotUnavailableError",
    "ScheduleError",
    "SmartChargeError",
    "SolverError",
    "StationError",
    "TranslationError",
    "UnitConversionError",
]  # the exception classes; require_aware is a helper of the layers above


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

    def call_error_code(self, version: str = "2.0.1") -> str:
        """The CALLERROR code of this error as OCPP ``version`` (1.6, 2.0.1 or 2.1) spells it.

        ``ocpp_error`` names the code the library's way; 1.6 says ``FormationViolation``
        where 2.0.1 and 2.1 say ``FormatViolation``, and 1.6 and 2.0.1 spell
        ``OccurenceConstraintViolation`` with one ``r`` (their errata keep it). An error
        without ``ocpp_error`` (a translation or station error) is a ``GenericError``.

        >>> InvalidPayloadError("x", ocpp_error="FormationViolation").call_error_code("2.0.1")
        'FormatViolation'
        >>> StationError("x").call_error_code("1.6")
        'GenericError'
        """
        code = self.ocpp_error or "GenericError"
        if version not in _VERSIONS:
            raise TranslationError(
                f"unknown OCPP version {version!r}; one of {', '.join(_VERSIONS)}",
                rule="ocpp:version",
            )
        if code in {"FormationViolation", "FormatViolation"}:
            return "FormationViolation" if version == "1.6" else "FormatViolation"
        if code in {"OccurrenceConstraintViolation", "OccurenceConstraintViolation"}:
            return "OccurrenceConstraintViolation" if version == "2.1" else (
                "OccurenceConstraintViolation"
            )
        return code

    def call_error_details(self) -> dict[str, str]:
        """The CALLERROR's details: ``message``, and ``path`` and ``rule`` when known."""
        details = {"message": self.message}
        if self.path is not None:
            details["path"] = self.path
        if self.rule is not None:
            details["rule"] = self.rule
        return details

    def to_ocpp_exception(self, version: str = "2.0.1") -> Any:
        """This error as the ``ocpp`` package's exception (``ocpp.exceptions.OCPPError``).

        Raise it from an ``@on(...)`` handler and the package answers with a CALLERROR of the
        right code (instead of ``InternalError``), ``str(self)`` as its description and
        :meth:`call_error_details` as its details.

        Parameters
        ----------
        version
            ``"1.6"``, ``"2.0.1"`` or ``"2.1"``: how the code is spelled.

        Raises
        ------
        ImportError
            When the ``ocpp`` package is not installed.
        """
        code = self.call_error_code(version)
        try:
            exceptions = importlib.import_module("ocpp.exceptions")
        except ImportError as exc:
            raise ImportError(
                "to_ocpp_exception needs the ocpp package: pip install 'smartcharge[ocpp]'"
            ) from exc
        for cls in exceptions.OCPPError.__subclasses__():
            if cls.code == code:
                return cls(description=str(self), details=self.call_error_details())
        return exceptions.GenericError(description=str(self), details=self.call_error_details())

    def __reduce__(self) -> tuple[object, ...]:  # keep pickling (executors) lossless
        return (
            _rebuild,
            (type(self), self.message, self.path, self.rule, self.ocpp_error),
        )


_VERSIONS = ("1.6", "2.0.1", "2.1")


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


class NaiveDatetimeError(SmartChargeError, ValueError):
    """A time (``now``, a window start) has no timezone.

    OCPP times are UTC; a naive ``datetime.now()`` is local time on a host not on UTC, hours
    off. Pass ``datetime.now(timezone.utc)`` or another aware datetime.
    """


def require_aware(value: object, path: str) -> None:
    """Raise :class:`NaiveDatetimeError` when ``value`` is a datetime without a timezone.

    >>> from datetime import datetime
    >>> try:
    ...     require_aware(datetime(2024, 1, 1), "now")
    ... except NaiveDatetimeError as err:
    ...     print(err.path, err.rule)
    now aware-datetime
    """
    if isinstance(value, datetime) and value.utcoffset() is None:
        raise NaiveDatetimeError(
            f"a naive datetime ({value.isoformat()}) has no timezone; pass an aware one, e.g. "
            "datetime.now(timezone.utc)",
            path=path,
            rule="aware-datetime",
        )


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
