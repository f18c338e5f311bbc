"""Interop with the third-party ``ocpp`` package (its ``ChargePoint`` classes and dataclasses).

The ``ocpp`` package is optional at run time: it is imported lazily, only by the functions
here, and a missing package is an ``ImportError`` that says how to install it.

- :func:`action_name`: an action as a plain string, from a string or the package's
  ``Action`` enum;
- :func:`camel_payload`: the camelCase JSON of a ``call`` / ``call_result`` dataclass or of
  a handler's snake_case keyword arguments, with the package's ``Decimal`` numbers made plain
  JSON numbers and explicit ``null`` values kept (so they are diagnosed, not lost);
- :func:`ocpp_dataclass`: the dataclass ``ChargePoint.call()`` sends (or a handler returns)
  for a camelCase payload;
- :func:`ocpp_errors`: a decorator for ``@on(...)`` handlers that turns a
  :class:`~smartcharge.errors.SmartChargeError` into the package's exception of the right
  CALLERROR code, with the JSON path and the rule in its details.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, TypeVar, cast

from smartcharge.errors import InvalidPayloadError, SmartChargeError
from smartcharge.ocpp._schema import FORMATION, plain_json

__all__ = [
    "VERSIONS",
    "action_name",
    "camel_payload",
    "is_ocpp_dataclass",
    "ocpp_dataclass",
    "ocpp_errors",
    "ocpp_module",
]

VERSIONS = {"1.6": "v16", "2.0.1": "v201", "2.1": "v21"}
"""OCPP versions and the ``ocpp`` package's sub-package of each."""

F = TypeVar("F", bound=Callable[..., Any])


def ocpp_module(name: str) -> Any:
    """Import ``name`` (``"ocpp.v201.call"``, ...) from the ``ocpp`` package.

    Raises
    ------
    ImportError
        When the package is not installed, saying how to install it.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(
            "interop with the ocpp package needs it installed: pip install 'smartcharge[ocpp]'"
        ) from exc


def action_name(action: object) -> str:
    """``action`` as a plain string: a ``str`` as is, an ``Enum`` (``Action``) by its value.

    Raises
    ------
    InvalidPayloadError
        For anything else.

    >>> from enum import Enum
    >>> class Action(str, Enum):
    ...     set_charging_profile = "SetChargingProfile"
    >>> action_name(Action.set_charging_profile), action_name("GetCompositeSchedule")
    ('SetChargingProfile', 'GetCompositeSchedule')
    """
    if isinstance(action, Enum):
        action = action.value
    if not isinstance(action, str):
        raise InvalidPayloadError(
            f"an action is a string or the ocpp package's Action enum, got "
            f"{type(action).__name__}",
            path="action",
            rule="interop",
            ocpp_error=FORMATION,
        )
    return action


def is_ocpp_dataclass(value: object, version: str) -> bool:
    """Whether ``value`` is a ``call`` / ``call_result`` dataclass of OCPP ``version``."""
    package = f"ocpp.{VERSIONS[version]}"
    return type(value).__module__ in {f"{package}.call", f"{package}.call_result"} and hasattr(
        value, "__dataclass_fields__"
    )


def is_response_dataclass(value: object) -> bool:
    """Whether an ``ocpp`` dataclass is a ``call_result`` (an answer)."""
    return type(value).__module__.endswith(".call_result")


def camel_payload(message: object) -> dict[str, Any]:
    """The camelCase JSON of an ``ocpp`` dataclass or of a handler's keyword arguments.

    A dataclass's ``None`` fields are left out (they are its unset optional fields); in
    keyword arguments an explicit ``None`` is kept, so the parser reports the ``null`` with
    its path instead of calling the field missing. ``Decimal`` numbers become ``int`` /
    ``float`` (see :func:`~smartcharge.ocpp._schema.plain_json`), enums their values.

    Raises
    ------
    InvalidPayloadError
        When ``message`` is neither a dataclass nor a mapping.
    """
    cp = ocpp_module("ocpp.charge_point")
    if hasattr(message, "__dataclass_fields__"):
        raw = cp.remove_nones(cp.serialize_as_dict(message))
    elif isinstance(message, Mapping):
        raw = dict(message)
    else:
        raise InvalidPayloadError(
            f"expected an ocpp call/call_result dataclass or a handler's keyword arguments "
            f"(a dict), got {type(message).__name__}",
            rule="interop",
            ocpp_error=FORMATION,
        )
    return cast("dict[str, Any]", _plain(cp.snake_to_camel_case(raw)))


def _plain(value: object) -> object:
    """Plain JSON values in one pass: Decimals to numbers, enums (str subclasses) to values."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    return plain_json(value)  # a Decimal as int or float; anything else as is


def ocpp_dataclass(version: str, action: str, response: bool, payload: Mapping[str, Any]) -> Any:
    """The ``ocpp`` package's dataclass for a camelCase ``payload`` of ``action``.

    Parameters
    ----------
    version
        ``"1.6"``, ``"2.0.1"`` or ``"2.1"``.
    action
        The bare action name (``"SetChargingProfile"``).
    response
        ``True`` for the ``call_result`` (what a handler returns), ``False`` for the ``call``
        (what ``ChargePoint.call()`` sends).
    payload
        The camelCase JSON (as the library's builders return it).
    """
    cp = ocpp_module("ocpp.charge_point")
    package = f"ocpp.{VERSIONS[version]}.{'call_result' if response else 'call'}"
    cls = getattr(ocpp_module(package), action, None)
    if cls is None:
        raise InvalidPayloadError(
            f"the ocpp package has no {package}.{action}",
            path="action",
            rule="NotImplemented",
            ocpp_error="NotImplemented",
        )
    return cls(**cp.camel_to_snake_case(dict(payload)))


def ocpp_errors(version: str = "2.0.1") -> Callable[[F], F]:
    """Decorate an ``@on(...)`` handler so library errors become proper CALLERRORs.

    Without it, a :class:`~smartcharge.errors.SmartChargeError` raised in a handler reaches
    the other side as ``InternalError: An unexpected error occurred``. With it, the handler
    raises :meth:`SmartChargeError.to_ocpp_exception` instead: the CALLERROR code of
    ``err.ocpp_error`` as ``version`` spells it, the message with path and rule as the
    description, and ``{"message", "path", "rule"}`` as details. Works on sync and async
    handlers; put it under ``@on(...)``.

    Parameters
    ----------
    version
        ``"1.6"``, ``"2.0.1"`` or ``"2.1"``: the OCPP version the handler speaks.

    Examples
    --------
    ```python
    @on(Action.set_charging_profile)
    @ocpp_errors("2.0.1")
    def on_set_charging_profile(self, **kwargs):
        request = v201.from_ocpp(kwargs, action=Action.set_charging_profile)
        ...
    ```
    """
    if version not in VERSIONS:
        raise InvalidPayloadError(
            f"unknown OCPP version {version!r}; one of {', '.join(VERSIONS)}",
            path="version",
            rule="interop",
        )

    def decorate(handler: F) -> F:
        if inspect.iscoroutinefunction(handler):

            @functools.wraps(handler)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await handler(*args, **kwargs)
                except SmartChargeError as err:
                    raise err.to_ocpp_exception(version) from err

            return cast("F", run_async)

        @functools.wraps(handler)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            except SmartChargeError as err:
                raise err.to_ocpp_exception(version) from err

        return cast("F", run)

    return decorate
