"""Every script in examples/ runs, exits 0, prints what it promises and writes nothing here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# script -> lines (substrings) its output must contain
EXPECTED: dict[str, list[str]] = {
    "parse_and_validate.py": [
        "parsed profile 10: TxDefaultProfile, stack level 0, limits [16.0, 10.0] A",
        "[OCPP:one-digit-fraction] -> CALLERROR PropertyConstraintViolation",
        "on an empty station: {'status': 'Accepted'}",
        "a second profile at the same level: Rejected (DuplicateProfile, K01.FR.06)",
    ],
    "composite_schedule.py": [
        "EVSE 1: from +0 min 10.0 A, from +60 min 32.0 A",
        "EVSE 2: from +0 min 16.0 A",
        "EVSE 0: from +0 min 26.0 A, from +60 min 48.0 A, from +120 min 36.2 A",
        '"limit": 6900.0',
    ],
    "depot_overnight.py": [
        "uncontrolled: ",
        "van12        80.0     80.0",
    ],
    "workplace_price_peak.py": [
        "20 sessions want",
        "kWh in peak",
        "earliest deadline first",
        "busiest EVSE",
    ],
    "reconcile_replan.py": [
        "07:00 0 session(s): 0 Set, 0 Clear, 0 bytes",
        "in 25 re-plans; 7 profiles installed",
    ],
    "csms_controller.py": [
        "CSMS on ws://127.0.0.1:",
        "TxDefaultProfile evse 1: 0.0 A: Accepted",
        " 0 pending",
        "stations: {'cs16': False, 'cs201': False}",
    ],
    "caltech_replay.py": [
        "2019-03-05: 38 sessions want 310 kWh; 50 kW transformer",
        "least laxity first",
    ],
    "solar_controller.py": [
        "420 minutes, surplus ",
        "starts profiles  PV kWh grid kWh  time s",
        "hysteresis 5 / 10 min",
        "no hysteresis",
    ],
    "solar_home_battery.py": [
        "PV from pvlib's TMY3 (Greensboro NC), 2024-06-08 and the day after",
        "2 cars want 75 kWh in 4 sessions",
        "rule-based, no battery",
    ],
}
# regular expressions the output must match (beyond the plain lines above)
PATTERNS: dict[str, list[str]] = {
    "depot_overnight.py": [r"(?m)^optimizer: +[A-Z]+: 100\.0% of 875\.0 kWh, cost [\d.]+, "
                           r"peak 300\.0 kW, 0 violations$",
                           r"saved \d+\.\d\d \(\d+%\) on the night"],
    # the optimizer keeps every limit (peak at most the 140 kW transformer, 0 violations)
    "workplace_price_peak.py": [r"(?m)^optimizer +\S+ +\S+ +(1[0-3]\d|140)\.\d +\S+ +0$",
                                r"(?m)^uncontrolled +.* +[1-9]\d*$"],
    # once sessions are known, re-plans without news send nothing; an arrival sends Sets
    "reconcile_replan.py": [r"(?m)^\d\d:\d\d [1-9] session\(s\): 0 Set, 0 Clear, 0 bytes$",
                            r"(?m)^\d\d:\d\d [1-9] session\(s\): [1-9] Set, 0 Clear, \d+ bytes$"],
    # both protocols get TxProfiles through the controller, and the stations accept them
    "csms_controller.py": [r"(?m)^csms -> cs16 \(1\.6\) cs16#\d+ TxProfile evse 1: [\d.]+ A: "
                           r"Accepted$",
                           r"(?m)^csms -> cs201 \(2\.0\.1\) cs201#\d+ TxProfile evse 2: [\d.]+ A: "
                           r"Accepted$"],
    # the optimizer's plans keep every rule; the battery raises self-consumption
    "solar_home_battery.py": [r"(?m)^optimizer +[\d.]+ +[\d.]+ +[\d.]+ +9\d\.\d% .* 0$",
                              r"(?m)^optimizer, no battery +[\d.]+ +[\d.]+ +[\d.]+ +[1-8]\d\.\d%"
                              r" .* 0$"],
    "caltech_replay.py": [r"(?m)^optimizer +delivered .* violations +0 ",
                          r"(?m)^uncontrolled +delivered .* violations +[1-9]\d* "],
}
NEEDS_SHARED = {"caltech_replay.py"}
NEEDS_PVLIB = {"solar_home_battery.py"}


def test_every_example_is_checked() -> None:
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts == sorted(EXPECTED), "add the new example to EXPECTED"


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if script in NEEDS_SHARED:
        request.getfixturevalue("shared_dir")  # skips without ../shared
    if script in NEEDS_PVLIB:
        pytest.importorskip("pvlib")  # the solar extra (in dev: CI runs it)
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], cwd=tmp_path, capture_output=True,
        text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    for line in EXPECTED[script]:
        assert line in out.stdout, f"{script}: missing {line!r} in\n{out.stdout}"
    for pattern in PATTERNS.get(script, []):
        assert re.search(pattern, out.stdout), f"{script}: no match for {pattern!r} in\n" \
            f"{out.stdout}"
    assert list(tmp_path.iterdir()) == [], f"{script} wrote into its working directory"


def test_caltech_replay_says_where_the_data_should_be(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "caltech_replay.py"), str(tmp_path / "absent")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 2
    assert "the Caltech ACN data are not at" in out.stderr


def test_workplace_optimizer_charges_less_in_the_price_peak(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(EXAMPLES / "workplace_price_peak.py")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    in_peak = {}
    for line in out.stdout.splitlines():
        for name in ("optimizer", "equal share", "earliest deadline first"):
            if line.startswith(name + " "):
                in_peak[name] = float(line.split()[-2])
    assert in_peak["optimizer"] < min(in_peak["equal share"], in_peak["earliest deadline first"])


def test_solar_controller_hysteresis_starts_the_car_less_often(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(EXAMPLES / "solar_controller.py")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    starts = {}
    for line in out.stdout.splitlines():
        for name in ("hysteresis 5 / 10 min", "hysteresis 5 / 2 min", "no hysteresis"):
            if line.startswith(name + " "):
                starts[name] = float(line[len(name):].split()[0])
    dips = int(out.stdout.split(" dips below")[0].rsplit(" ", 1)[1])
    assert starts["hysteresis 5 / 10 min"] <= starts["hysteresis 5 / 2 min"]
    assert starts["hysteresis 5 / 2 min"] < starts["no hysteresis"] <= dips + 1
