"""A charging station's smart-charging state: its EVSEs, transactions and installed profiles.

:class:`ChargingStation` holds what a real OCPP 2.0.1 station holds and answers the CSMS as
the station would:

- :meth:`~ChargingStation.set_charging_profile`: the K01 rules of
  :mod:`smartcharge.validation`, then K01.FR.05 (a profile with an id already installed
  replaces it, wherever it was) and K01.FR.49 (stored conformed: absent ``numberPhases`` on
  AC becomes 3);
- :meth:`~ChargingStation.clear_charging_profile` (K10) and
  :meth:`~ChargingStation.get_charging_profiles` (K09);
- :meth:`~ChargingStation.composite_schedule` (K08), delegating to
  :func:`smartcharge.composite.composite_schedule`.

ChargingStationExternalConstraints come from the site's own energy manager, never from the
CSMS (K01.FR.22): :meth:`~ChargingStation.set_external_constraints` installs them and
ClearChargingProfile never removes them.

The station is a plain value: cheap to :meth:`~ChargingStation.copy` (profiles are frozen
models kept in tuples), equal (``==``) when its state is, and serialisable to JSON
(:meth:`~ChargingStation.to_json_dict` / :meth:`~ChargingStation.from_json_dict`), so that a
stateless CSMS can keep it in a key-value store between messages. Time is always a parameter.

>>> from datetime import datetime, timezone
>>> from smartcharge.model import ChargingProfile
>>> station = ChargingStation(2)
>>> now = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)
>>> p = ChargingProfile.model_validate({
...     "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
...     "chargingProfileKind": "Relative",
...     "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
...         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}]})
>>> station.set_charging_profile(0, p, now).to_json_dict()
{'status': 'Accepted'}
>>> station.start_transaction(1, "tx-1", now)
>>> c = station.composite_schedule(0, now, 3600, "A")
>>> [(x.start_period, x.limit) for x in c.charging_schedule_period]
[(0, 32.0)]
>>> ChargingStation.from_json_dict(station.to_json_dict()) == station
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from smartcharge.composite import DEFAULT_LIMIT_AMPS, DEFAULT_LIMIT_WATTS, composite_schedule
from smartcharge.errors import InvalidPayloadError, SmartChargeError, StationError
from smartcharge.model import (
    ChargingLimitSource,
    ChargingProfile,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ClearChargingProfileStatus,
    CompositeSchedule,
    format_datetime,
    parse_datetime,
)
from smartcharge.units import rate_unit
from smartcharge.validation import (
    EVSEInfo,
    StationContext,
    ValidationResult,
    conform_profile,
    validate_profile,
)

__all__ = [
    "ChargingStation",
    "ClearChargingProfileStatus",
    "StationError",
]


_EXT = ChargingProfilePurpose.ChargingStationExternalConstraints
_TX = ChargingProfilePurpose.TxProfile
_CSO = ChargingLimitSource.CSO
_JSON_VERSION = 1
_TX_ID_MAX = 36




def _check_evse_map(evses: Mapping[int, EVSEInfo] | int) -> dict[int, EVSEInfo]:
    if isinstance(evses, bool):
        raise StationError(f"evses must be a count or a mapping, got {evses!r}", path="evses")
    if isinstance(evses, int):
        if evses < 0:
            raise StationError(f"number of EVSEs must be >= 0, got {evses}", path="evses")
        return {i: EVSEInfo() for i in range(1, evses + 1)}
    if not isinstance(evses, Mapping):
        raise StationError(
            f"evses must be a count or a mapping, got {type(evses).__name__}", path="evses"
        )
    out: dict[int, EVSEInfo] = {}
    for k in sorted(evses, key=lambda x: (not isinstance(x, int), str(x))):
        info = evses[k]
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise StationError(f"EVSE ids must be ints >= 1, got {k!r}", path=f"evses[{k!r}]")
        if not isinstance(info, EVSEInfo):
            raise StationError(
                f"must be an EVSEInfo, got {type(info).__name__}", path=f"evses[{k}]"
            )
        out[k] = info
    return dict(sorted(out.items()))


def _check_float(value: object, path: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StationError(f"must be a number, got {value!r}", path=path, rule="type")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise StationError(
            f"must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}",
            path=path,
            rule="positive" if positive else "non-negative",
        )
    return v


def _purpose(value: ChargingProfilePurpose | str | None) -> ChargingProfilePurpose | None:
    if value is None:
        return None
    try:
        return ChargingProfilePurpose(value)
    except ValueError:
        raise StationError(
            f"unknown charging profile purpose {value!r}",
            path="chargingProfilePurpose",
            rule="enum",
        ) from None


def _source(value: ChargingLimitSource | str) -> ChargingLimitSource:
    try:
        return ChargingLimitSource(value)
    except ValueError:
        raise StationError(
            f"unknown charging limit source {value!r} (EMS, Other, SO or CSO)",
            path="chargingLimitSource",
            rule="enum",
        ) from None


class ChargingStation:
    """One station's smart-charging state (K01, K08, K09, K10).

    Parameters
    ----------
    evses
        The number of (AC, three-phase) EVSEs, numbered from 1, or a mapping EVSE id (>= 1)
        -> :class:`~smartcharge.validation.EVSEInfo`.
    supply_voltage
        Phase-to-neutral voltage [V] for A <-> W in composite schedules.
    supply_phases
        The station's supply phases (1..3, or 0 for a DC supply).
    rate_units
        The ``chargingRateUnit`` values the station accepts (K01.FR.26).
    phase_switching
        ``ACPhaseSwitchingSupported``: whether ``phaseToUse`` is accepted (K01.FR.20).
    default_limit_amps, default_limit_watts
        The composite schedule's limit [A per phase] / [W] where no profile limits.
    default_number_phases
        Phases (1..3) for A <-> W where no profile says.

    Raises
    ------
    StationError
        A bad configuration value (named by its path).
    """

    __slots__ = (
        "_ctx",
        "_default_limit_amps",
        "_default_limit_watts",
        "_default_number_phases",
        "_evses",
        "_phase_switching",
        "_profiles",
        "_rate_units",
        "_sources",
        "_supply_phases",
        "_supply_voltage",
        "_transactions",
    )

    def __init__(
        self,
        evses: Mapping[int, EVSEInfo] | int = 1,
        *,
        supply_voltage: float = 230.0,
        supply_phases: int = 3,
        rate_units: Iterable[ChargingRateUnit | str] = (ChargingRateUnit.A, ChargingRateUnit.W),
        phase_switching: bool = False,
        default_limit_amps: float = DEFAULT_LIMIT_AMPS,
        default_limit_watts: float = DEFAULT_LIMIT_WATTS,
        default_number_phases: int = 3,
    ) -> None:
        self._evses = _check_evse_map(evses)
        self._supply_voltage = _check_float(supply_voltage, "supply_voltage", positive=True)
        if (
            isinstance(supply_phases, bool)
            or not isinstance(supply_phases, int)
            or not 0 <= supply_phases <= 3
        ):
            raise StationError(
                f"must be 0 (DC) or 1..3, got {supply_phases!r}", path="supply_phases"
            )
        self._supply_phases = supply_phases
        try:
            self._rate_units = frozenset(rate_unit(u) for u in rate_units)
        except SmartChargeError as exc:
            raise StationError(exc.message, path="rate_units", rule=exc.rule) from None
        if not isinstance(phase_switching, bool):
            raise StationError(f"must be a bool, got {phase_switching!r}", path="phase_switching")
        self._phase_switching = phase_switching
        self._default_limit_amps = _check_float(default_limit_amps, "default_limit_amps")
        self._default_limit_watts = _check_float(default_limit_watts, "default_limit_watts")
        if default_number_phases not in (1, 2, 3) or isinstance(default_number_phases, bool):
            raise StationError(
                f"must be 1..3, got {default_number_phases!r}", path="default_number_phases"
            )
        self._default_number_phases = int(default_number_phases)
        # state: per EVSE a tuple of profiles sorted by id; sources of non-CSMS profiles
        self._profiles: dict[int, tuple[ChargingProfile, ...]] = {}
        self._sources: dict[int, ChargingLimitSource] = {}
        self._transactions: dict[int, tuple[str, datetime]] = {}
        self._ctx: StationContext | None = None

    # ------------------------------------------------------------------ read-only views

    @property
    def evse_ids(self) -> tuple[int, ...]:
        """The station's EVSE ids, ascending."""
        return tuple(self._evses)

    @property
    def evses(self) -> Mapping[int, EVSEInfo]:
        """EVSE id -> :class:`~smartcharge.validation.EVSEInfo` (a copy)."""
        return dict(self._evses)

    @property
    def transactions(self) -> Mapping[int, tuple[str, datetime]]:
        """Running transactions: EVSE id -> (transactionId, started at) (a copy)."""
        return dict(sorted(self._transactions.items()))

    @property
    def installed(self) -> Mapping[int, tuple[ChargingProfile, ...]]:
        """Installed profiles per EVSE id (0 = station-wide), each tuple sorted by id (a copy)."""
        return dict(sorted(self._profiles.items()))

    def context(self) -> StationContext:
        """The :class:`~smartcharge.validation.StationContext` validation sees."""
        if self._ctx is None:
            self._ctx = StationContext(
                evses=self._evses,
                supply_phases=self._supply_phases,
                rate_units=self._rate_units,
                phase_switching=self._phase_switching,
                installed=self._profiles,
                transactions=self._transactions,
            )
        return self._ctx

    def source_of(self, charging_profile_id: int) -> ChargingLimitSource | None:
        """Who installed the profile with this id (``CSO`` = the CSMS), or ``None``."""
        if self._find(charging_profile_id) is None:
            return None
        return self._sources.get(charging_profile_id, _CSO)

    # ------------------------------------------------------------------ internals

    def _changed(self) -> None:
        self._ctx = None

    def _find(self, charging_profile_id: int) -> tuple[int, ChargingProfile] | None:
        for evse_id, profiles in self._profiles.items():
            for p in profiles:
                if p.id == charging_profile_id:
                    return evse_id, p
        return None

    def _remove_where(self, pred: Callable[[int, ChargingProfile], bool]) -> int:
        removed = 0
        for evse_id in list(self._profiles):
            keep: list[ChargingProfile] = []
            for p in self._profiles[evse_id]:
                if pred(evse_id, p):
                    removed += 1
                    self._sources.pop(p.id, None)
                else:
                    keep.append(p)
            if len(keep) != len(self._profiles[evse_id]):
                if keep:
                    self._profiles[evse_id] = tuple(keep)
                else:
                    del self._profiles[evse_id]
        if removed:
            self._changed()
        return removed

    def _install(self, evse_id: int, profile: ChargingProfile, source: ChargingLimitSource) -> None:
        self._remove_where(lambda _e, p: p.id == profile.id)  # K01.FR.05: replace by id
        stored = conform_profile(evse_id, profile, self.context())  # K01.FR.49
        profiles = (*self._profiles.get(evse_id, ()), stored)
        self._profiles[evse_id] = tuple(sorted(profiles, key=lambda p: p.id))
        if source is _CSO:
            self._sources.pop(profile.id, None)
        else:
            self._sources[profile.id] = source
        self._changed()

    @staticmethod
    def _check_profile(profile: object) -> ChargingProfile:
        if not isinstance(profile, ChargingProfile):
            raise StationError(
                f"expected a ChargingProfile, got {type(profile).__name__}"
                " (use ChargingProfile.model_validate(payload) for JSON)",
                path="chargingProfile",
                rule="type",
            )
        return profile

    def _check_evse(self, evse_id: object, *, allow_zero: bool) -> int:
        if isinstance(evse_id, bool) or not isinstance(evse_id, int):
            raise StationError(f"evse id must be an int, got {evse_id!r}", path="evseId")
        if not (evse_id in self._evses or (allow_zero and evse_id == 0)):
            known = ", ".join(map(str, self._evses)) or "none"
            raise StationError(
                f"EVSE {evse_id} does not exist on this station (EVSEs: {known})",
                path="evseId",
                rule="K01.FR.28",
            )
        return evse_id

    # ------------------------------------------------------------------ K01 / K10 / K09

    def set_charging_profile(
        self, evse_id: int, profile: ChargingProfile, now: datetime
    ) -> ValidationResult:
        """Handle a SetChargingProfileRequest from the CSMS (K01).

        Parameters
        ----------
        evse_id
            The request's ``evseId`` (0 = station-wide).
        profile
            The request's ``chargingProfile``.
        now
            The station's clock (aware datetime, UTC).

        Returns
        -------
        ValidationResult
            Accepted (and installed, replacing a profile with the same id wherever it was,
            stored with absent ``numberPhases`` on AC set to 3), or Rejected with the reason;
            ``.to_json_dict()`` is the SetChargingProfileResponse.
        """
        profile = self._check_profile(profile)
        result = validate_profile(evse_id, profile, self.context(), now=now)
        if result.accepted:
            self._install(evse_id, profile, _CSO)
        return result

    def clear_charging_profile(
        self,
        *,
        charging_profile_id: int | None = None,
        evse_id: int | None = None,
        purpose: ChargingProfilePurpose | str | None = None,
        stack_level: int | None = None,
    ) -> ClearChargingProfileStatus:
        """Handle a ClearChargingProfileRequest (K10).

        With ``charging_profile_id`` the profile with that id is cleared (the criteria are then
        ignored, as in EVerest); otherwise every profile matching all the given criteria
        (``evse_id``, ``purpose``, ``stack_level``; none given = every profile). External
        constraints set by the site's energy manager are never cleared.

        Returns
        -------
        ``"Accepted"`` when something was cleared, else ``"Unknown"``.
        """
        want_purpose = _purpose(purpose)
        if charging_profile_id is not None:

            def pred(e: int, p: ChargingProfile) -> bool:
                return p.id == charging_profile_id and p.charging_profile_purpose is not _EXT

        else:

            def pred(e: int, p: ChargingProfile) -> bool:
                return (
                    p.charging_profile_purpose is not _EXT
                    and (evse_id is None or e == evse_id)
                    and (want_purpose is None or p.charging_profile_purpose is want_purpose)
                    and (stack_level is None or p.stack_level == stack_level)
                )

        if self._remove_where(pred):
            return ClearChargingProfileStatus.Accepted
        return ClearChargingProfileStatus.Unknown

    def get_charging_profiles(
        self,
        *,
        evse_id: int | None = None,
        purpose: ChargingProfilePurpose | str | None = None,
        stack_level: int | None = None,
        ids: Iterable[int] | None = None,
        sources: Iterable[ChargingLimitSource | str] | None = None,
    ) -> list[tuple[int, ChargingProfile]]:
        """The installed profiles matching every given criterion (GetChargingProfiles, K09).

        ``evse_id`` 0 means the station-wide profiles only, absent means all. The list is sorted
        by EVSE id, then profile id.
        """
        want_purpose = _purpose(purpose)
        want_ids = None if ids is None else frozenset(ids)
        want_sources = None if sources is None else frozenset(_source(s) for s in sources)
        out: list[tuple[int, ChargingProfile]] = []
        for e in sorted(self._profiles):
            if evse_id is not None and e != evse_id:
                continue
            for p in self._profiles[e]:
                if want_purpose is not None and p.charging_profile_purpose is not want_purpose:
                    continue
                if stack_level is not None and p.stack_level != stack_level:
                    continue
                if want_ids is not None and p.id not in want_ids:
                    continue
                if want_sources is not None and self._sources.get(p.id, _CSO) not in want_sources:
                    continue
                out.append((e, p))
        return out

    # ------------------------------------------------------------------ external constraints

    def set_external_constraints(
        self,
        evse_id: int,
        profile: ChargingProfile,
        now: datetime,
        *,
        source: ChargingLimitSource | str = ChargingLimitSource.EMS,
    ) -> ValidationResult:
        """Install ChargingStationExternalConstraints from the site's energy manager.

        The CSMS cannot set these (K01.FR.22); the EMS may replace its own by id, but not a
        profile the CSMS installed.

        Raises
        ------
        StationError
            ``source`` is ``CSO`` or the profile is not ChargingStationExternalConstraints.
        """
        profile = self._check_profile(profile)
        src = _source(source)
        if src is _CSO:
            raise StationError(
                "external constraints come from the site (EMS, SO or Other), not the CSMS (CSO);"
                " use set_charging_profile for CSMS profiles",
                path="source",
                rule="K01.FR.22",
            )
        if profile.charging_profile_purpose is not _EXT:
            raise StationError(
                f"expected a ChargingStationExternalConstraints profile, got"
                f" {profile.charging_profile_purpose.value}",
                path="chargingProfilePurpose",
                rule="K01.FR.22",
            )
        result = validate_profile(evse_id, profile, self.context(), now=now, source=src)
        if result.accepted:
            self._install(evse_id, profile, src)
        return result

    def clear_external_constraints(
        self, *, charging_profile_id: int | None = None, evse_id: int | None = None
    ) -> bool:
        """Remove external constraints (by id, or all on ``evse_id``, or all); True if any."""

        def pred(e: int, p: ChargingProfile) -> bool:
            return (
                p.charging_profile_purpose is _EXT
                and (charging_profile_id is None or p.id == charging_profile_id)
                and (evse_id is None or e == evse_id)
            )

        return self._remove_where(pred) > 0

    # ------------------------------------------------------------------ transactions

    def start_transaction(self, evse_id: int, transaction_id: str, started_at: datetime) -> None:
        """A transaction starts on ``evse_id`` (its start anchors Relative profiles).

        Raises
        ------
        StationError
            Unknown EVSE, an EVSE that already has a transaction, an empty or over-long (> 36)
            transaction id, or an id already running on another EVSE.
        """
        e = self._check_evse(evse_id, allow_zero=False)
        if not isinstance(transaction_id, str) or not 0 < len(transaction_id) <= _TX_ID_MAX:
            raise StationError(
                f"transactionId must be a string of 1..36 characters, got {transaction_id!r}",
                path="transactionId",
                rule="schema:maxLength",
            )
        if e in self._transactions:
            raise StationError(
                f"EVSE {e} already has transaction {self._transactions[e][0]!r}",
                path="evseId",
                rule="one-transaction-per-evse",
            )
        for other, (tid, _) in self._transactions.items():
            if tid == transaction_id:
                raise StationError(
                    f"transaction {transaction_id!r} already runs on EVSE {other}",
                    path="transactionId",
                    rule="unique-transaction",
                )
        try:
            start = parse_datetime(started_at)
        except ValueError as exc:
            raise StationError(str(exc), path="started_at", rule="date-time") from None
        self._transactions[e] = (transaction_id, start)
        self._transactions = dict(sorted(self._transactions.items()))
        self._changed()

    def end_transaction(
        self, evse_id: int | None = None, *, transaction_id: str | None = None
    ) -> tuple[str, datetime]:
        """End a transaction (by EVSE or by id); its TxProfiles are removed.

        Returns
        -------
        (transactionId, started at) of the ended transaction.

        Raises
        ------
        StationError
            Neither or both selectors given, or no such transaction.
        """
        if (evse_id is None) == (transaction_id is None):
            raise StationError(
                "give exactly one of evse_id and transaction_id", path="evseId", rule="arguments"
            )
        if evse_id is not None:
            e = self._check_evse(evse_id, allow_zero=False)
            if e not in self._transactions:
                raise StationError(f"no transaction runs on EVSE {e}", path="evseId")
        else:
            found = [k for k, (tid, _) in self._transactions.items() if tid == transaction_id]
            if not found:
                raise StationError(
                    f"transaction {transaction_id!r} is not running", path="transactionId"
                )
            e = found[0]
        ended = self._transactions.pop(e)
        self._changed()
        tid = ended[0]
        self._remove_where(
            lambda _e, p: p.charging_profile_purpose is _TX and p.transaction_id == tid
        )
        return ended

    # ------------------------------------------------------------------ K08

    def composite_schedule(
        self,
        evse_id: int,
        start: datetime,
        duration: int,
        unit: ChargingRateUnit | str,
        assume_transaction: bool = True,
    ) -> CompositeSchedule:
        """The composite schedule (K08) of ``evse_id`` (0 = the station's total).

        Parameters
        ----------
        evse_id
            The EVSE; 0 = the whole station.
        start
            Window start (aware datetime).
        duration
            Window length [s].
        unit
            ``"A"`` or ``"W"``.
        assume_transaction
            Count TxDefaultProfiles even where no transaction runs yet (what the CSMS asking
            GetCompositeSchedule wants to know).

        Raises
        ------
        ScheduleError
            Unknown EVSE (K08.FR.05) or a bad window.
        """
        return composite_schedule(
            self._profiles,
            evse_id,
            start,
            duration,
            unit,
            transactions=self._transactions,
            evse_ids=self.evse_ids,
            assume_transaction=assume_transaction,
            supply_voltage=self._supply_voltage,
            default_number_phases=self._default_number_phases,
            default_limit_amps=self._default_limit_amps,
            default_limit_watts=self._default_limit_watts,
        )

    # ------------------------------------------------------------------ value semantics

    def copy(self) -> ChargingStation:
        """An independent copy (cheap: profiles are immutable and shared)."""
        new = ChargingStation.__new__(ChargingStation)
        for name in self.__slots__:
            setattr(new, name, getattr(self, name))
        new._profiles = dict(self._profiles)
        new._sources = dict(self._sources)
        new._transactions = dict(self._transactions)
        return new

    def _key(self) -> tuple[object, ...]:
        return (
            tuple(self._evses.items()),
            self._supply_voltage,
            self._supply_phases,
            tuple(sorted(self._rate_units)),
            self._phase_switching,
            self._default_limit_amps,
            self._default_limit_watts,
            self._default_number_phases,
            tuple(sorted(self._profiles.items())),
            tuple(sorted(self._sources.items())),
            tuple(sorted(self._transactions.items())),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChargingStation):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        n = sum(len(v) for v in self._profiles.values())
        return (
            f"ChargingStation(evses={list(self._evses)}, profiles={n},"
            f" transactions={len(self._transactions)})"
        )

    def to_json_dict(self) -> dict[str, Any]:
        """The station as JSON-ready data (profiles in their official camelCase JSON).

        The output is deterministic: EVSEs, profiles and transactions are sorted.
        """
        return {
            "version": _JSON_VERSION,
            "evses": [
                {"evseId": e, "currentType": i.current_type, "supplyPhases": i.supply_phases}
                for e, i in self._evses.items()
            ],
            "supplyVoltage": self._supply_voltage,
            "supplyPhases": self._supply_phases,
            "rateUnits": sorted(u.value for u in self._rate_units),
            "phaseSwitching": self._phase_switching,
            "defaultLimitAmps": self._default_limit_amps,
            "defaultLimitWatts": self._default_limit_watts,
            "defaultNumberPhases": self._default_number_phases,
            "transactions": [
                {"evseId": e, "transactionId": tid, "startedAt": format_datetime(t)}
                for e, (tid, t) in sorted(self._transactions.items())
            ],
            "profiles": [
                {
                    "evseId": e,
                    "chargingLimitSource": self._sources.get(p.id, _CSO).value,
                    "chargingProfile": p.to_json_dict(),
                }
                for e, p in self.get_charging_profiles()
            ],
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> ChargingStation:
        """Rebuild a station from :meth:`to_json_dict` output.

        The stored profiles are trusted (they were validated when installed) but checked for
        structure: every profile must parse, sit on a known EVSE (or 0) and have a unique id.

        Raises
        ------
        StationError
            A missing or malformed field, named by its JSON path.
        """
        if not isinstance(data, Mapping):
            raise StationError(f"expected an object, got {type(data).__name__}", path="$")
        version = data.get("version")
        if version != _JSON_VERSION:
            raise StationError(
                f"unsupported station document version {version!r} (expected {_JSON_VERSION})",
                path="version",
            )

        def get(obj: Mapping[str, Any], key: str, path: str) -> Any:
            if not isinstance(obj, Mapping) or key not in obj:
                raise StationError(f"missing field {key!r}", path=path, rule="required")
            return obj[key]

        def items(key: str) -> list[Any]:
            value = get(data, key, key)
            if not isinstance(value, list):
                raise StationError(f"must be an array, got {type(value).__name__}", path=key,
                                   rule="type")
            return value

        def typed(exc: Exception, path: str) -> StationError:
            # a damaged value deep inside (None, 1e30, a 30-digit integer, ...)
            if isinstance(exc, StationError):
                inner = exc.path or ""
                full = inner if inner.startswith(path) else f"{path}.{inner}".rstrip(".")
                return StationError(exc.message, path=full, rule=exc.rule)
            if isinstance(exc, SmartChargeError):
                return StationError(exc.message, path=f"{path}.{exc.path or ''}".rstrip("."),
                                    rule=exc.rule)
            return StationError(f"{type(exc).__name__}: {exc}", path=path, rule="type")

        try:
            evses: dict[int, EVSEInfo] = {}
            for i, item in enumerate(items("evses")):
                p = f"evses[{i}]"
                evse_id = get(item, "evseId", f"{p}.evseId")
                if isinstance(evse_id, bool) or not isinstance(evse_id, int):
                    raise StationError(f"must be an integer, got {evse_id!r}",
                                       path=f"{p}.evseId", rule="type")
                evses[evse_id] = EVSEInfo(
                    get(item, "currentType", f"{p}.currentType"),
                    get(item, "supplyPhases", f"{p}.supplyPhases"),
                )
            station = cls(
                evses,
                supply_voltage=get(data, "supplyVoltage", "supplyVoltage"),
                supply_phases=get(data, "supplyPhases", "supplyPhases"),
                rate_units=get(data, "rateUnits", "rateUnits"),
                phase_switching=get(data, "phaseSwitching", "phaseSwitching"),
                default_limit_amps=get(data, "defaultLimitAmps", "defaultLimitAmps"),
                default_limit_watts=get(data, "defaultLimitWatts", "defaultLimitWatts"),
                default_number_phases=get(data, "defaultNumberPhases", "defaultNumberPhases"),
            )
        except InvalidPayloadError as exc:
            raise StationError(exc.message, path=exc.path, rule=exc.rule) from None
        except StationError:
            raise
        except (TypeError, ValueError, OverflowError, AttributeError) as exc:
            raise typed(exc, "evses") from None
        for i, item in enumerate(items("transactions")):
            p = f"transactions[{i}]"
            try:
                station.start_transaction(
                    get(item, "evseId", f"{p}.evseId"),
                    get(item, "transactionId", f"{p}.transactionId"),
                    get(item, "startedAt", f"{p}.startedAt"),
                )
            except (SmartChargeError, TypeError, ValueError, OverflowError) as exc:
                raise typed(exc, p) from None
        for i, item in enumerate(items("profiles")):
            p = f"profiles[{i}]"
            try:
                e = station._check_evse(get(item, "evseId", f"{p}.evseId"), allow_zero=True)
                raw = get(item, "chargingProfile", f"{p}.chargingProfile")
                try:
                    profile = ChargingProfile.model_validate(raw)
                except ValidationError as exc:
                    raise StationError(str(exc), path=f"{p}.chargingProfile",
                                       rule="schema") from None
                src = _source(item.get("chargingLimitSource", "CSO"))
            except (SmartChargeError, TypeError, ValueError, OverflowError,
                    AttributeError) as exc:
                raise typed(exc, p) from None
            if (src is _CSO) == (profile.charging_profile_purpose is _EXT):
                raise StationError(
                    "ChargingStationExternalConstraints, and only they, come from a source other"
                    f" than the CSMS (CSO); got {profile.charging_profile_purpose.value} from"
                    f" {src.value}",
                    path=f"{p}.chargingLimitSource",
                    rule="K01.FR.22",
                )
            if station._find(profile.id) is not None:
                raise StationError(
                    f"profile id {profile.id} appears twice", path=f"{p}.chargingProfile.id"
                )
            station._profiles[e] = tuple(
                sorted((*station._profiles.get(e, ()), profile), key=lambda x: x.id)
            )
            if src is not _CSO:
                station._sources[profile.id] = src
        station._changed()
        return station
