"""The ``smartcharge`` command line (the only module of the package that touches files).

Commands
--------
``smartcharge demo [--out DIR]``
    Plans an embedded workplace site with the optimizer and the baselines, prints the
    comparison and writes the OCPP payloads, the plan and a picture.
``smartcharge plan PROBLEM.json [--out DIR] [--format table|json]``
    The optimizer on a problem (the JSON of :class:`smartcharge.optimizer.Problem`); writes
    ``plan.json`` and ``profiles.json``.
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
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from smartcharge.composite import composite_schedule
from smartcharge.errors import SmartChargeError
from smartcharge.explain import explain_composite
from smartcharge.model import (
    parse_datetime,
)
from smartcharge.ocpp import v201
from smartcharge.ocpp.check import PayloadProblem, validate_requests
from smartcharge.ocpp.installed import load_installed
from smartcharge.ocpp.plans import initial_requests, ocpp_evse_ids, profile_requests
from smartcharge.optimizer.export import comparison_rows, plan_to_json

if TYPE_CHECKING:
    from smartcharge.optimizer import Plan

# the library functions the commands use, importable from here as before
__all__ = [
    "PayloadProblem",
    "comparison_rows",
    "explain_composite",
    "initial_requests",
    "load_installed",
    "main",
    "ocpp_evse_ids",
    "plan_to_json",
    "profile_requests",
    "validate_requests",
]

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


# ------------------------------------------------------------------- composite
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
    print(_dumps(v201.get_composite_schedule_response("Accepted", schedule=result)))
    if args.explain:
        for line in explain_composite(result, installed, transactions=transactions,
                                      supply_voltage=args.voltage,
                                      default_number_phases=args.phases):
            print(line, file=sys.stderr)
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
def _cmd_validate(args: argparse.Namespace) -> int:
    doc = _read_json(args.payload)
    now: datetime = args.now if args.now is not None else datetime.now(timezone.utc)
    problems = validate_requests(doc, now=now, version=args.ocpp)
    n = len(doc) if isinstance(doc, list) else 1
    if args.format == "json":
        print(_dumps({"payloads": n, "problems": [p.to_json_dict() for p in problems]}))
    else:
        for p in problems:
            print(f"{p.path or '$'}: {p.message} [{p.rule}] -> {p.answer}")
        if problems:
            print(f"{len(problems)} problem(s) in {n} payload(s)", file=sys.stderr)
        else:
            print(f"OK: {n} payload(s) valid")
    return EXIT_PROBLEMS if problems else EXIT_OK


# ---------------------------------------------------------------------------------- plan
def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _plan_table(plan: Plan, n_violations: int) -> str:
    rows = [f"{'session':<12} {'EVSE':<12} {'needed kWh':>10} {'delivered kWh':>13} "
            f"{'share':>7}"]
    for k, sess in enumerate(plan.problem.sessions):
        got = float(plan.energy_wh[k])
        share = 1.0 if sess.energy_wh <= 0 else got / sess.energy_wh
        rows.append(f"{sess.id:<12} {sess.evse:<12} {sess.energy_wh / 1000:>10.1f} "
                    f"{got / 1000:>13.1f} {share:>7.1%}")
    rows.append("")
    rows.append(
        f"{plan.status}: {plan.share_delivered:.1%} of {plan.energy_needed_wh / 1000:.1f} kWh "
        f"delivered, cost {plan.cost:.2f}, peak {plan.peak_w / 1000:.1f} kW, "
        f"{n_violations} limit violation(s)"
    )
    return "\n".join(rows)


def _save_json(out_dir: Path, name: str, doc: object) -> Path:
    path = out_dir / name
    _write_text(path, _dumps(doc) + "\n")
    return path


def _cmd_plan(args: argparse.Namespace) -> int:
    from smartcharge.optimizer import Problem, optimize

    raw = _read_json(args.problem)
    problem = Problem.model_validate(raw)
    h = problem.horizon
    _progress(f"planning {len(problem.sessions)} session(s) on {len(problem.evses)} EVSE(s), "
              f"{h.n_steps} steps of {h.step_s} s ...")
    plan = optimize(problem, time_limit_s=args.time_limit)
    _progress(f"  {plan.status} in {plan.timings.total:.2f} s")
    numbers = ocpp_evse_ids(problem)
    doc = plan_to_json(plan, numbers)
    requests = profile_requests(plan, numbers, args.unit)
    out_dir = Path(args.out)
    plan_path = _save_json(out_dir, "plan.json", doc)
    prof_path = _save_json(out_dir, "profiles.json", requests)
    if args.format == "json":
        print(_dumps({"plan": doc, "profiles": requests}))
    else:
        print(_plan_table(plan, len(doc["violations"])))
    _progress(f"wrote {plan_path} and {prof_path} ({len(requests)} SetChargingProfile "
              f"payload(s))")
    if args.plot:
        from smartcharge.plot import plot_plan

        png = Path(args.plot)
        try:
            png.parent.mkdir(parents=True, exist_ok=True)
            plot_plan(plan).savefig(png)
        except OSError as exc:
            raise UsageError(f"cannot write {png}: {exc.strerror or exc}") from None
        _progress(f"wrote {png}")
    return EXIT_OK


# ---------------------------------------------------------------------------------- demo
_METHOD_NAMES = {
    "uncontrolled": "uncontrolled",
    "equal_share": "equal share",
    "edf": "earliest deadline first",
    "llf": "least laxity first",
}


def format_comparison(rows: Sequence[Mapping[str, Any]]) -> str:
    """The comparison rows as a text table."""
    width = max(len("method"), *(len(str(r["method"])) for r in rows))
    lines = [f"{'method':<{width}}  {'energy kWh':>10}  {'share':>7}  {'cost':>9}  "
             f"{'peak kW':>8}  {'limit violations':>16}"]
    lines.append("-" * len(lines[0]))
    for r in rows:
        lines.append(
            f"{r['method']:<{width}}  {r['energy_kwh']:>10.1f}  {r['share_delivered']:>7.1%}  "
            f"{r['cost']:>9.2f}  {r['peak_kw']:>8.1f}  {r['violations']:>16d}"
        )
    return "\n".join(lines)


def _cmd_demo(args: argparse.Namespace) -> int:
    import time

    from smartcharge.optimizer import optimize
    from smartcharge.optimizer.baselines import BASELINES
    from smartcharge.synthetic import workplace_site

    if args.evses < 1:
        raise UsageError(f"--evses must be at least 1, got {args.evses}")
    problem = workplace_site(n_evse=args.evses, seed=args.seed)
    root = problem.nodes[0]
    _progress(
        f"workplace site: {len(problem.evses)} EVSEs on {len(problem.nodes) - 1} feeders behind "
        f"a {problem.series(root.max_power_w)[0] / 1000:.0f} kW transformer, "
        f"{len(problem.sessions)} sessions (mass arrival around 08:00), price peak "
        f"17:00-21:00 UTC, {problem.horizon.n_steps} steps of {problem.horizon.step_s // 60} min"
    )
    plans: dict[str, Plan] = {}
    started = time.perf_counter()
    _progress(f"[1/{len(BASELINES) + 1}] optimizer ...")
    plans["optimizer"] = optimize(problem)
    _progress(f"      {plans['optimizer'].status} in {time.perf_counter() - started:.2f} s")
    for k, (key, policy) in enumerate(BASELINES.items(), start=2):
        name = _METHOD_NAMES.get(key, key)
        t0 = time.perf_counter()
        _progress(f"[{k}/{len(BASELINES) + 1}] {name} ...")
        plans[name] = policy(problem)
        _progress(f"      done in {time.perf_counter() - t0:.2f} s")
    rows = comparison_rows(plans)
    print(format_comparison(rows))

    out_dir = Path(args.out)
    numbers = ocpp_evse_ids(problem)
    best = plans["optimizer"]
    requests = initial_requests(best, numbers)
    n_fallback = sum(1 for r in requests
                     if r["chargingProfile"]["chargingProfilePurpose"] == "TxDefaultProfile")
    written = [
        _save_json(out_dir, "profiles.json", requests),
        _save_json(out_dir, "plan.json", plan_to_json(best, numbers)),
        _save_json(out_dir, "comparison.json", rows),
        _save_json(out_dir, "problem.json", problem.model_dump(mode="json")),
    ]
    if args.no_plot:
        note = "no plot (--no-plot)"
    else:
        try:
            from smartcharge.plot import plot_plan

            for name, file in (("optimizer", "site-load.png"),
                               ("uncontrolled", "site-load-uncontrolled.png")):
                if name not in plans:
                    continue
                plan = plans[name]
                fig = plot_plan(plan, title=(
                    f"{name}: {plan.share_delivered:.1%} of "
                    f"{plan.energy_needed_wh / 1000:.0f} kWh, cost {plan.cost:.2f}, "
                    f"peak {plan.peak_w / 1000:.0f} kW"))
                path = out_dir / file
                try:
                    fig.savefig(path)
                except OSError as exc:
                    raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
                written.append(path)
            note = ""
        except ImportError:
            note = 'no plot: matplotlib is not installed (pip install "smartcharge[plot]")'
    print()
    print(f"{len(requests)} SetChargingProfile payloads ({n_fallback} offline-safe fallback "
          f"TxDefaultProfiles at stack level 0, {len(requests) - n_fallback} TxProfiles of the "
          f"plan at stack level 1, in A) and the plan written to {out_dir}/:")
    for path in written:
        print(f"  {path.name}")
    if note:
        print(note)
    return EXIT_OK


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
    comp.add_argument("--explain", action="store_true",
                      help="also print, on stderr, each period's limit and every profile's "
                      "limit at its start (* = the binding ones)")
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
    val.add_argument("--ocpp", choices=["2.0.1", "1.6"], default="2.0.1",
                     help="OCPP version of the payloads (1.6: SetChargingProfile.req)")
    val.add_argument("--now", type=_datetime, default=None,
                     help="the station's clock for validity checks (default: the current time)")
    val.set_defaults(func=_cmd_validate)

    plan = sub.add_parser(
        "plan",
        help="run the optimizer on a problem; write the plan and its OCPP profiles",
        description="Read a site allocation problem (the JSON of smartcharge.optimizer.Problem), "
        "optimize it, print the result, and write plan.json and profiles.json (the "
        "SetChargingProfileRequest payloads) into --out.",
    )
    plan.add_argument("problem", metavar="PROBLEM.json", help="the problem (- = stdin)")
    plan.add_argument("--out", default="smartcharge-out", metavar="DIR",
                      help="output directory (default ./smartcharge-out)")
    plan.add_argument("--format", choices=["table", "json"], default="table",
                      help="what to print: a table of sessions, or the plan and profiles as JSON")
    plan.add_argument("--unit", choices=["A", "W"], default="A", help="unit of the profiles")
    plan.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                      help="solver time limit (a safe fallback plan when it runs out)")
    plan.add_argument("--plot", metavar="FILE.png",
                      help="also draw the site load per EVSE under the root limit, with the price")
    plan.set_defaults(func=_cmd_plan)

    demo = sub.add_parser(
        "demo",
        help="plan an embedded workplace site with the optimizer and the baselines",
        description="Generate a workplace site (seeded, deterministic): EVSEs behind a "
        "transformer, a mass arrival around 08:00 and a 17:00-21:00 price peak. Plan it with "
        "the optimizer and with the baselines, print the comparison, and write the OCPP "
        "SetChargingProfile payloads, the plan and a picture into --out.",
    )
    demo.add_argument("--out", default="smartcharge-out", metavar="DIR",
                      help="output directory (default ./smartcharge-out)")
    demo.add_argument("--evses", type=int, default=40, help="number of EVSEs (default 40)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the site (default 0)")
    demo.add_argument("--no-plot", action="store_true", help="do not draw the PNG")
    demo.set_defaults(func=_cmd_demo)
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
