"""The smartcharge command line: each command via main([...]) and once via a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from smartcharge.cli import Problem, load_installed, main, validate_requests


def _profile(pid: int, purpose: str, periods: list[tuple[int, float]], *, stack: int = 0,
             unit: str = "A", **extra: Any) -> dict[str, Any]:
    return {
        "id": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute", **extra,
        "chargingSchedule": [{"id": pid, "chargingRateUnit": unit,
                              "startSchedule": "2024-01-01T08:00:00Z",
                              "chargingSchedulePeriod": [
                                  {"startPeriod": s, "limit": v} for s, v in periods]}]}


STATION_MAX = _profile(1, "ChargingStationMaxProfile", [(0, 32.0), (7200, 6.0)])
TX_DEFAULT = _profile(2, "TxDefaultProfile", [(0, 16.0)])
COMPOSITE_ARGS = ["--start", "2024-01-01T08:00:00Z", "--duration", "4h", "--unit", "A"]


def _write(tmp_path: Path, name: str, doc: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


# ------------------------------------------------------------------------------ composite
@pytest.mark.parametrize("form", ["installed", "requests"])
def test_composite_prints_get_composite_schedule_response(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    doc: object
    if form == "installed":
        doc = {"installed": {"0": [STATION_MAX], "1": [TX_DEFAULT]}}
    else:
        doc = [{"evseId": 0, "chargingProfile": STATION_MAX},
               {"evseId": 1, "chargingProfile": TX_DEFAULT}]
    path = _write(tmp_path, "p.json", doc)
    assert main(["composite", path, "--evse", "1", *COMPOSITE_ARGS]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "Accepted"
    sched = out["schedule"]
    assert sched["evseId"] == 1 and sched["duration"] == 14400
    assert sched["scheduleStart"] == "2024-01-01T08:00:00Z"
    assert [(p["startPeriod"], p["limit"]) for p in sched["chargingSchedulePeriod"]] == [
        (0, 16.0), (7200, 6.0)]


def test_composite_in_watts_with_voltage_and_transactions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tx = _profile(3, "TxProfile", [(0, 10.0)], stack=1, transactionId="t-1")
    doc = {"installed": {"1": [TX_DEFAULT, tx]},
           "transactions": {"1": {"transactionId": "t-1", "startTime": "2024-01-01T07:00:00Z"}},
           "evseIds": [1, 2]}
    path = _write(tmp_path, "p.json", doc)
    assert main(["composite", path, "--evse", "1", "--start", "2024-01-01T08:00:00Z",
                 "--duration", "3600", "--unit", "W", "--voltage", "240",
                 "--no-assume-transaction"]) == 0
    sched = json.loads(capsys.readouterr().out)["schedule"]
    assert sched["chargingRateUnit"] == "W"
    assert sched["chargingSchedulePeriod"][0]["limit"] == 10.0 * 240 * 3


def test_composite_writes_a_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    path = _write(tmp_path, "p.json", {"installed": {"0": [STATION_MAX], "1": [TX_DEFAULT]}})
    png = tmp_path / "sub" / "c.png"
    assert main(["composite", path, "--evse", "1", *COMPOSITE_ARGS, "--plot", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert str(png) in capsys.readouterr().err


@pytest.mark.parametrize(
    ("doc", "argv", "message"),
    [
        ({"installed": {"0": [STATION_MAX]}}, ["--evse", "3"], "unknown EVSE 3"),
        ({"installed": {"x": [STATION_MAX]}}, ["--evse", "0"], "installed.x"),
        ({"installed": {"1": [{**TX_DEFAULT, "stackLevel": -1}]}}, ["--evse", "1"],
         "installed.1[0].stackLevel"),
        ({"profiles": []}, ["--evse", "1"], "unknown key 'profiles'"),
        ([{"evseId": 1}], ["--evse", "1"], "[0]: needs evseId and chargingProfile"),
        ({"installed": {"1": [TX_DEFAULT]}, "transactions": {"1": {"transactionId": "a"}}},
         ["--evse", "1"], "transactions.1.startTime"),
        ("text", ["--evse", "1"], "must be an object"),
    ],
)
def test_composite_bad_input_is_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: object, argv: list[str],
    message: str,
) -> None:
    path = _write(tmp_path, "p.json", doc)
    assert main(["composite", path, *argv, *COMPOSITE_ARGS]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("smartcharge: error:") and "\n" not in err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--start", "yesterday", "--duration", "60", "--unit", "A"], "--start"),
        (["--start", "2024-01-01T00:00:00Z", "--duration", "4 hours", "--unit", "A"],
         "not a duration"),
        (["--start", "2024-01-01T00:00:00Z", "--duration", "60", "--unit", "kW"], "--unit"),
    ],
)
def test_composite_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    path = _write(tmp_path, "p.json", {"installed": {"1": [TX_DEFAULT]}})
    assert main(["composite", path, "--evse", "1", *argv]) == 2
    assert message in capsys.readouterr().err


def test_missing_file_and_bad_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    assert main(["validate", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_load_installed_keeps_request_order() -> None:
    installed, txs, ids = load_installed([
        {"evseId": 1, "chargingProfile": TX_DEFAULT},
        {"evseId": 1, "chargingProfile": {**TX_DEFAULT, "id": 9}},
    ])
    assert [p.id for p in installed[1]] == [2, 9]
    assert txs == {} and ids is None


# ------------------------------------------------------------------------------- validate
NOW = datetime(2024, 1, 1, 7, tzinfo=timezone.utc)
NOW_ARG = ["--now", "2024-01-01T07:00:00Z"]


def test_validate_accepts_good_payloads(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "ok.json", [{"evseId": 1, "chargingProfile": TX_DEFAULT},
                                        {"evseId": 0, "chargingProfile": STATION_MAX}])
    assert main(["validate", path, *NOW_ARG]) == 0
    assert "OK: 2 payload(s) valid" in capsys.readouterr().out
    single = _write(tmp_path, "one.json", {"evseId": 1, "chargingProfile": TX_DEFAULT})
    assert main(["validate", single]) == 0
    bare = _write(tmp_path, "bare.json", TX_DEFAULT)
    assert main(["validate", bare, *NOW_ARG]) == 0


def test_validate_reports_every_problem_with_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_limit = _profile(4, "TxDefaultProfile", [(0, 16.05)])
    doc = [
        {"evseId": -1, "chargingProfile": TX_DEFAULT, "extra": 1},
        {"evseId": 1, "chargingProfile": bad_limit},
        {"evseId": 1, "chargingProfile": {**TX_DEFAULT, "chargingProfilePurpose": "Fast"}},
        {"evseId": 1, "chargingProfile": TX_DEFAULT},
        {"evseId": 0, "chargingProfile": _profile(5, "TxProfile", [(0, 8.0)],
                                                  transactionId="t")},
    ]
    path = _write(tmp_path, "bad.json", doc)
    assert main(["validate", path, *NOW_ARG]) == 1
    lines = capsys.readouterr().out.splitlines()
    paths = [line.split(":")[0] for line in lines]
    assert paths == [
        "[0].extra", "[0].evseId",
        "[1].chargingProfile.chargingSchedule[0].chargingSchedulePeriod[0].limit",
        "[2].chargingProfile.chargingProfilePurpose",
        "[4].chargingProfile.chargingProfilePurpose",
    ]
    assert lines[1].endswith("[schema:minimum] -> CALLERROR PropertyConstraintViolation")
    assert "-> Rejected (" in lines[4]


def test_validate_applies_k01_rules_in_order(tmp_path: Path) -> None:
    periods_out_of_order = _profile(6, "TxDefaultProfile", [(0, 16.0), (0, 8.0)])
    clash = {**TX_DEFAULT, "id": 7}  # same purpose, EVSE and stack level, overlapping
    replace = {**TX_DEFAULT, "chargingSchedule": STATION_MAX["chargingSchedule"]}  # same id
    problems = validate_requests(
        [{"evseId": 1, "chargingProfile": TX_DEFAULT},
         {"evseId": 1, "chargingProfile": replace},
         {"evseId": 1, "chargingProfile": clash},
         {"evseId": 2, "chargingProfile": periods_out_of_order}],
        now=NOW,
    )
    assert [(p.path, p.rule) for p in problems] == [
        ("[2].chargingProfile.stackLevel", "K01.FR.06"),
        ("[3].chargingProfile.chargingSchedule[0].chargingSchedulePeriod[1].startPeriod",
         "K01.FR.35"),
    ]
    assert all(p.answer.startswith("Rejected (") for p in problems)
    assert "(K01" not in problems[1].message  # the rule is printed once, in brackets


def test_validate_now_decides_validity(tmp_path: Path) -> None:
    expired = {**TX_DEFAULT, "validTo": "2024-01-01T00:00:00Z"}
    assert validate_requests({"evseId": 1, "chargingProfile": expired},
                             now=datetime(2023, 12, 31, tzinfo=timezone.utc)) == []
    late = validate_requests({"evseId": 1, "chargingProfile": expired}, now=NOW)
    assert len(late) == 1 and late[0].answer.startswith("Rejected")


def test_validate_json_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "bad.json", {"evseId": "1", "chargingProfile": TX_DEFAULT})
    assert main(["validate", path, "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["payloads"] == 1
    assert out["problems"] == [{"path": "evseId", "message": "must be an integer, got str",
                                "rule": "schema:type",
                                "answer": "CALLERROR TypeConstraintViolation"}]


@pytest.mark.parametrize(
    ("doc", "path"),
    [([], None), ([3], "[0]"), ({"evseId": 1}, "chargingProfile"),
     ({"chargingProfile": TX_DEFAULT}, "evseId")],
)
def test_validate_requests_edge_cases(doc: object, path: str | None) -> None:
    problems = validate_requests(doc, now=NOW)
    assert len(problems) == 1
    assert isinstance(problems[0], Problem)
    assert problems[0].path == path
    assert problems[0].answer.startswith("CALLERROR")


# ---------------------------------------------------------------------------------- misc
def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert "smartcharge" in capsys.readouterr().out
    assert main([]) == 2
    assert main(["composite", "--help"]) == 0
    assert "PROFILES.json" in capsys.readouterr().out


def test_subprocess_console_script_and_module(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.json", [{"evseId": 1, "chargingProfile": TX_DEFAULT}])
    ok = subprocess.run([sys.executable, "-m", "smartcharge", "validate", path],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "OK: 1 payload(s) valid" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "smartcharge", "composite", path, "--evse", "7",
                          *COMPOSITE_ARGS], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "smartcharge: error: evseId: unknown EVSE 7 [K08.FR.05]"
