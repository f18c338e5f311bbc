"""Shared building blocks of the OCPP models: the base class and field types."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Annotated, Any

from dateutil.parser import isoparse
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "NonNegInt",
    "OcppModel",
    "OneDecimal",
    "StrictInteger",
    "UTCDateTime",
    "format_datetime",
    "parse_datetime",
]


class OcppModel(BaseModel):
    """Base of every OCPP datatype: camelCase aliases, frozen, hashable, no extra fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
        validate_default=False,
        use_enum_values=False,
        ser_json_inf_nan="strings",
    )

    def to_json_dict(self) -> dict[str, Any]:
        """The official OCPP camelCase JSON of this object (``None`` fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse_datetime(value: object) -> datetime:
    """Parse an OCPP date-time into a timezone-aware UTC ``datetime``.

    Accepts RFC 3339 / ISO 8601 strings and ``datetime`` objects. A value without an offset
    is read as UTC (real stations send those).

    >>> parse_datetime("2024-01-01T12:00:00+02:00").isoformat()
    '2024-01-01T10:00:00+00:00'
    >>> parse_datetime("2024-01-01T12:00:00").isoformat()
    '2024-01-01T12:00:00+00:00'
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) < 10 or "T" not in text.upper():
            raise ValueError(f"not an RFC 3339 date-time: {value!r}")
        try:
            dt = isoparse(text)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"not an RFC 3339 date-time: {value!r}") from exc
    else:
        raise ValueError(f"a date-time must be a string, got {type(value).__name__}")
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"date-time out of range once converted to UTC: {value!r}") from None


def format_datetime(value: datetime) -> str:
    """Format a date-time as OCPP sends it: UTC with a ``Z``; milliseconds only when present.

    >>> from datetime import datetime, timezone
    >>> format_datetime(datetime(2024, 1, 1, 12, tzinfo=timezone.utc))
    '2024-01-01T12:00:00Z'
    """
    dt = parse_datetime(value)
    base = (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"
        f"T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    )
    if dt.microsecond == 0:
        return base + "Z"
    if dt.microsecond % 1000 == 0:
        return f"{base}.{dt.microsecond // 1000:03d}Z"
    return f"{base}.{dt.microsecond:06d}Z"


UTCDateTime = Annotated[
    datetime,
    BeforeValidator(parse_datetime),
    PlainSerializer(format_datetime, return_type=str, when_used="json"),
]
"""A timezone-aware UTC datetime that parses OCPP strings and serialises as ``...Z``."""

StrictInteger = Annotated[int, Field(strict=True)]
NonNegInt = Annotated[int, Field(strict=True, ge=0)]


def _one_decimal(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    if abs(value) >= 2.0**52:  # every float this large is a whole number
        return value
    if abs(value * 10 - round(value * 10)) > 1e-6 * max(1.0, abs(value)):
        raise ValueError(f"accepts at most one digit fraction (e.g. 8.1), got {value!r}")
    return value


OneDecimal = Annotated[
    float, Field(strict=True, allow_inf_nan=False), AfterValidator(_one_decimal)
]
"""A finite number with at most one digit after the decimal point (OCPP's rule for limits)."""

FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]
