"""The ``smartcharge`` command line (the only module of the package that touches files).

Commands
--------
``smartcharge composite PROFILES.json --evse N --start T --duration D --unit A|W``
    The composite schedule (K08) of installed profiles, printed as a
    GetCompositeScheduleResponse payload; ``--plot FILE.png`` draws it with its layers.
``smartcharge validate PAYLOAD.json``
    Checks SetChargingProfile payloads (one or a list) against the schema and the value
    rules, printing each problem with its JSON path; exit status 1 if any.

Run ``smartcharge COMMAND --help`` for the options. User mistakes (a missing file, bad JSON,
an invalid payload) end with a one-line reason on stderr and exit status 2, never a
traceback.

The file formats are described in the documentation (Getting started -> command line).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from smartcharge.composite import composite_schedule
from smartcharge.errors import InvalidPayloadError, SmartChargeError
from smartcharge.model import ChargingProfile, parse_datetime
from smartcharge.ocpp._schema import format_path, parse_model

__all__ = ["main"]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake of the user's (bad file, bad option): one line on stderr, exit 2."""


# ----------------------------------------------------------------------------- helpers
def _read_json(path: str) -> Any:
    """The JSON document in ``path`` (``-`` = stdin)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})") from None


def _dumps(obj: object) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)


def _write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def _duration(text: str) -> int:
    """``"3600"``, ``"90m"``, ``"4h"``, ``"1d"`` -> seconds."""
    m = _DURATION.match(text)
    if not m:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (use seconds, or a number with s, m, h or d)"
        )
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def _datetime(text: str) -> datetime:
    try:
        return parse_datetime(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(
            f"not an RFC 3339 date-time: {text!r} (e.g. 2024-01-01T08:00:00Z)"
        ) from None


def _evse_id(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise InvalidPayloadError(
            f"an EVSE id must be an integer >= 0, got {value!r}", path=path, rule="schema:type"
        )
    if value < 0:
        raise InvalidPayloadError(
            f"an EVSE id must be >= 0, got {value}", path=path, rule="schema:minimum"
        )
    return value


def _profile_list(value: object, path: str) -> list[ChargingProfile]:
    if not isinstance(value, list):
        raise InvalidPayloadError("must be a list of ChargingProfiles", path=path, rule="type")
    return [parse_model(ChargingProfile, item, prefix=f"{path}[{i}]") for i, item in
            enumerate(value)]


# ------------------------------------------------------------------- composite file format
def load_installed(
    doc: object,
) -> tuple[dict[int, list[ChargingProfile]], dict[int, tuple[str, datetime]], list[int] | None]:
    """Read a composite-schedule input document.

    Two forms are accepted:

    - an object ``{"installed": {"<evseId>": [ChargingProfile, ...], ...},
      "transactions": {"<evseId>": {"transactionId": "...", "startTime": "..."}},
      "evseIds": [1, 2]}`` (``transactions`` and ``evseIds`` optional);
    - a list of SetChargingProfileRequest payloads ``[{"evseId": n, "chargingProfile":
      {...}}, ...]``, installed in order.

    Returns
    -------
    installed, transactions, evse_ids
    """
    installed: dict[int, list[ChargingProfile]] = {}
    transactions: dict[int, tuple[str, datetime]] = {}
    evse_ids: list[int] | None = None
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            if not isinstance(item, Mapping):
                raise InvalidPayloadError(
                    "must be an object {evseId, chargingProfile}", path=f"[{i}]", rule="type"
                )
            if "evseId" not in item or "chargingProfile" not in item:
                raise InvalidPayloadError(
                    "needs evseId and chargingProfile", path=f"[{i}]", rule="schema:required"
                )
            evse = _evse_id(item["evseId"], f"[{i}].evseId")
            profile = parse_model(ChargingProfile, item["chargingProfile"],
                                  prefix=f"[{i}].chargingProfile")
            installed.setdefault(evse, []).append(profile)
        return installed, transactions, evse_ids
    if not isinstance(doc, Mapping):
        raise InvalidPayloadError(
            "the document must be an object with 'installed' or a list of "
            "{evseId, chargingProfile}", rule="type"
        )
    unknown = sorted(set(doc) - {"installed", "transactions", "evseIds"})
    if unknown:
        raise InvalidPayloadError(
            f"unknown key {unknown[0]!r} (expected installed, transactions, evseIds)",
            path=unknown[0], rule="format",
        )
    raw = doc.get("installed")
    if not isinstance(raw, Mapping):
        raise InvalidPayloadError(
            "must be an object mapping EVSE ids to lists of ChargingProfiles",
            path="installed", rule="format",
        )
    for key, profiles in raw.items():
        evse = _evse_id(key, f"installed.{key}")
        installed[evse] = _profile_list(profiles, f"installed.{key}")
    raw_tx = doc.get("transactions", {})
    if not isinstance(raw_tx, Mapping):
        raise InvalidPayloadError("must be an object", path="transactions", rule="format")
    for key, tx in raw_tx.items():
        evse = _evse_id(key, f"transactions.{key}")
        path = f"transactions.{key}"
        if not isinstance(tx, Mapping) or not isinstance(tx.get("transactionId"), str):
            raise InvalidPayloadError(
                "must be {transactionId: string, startTime: date-time}", path=path,
                rule="format",
            )
        try:
            started = parse_datetime(tx.get("startTime"))
        except (ValueError, OverflowError):
            raise InvalidPayloadError(
                "not an RFC 3339 date-time", path=f"{path}.startTime", rule="format"
            ) from None
        transactions[evse] = (tx["transactionId"], started)
    if "evseIds" in doc:
        ids = doc["evseIds"]
        if not isinstance(ids, list):
            raise InvalidPayloadError("must be a list of integers", path="evseIds", rule="type")
        evse_ids = [_evse_id(v, f"evseIds[{i}]") for i, v in enumerate(ids)]
    return installed, transactions, evse_ids


def _cmd_composite(args: argparse.Namespace) -> int:
    installed, transactions, evse_ids = load_installed(_read_json(args.profiles))
    result = composite_schedule(
        installed,
        args.evse,
        args.start,
        args.duration,
        args.unit,
        transactions=transactions,
        evse_ids=evse_ids,
        assume_transaction=not args.no_assume_transaction,
        supply_voltage=args.voltage,
        default_number_phases=args.phases,
    )
    payload = {"status": "Accepted", "schedule": result.to_json_dict()}
    print(_dumps(payload))
    if args.plot:
        from smartcharge.plot import plot_composite

        fig = plot_composite(
            result, installed, transactions=transactions, supply_voltage=args.voltage,
            default_number_phases=args.phases,
        )
        out = Path(args.plot)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(out)
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
        print(f"wrote {out}", file=sys.stderr)
    return EXIT_OK


# ------------------------------------------------------------------------------ validate
_REQUEST_KEYS = frozenset({"evseId", "chargingProfile", "customData"})


def validate_requests(doc: object) -> list[InvalidPayloadError]:
    """Every problem found in SetChargingProfile payloads (one object or a list).

    An object with a ``chargingProfile`` or an ``evseId`` key is a
    SetChargingProfileRequest; any other object is read as a bare ChargingProfile. Each
    problem's ``path`` is a JSON path into the document
    (``[1].chargingProfile.stackLevel`` for the second request of a list).
    """
    items: list[tuple[str | None, object]]
    if isinstance(doc, list):
        if not doc:
            return [InvalidPayloadError("the list is empty", rule="minItems")]
        items = [(f"[{i}]", item) for i, item in enumerate(doc)]
    else:
        items = [(None, doc)]
    problems: list[InvalidPayloadError] = []
    for prefix, item in items:
        problems.extend(_validate_one(item, prefix))
    return problems


def _validate_one(item: object, prefix: str | None) -> list[InvalidPayloadError]:
    def at(*parts: str) -> str | None:
        return format_path([p for p in (prefix, *parts) if p])

    if not isinstance(item, Mapping):
        return [InvalidPayloadError(
            f"must be a JSON object, got {type(item).__name__}", path=prefix,
            rule="schema:type", ocpp_error="FormationViolation",
        )]
    if "chargingProfile" not in item and "evseId" not in item:  # a bare ChargingProfile
        try:
            parse_model(ChargingProfile, item, prefix=prefix)
        except InvalidPayloadError as exc:
            return [exc]
        return []
    problems: list[InvalidPayloadError] = []
    for key in sorted(set(item) - _REQUEST_KEYS):
        problems.append(InvalidPayloadError(
            "unknown field (additional properties are not allowed)", path=at(key),
            rule="schema:additionalProperties", ocpp_error="FormationViolation",
        ))
    if "evseId" not in item:
        problems.append(InvalidPayloadError(
            "required field is missing", path=at("evseId"), rule="schema:required",
            ocpp_error="FormationViolation",
        ))
    else:
        evse = item["evseId"]
        if isinstance(evse, bool) or not isinstance(evse, int):
            problems.append(InvalidPayloadError(
                f"must be an integer, got {type(evse).__name__}", path=at("evseId"),
                rule="schema:type", ocpp_error="TypeConstraintViolation",
            ))
        elif evse < 0:
            problems.append(InvalidPayloadError(
                f"must be >= 0, got {evse}", path=at("evseId"), rule="schema:minimum",
                ocpp_error="PropertyConstraintViolation",
            ))
    if "chargingProfile" not in item:
        problems.append(InvalidPayloadError(
            "required field is missing", path=at("chargingProfile"), rule="schema:required",
            ocpp_error="FormationViolation",
        ))
        return problems
    try:
        parse_model(ChargingProfile, item["chargingProfile"], prefix=at("chargingProfile"))
    except InvalidPayloadError as exc:
        problems.append(exc)
    return problems


def _cmd_validate(args: argparse.Namespace) -> int:
    doc = _read_json(args.payload)
    problems = validate_requests(doc)
    n = len(doc) if isinstance(doc, list) else 1
    if args.format == "json":
        print(_dumps({
            "payloads": n,
            "problems": [
                {"path": p.path, "message": p.message, "rule": p.rule, "ocppError": p.ocpp_error}
                for p in problems
            ],
        }))
    else:
        for p in problems:
            extra = f" -> {p.ocpp_error}" if p.ocpp_error else ""
            print(f"{p.path or '$'}: {p.message} [{p.rule}]{extra}")
        if problems:
            print(f"{len(problems)} problem(s) in {n} payload(s)", file=sys.stderr)
        else:
            print(f"OK: {n} payload(s) valid")
    return EXIT_PROBLEMS if problems else EXIT_OK


# --------------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as a one-line reason, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``smartcharge`` command."""
    from smartcharge import __version__

    parser = _Parser(
        prog="smartcharge",
        description="OCPP 2.0.1 smart charging: composite schedules, payload checks, site plans.",
    )
    parser.add_argument("--version", action="version", version=f"smartcharge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    comp = sub.add_parser(
        "composite",
        help="the composite schedule of installed profiles (GetCompositeSchedule)",
        description="Merge installed ChargingProfiles into the limit that applies to one EVSE "
        "and print it as a GetCompositeScheduleResponse payload. PROFILES.json is either "
        '{"installed": {"<evseId>": [ChargingProfile, ...]}, "transactions": {"<evseId>": '
        '{"transactionId": ..., "startTime": ...}}, "evseIds": [...]} or a list of '
        '{"evseId": n, "chargingProfile": {...}}.',
    )
    comp.add_argument("profiles", metavar="PROFILES.json", help="installed profiles (- = stdin)")
    comp.add_argument("--evse", type=int, required=True, help="EVSE id (0 = the station)")
    comp.add_argument("--start", type=_datetime, required=True,
                      help="window start, RFC 3339 (e.g. 2024-01-01T08:00:00Z)")
    comp.add_argument("--duration", type=_duration, required=True,
                      help="window length: seconds, or e.g. 90m, 4h, 1d")
    comp.add_argument("--unit", choices=["A", "W"], required=True, help="unit of the result")
    comp.add_argument("--voltage", type=float, default=230.0,
                      help="phase-to-neutral supply voltage [V] (default 230)")
    comp.add_argument("--phases", type=int, choices=[1, 2, 3], default=3,
                      help="phases where no profile says (default 3)")
    comp.add_argument("--no-assume-transaction", action="store_true",
                      help="ignore Tx(Default) profiles on EVSEs without a transaction")
    comp.add_argument("--plot", metavar="FILE.png", help="also draw the schedule and its layers")
    comp.set_defaults(func=_cmd_composite)

    val = sub.add_parser(
        "validate",
        help="check SetChargingProfile payloads against the schema and the spec's rules",
        description="Check SetChargingProfileRequest payloads (one object or a list; a bare "
        "ChargingProfile object is accepted too). Prints each problem with its JSON path; "
        "exit status 1 if there is any.",
    )
    val.add_argument("payload", metavar="PAYLOAD.json", help="the payload(s) (- = stdin)")
    val.add_argument("--format", choices=["text", "json"], default="text")
    val.set_defaults(func=_cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 problems found, 2 mistakes)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UsageError as exc:
        print(f"smartcharge: error: {exc}", file=sys.stderr)
    except SmartChargeError as exc:
        print(f"smartcharge: error: {exc}", file=sys.stderr)
    except ImportError as exc:
        print(f"smartcharge: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("smartcharge: interrupted", file=sys.stderr)
        return 130
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
