"""The smartcharge command line: each command via main([...]) and once via a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from smartcharge.cli import PayloadProblem, load_installed, main, validate_requests


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
    assert lines[1].endswith("[OCPP:evseId>=0] -> CALLERROR PropertyConstraintViolation")
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
    assert isinstance(problems[0], PayloadProblem)
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


# ------------------------------------------------------------------------------ plan, demo
PROBLEM = {
    "horizon": {"start": "2024-01-01T00:00:00Z", "step_s": 3600, "n_steps": 4},
    "nodes": [{"id": "grid", "max_power_w": 11040}],
    "evses": [{"id": "e1", "node": "grid", "max_current_a": 16},
              {"id": "e2", "node": "grid", "max_current_a": 16}],
    "sessions": [
        {"id": "s1", "evse": "e1", "arrival": "2024-01-01T00:00:00Z",
         "departure": "2024-01-01T02:00:00Z", "energy_wh": 11040, "transaction_id": "t1"},
        {"id": "s2", "evse": "e2", "arrival": "2024-01-01T00:00:00Z",
         "departure": "2024-01-01T04:00:00Z", "energy_wh": 11040, "transaction_id": "t2"}],
    "tariff": {"price": [0.3, 0.3, 0.1, 0.1]},
}


def test_plan_writes_plan_and_profiles(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "problem.json", PROBLEM)
    out = tmp_path / "out"
    assert main(["plan", path, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "100.0% of 22.1 kWh delivered" in captured.out
    assert "0 limit violation(s)" in captured.out
    assert "wrote" in captured.err and "planning 2 session(s)" in captured.err
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert plan["metrics"]["violations"] == 0
    assert plan["metrics"]["energy_delivered_wh"] == pytest.approx(22080)
    assert [e["evse_id"] for e in plan["evses"]] == [1, 2]
    power = [e["power_w"] for e in plan["evses"]]
    # the grid holds 11040 W: the site never exceeds it; s1 must finish by 02:00
    assert all(a + b <= 11040 + 1e-6 for a, b in zip(*power, strict=True))
    assert sum(power[0][:2]) == pytest.approx(11040)
    requests = json.loads((out / "profiles.json").read_text(encoding="utf-8"))
    assert [r["evseId"] for r in requests] == [1, 2]
    assert requests[0]["chargingProfile"]["transactionId"] == "t1"
    assert requests[0]["chargingProfile"]["chargingProfilePurpose"] == "TxProfile"
    # the payloads pass the schema and K01
    assert validate_requests(requests, now=datetime(2024, 1, 1, tzinfo=timezone.utc)) == []


def test_plan_json_format_is_deterministic(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "problem.json", PROBLEM)
    outputs = []
    for k in range(2):
        assert main(["plan", path, "--out", str(tmp_path / f"o{k}"), "--format", "json",
                     "--unit", "W"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    doc = json.loads(outputs[0])
    assert doc["profiles"][0]["chargingProfile"]["chargingSchedule"][0][
        "chargingRateUnit"] == "W"
    assert (tmp_path / "o0" / "plan.json").read_bytes() == (
        tmp_path / "o1" / "plan.json").read_bytes()


def test_plan_bad_problem_names_the_field(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad = {**PROBLEM, "sessions": [{**PROBLEM["sessions"][0], "evse": "e9"}]}  # type: ignore[dict-item]
    path = _write(tmp_path, "problem.json", bad)
    assert main(["plan", path, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "smartcharge: error: sessions[0].evse: unknown EVSE 'e9' [known-evse]"
    assert not (tmp_path / "o").exists()


def test_ocpp_evse_ids() -> None:
    from smartcharge.cli import ocpp_evse_ids
    from smartcharge.optimizer import Problem

    named = Problem.model_validate(PROBLEM)
    assert ocpp_evse_ids(named) == {"e1": 1, "e2": 2}
    numbered = Problem.model_validate({
        **PROBLEM, "evses": [{"id": "7", "node": "grid", "max_current_a": 16}],
        "sessions": []})
    assert ocpp_evse_ids(numbered) == {"7": 7}


def test_demo_compares_optimizer_and_baselines(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--evses", "12"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split() == ["method", "energy", "kWh", "share", "cost", "peak", "kW",
                                "limit", "violations"]
    methods = [line[:24].strip() for line in lines[2:7]]
    assert methods == ["optimizer", "uncontrolled", "equal share",
                       "earliest deadline first", "least laxity first"]
    rows = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    by = {r["method"]: r for r in rows}
    assert by["optimizer"]["violations"] == 0
    assert by["uncontrolled"]["violations"] > 0  # the congested morning
    assert by["optimizer"]["cost"] < by["equal share"]["cost"]  # it avoids the price peak
    assert by["optimizer"]["peak_kw"] <= 12 * 7.0 + 1e-6  # under the 84 kW transformer
    for name in ("profiles.json", "plan.json", "problem.json", "site-load.png",
                 "site-load-uncontrolled.png"):
        assert (out / name).is_file(), name
        assert name in captured.out
    assert (out / "site-load.png").read_bytes()[:4] == b"\x89PNG"
    assert "[1/5] optimizer" in captured.err
    requests = json.loads((out / "profiles.json").read_text(encoding="utf-8"))
    purposes = [(r["evseId"], r["chargingProfile"]["chargingProfilePurpose"],
                 r["chargingProfile"]["stackLevel"]) for r in requests]
    assert purposes == [(e, p, k) for e in range(1, 13)
                        for p, k in (("TxDefaultProfile", 0), ("TxProfile", 1))]
    assert "24 SetChargingProfile payloads (12 offline-safe fallback" in captured.out
    assert validate_requests(requests, now=datetime(2024, 3, 4, tzinfo=timezone.utc)) == []


def test_demo_without_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "--evses", "3", "--no-plot"]) == 0
    assert "no plot (--no-plot)" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.png"))
    assert main(["demo", "--evses", "0"]) == 2


def test_demo_subprocess_is_the_readme_command(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "smartcharge", "demo", "--evses", "8",
                          "--no-plot"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert "optimizer" in run.stdout
    assert (tmp_path / "smartcharge-out" / "profiles.json").is_file()


def test_demo_says_when_matplotlib_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "smartcharge.plot", None)  # import fails like no mpl
    assert main(["demo", "--out", str(tmp_path), "--evses", "3"]) == 0
    assert "no plot: matplotlib is not installed" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.png"))


def test_validate_uses_the_adapter_for_the_whole_request() -> None:
    problems = validate_requests(
        [{"evseId": 1, "chargingProfile": TX_DEFAULT, "customData": {"x": 1}}], now=NOW)
    assert [(p.path, p.answer.split()[0]) for p in problems] == [
        ("[0].customData.vendorId", "CALLERROR")]


def test_composite_explain_names_the_binding_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tx = _profile(3, "TxProfile", [(0, 10.0)], stack=1, transactionId="t-1")
    doc = {"installed": {"0": [STATION_MAX], "1": [TX_DEFAULT, tx]},
           "transactions": {"1": {"transactionId": "t-1", "startTime": "2024-01-01T07:00:00Z"}}}
    path = _write(tmp_path, "p.json", doc)
    assert main(["composite", path, "--evse", "1", *COMPOSITE_ARGS, "--explain"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # stdout stays pure JSON
    lines = captured.err.splitlines()
    assert lines == [
        "2024-01-01T08:00:00Z  10.0 A  <-  EVSE 1 #2 TxDefaultProfile L0: 16.0 A; "
        "*EVSE 1 #3 TxProfile L1: 10.0 A;  EVSE 0 #1 ChargingStationMaxProfile L0: 32.0 A",
        "2024-01-01T10:00:00Z  6.0 A  <-  EVSE 1 #2 TxDefaultProfile L0: 16.0 A; "
        " EVSE 1 #3 TxProfile L1: 10.0 A; *EVSE 0 #1 ChargingStationMaxProfile L0: 6.0 A",
    ]


def test_composite_explain_without_profiles(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "p.json", {"installed": {"1": []}})
    assert main(["composite", path, "--evse", "1", *COMPOSITE_ARGS, "--explain"]) == 0
    assert capsys.readouterr().err.strip() == (
        "2024-01-01T08:00:00Z  32.0 A  <- no profile: the default limit")


def test_subprocess_plan_via_the_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "smartcharge"
    if not script.is_file():
        pytest.skip("the smartcharge console script is not installed next to this Python")
    path = _write(tmp_path, "problem.json", PROBLEM)
    run = subprocess.run([str(script), "plan", path, "--out", str(tmp_path / "o"),
                          "--format", "json"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["plan"]["metrics"]["violations"] == 0
    assert len(doc["profiles"]) == 2


def test_plan_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    path = _write(tmp_path, "problem.json", PROBLEM)
    png = tmp_path / "pics" / "plan.png"
    assert main(["plan", path, "--out", str(tmp_path / "o"), "--plot", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert f"wrote {png}" in capsys.readouterr().err


V16_TX = {"connectorId": 1, "csChargingProfiles": {
    "chargingProfileId": 5, "stackLevel": 1, "transactionId": 42,
    "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
    "chargingSchedule": {"chargingRateUnit": "A",
                         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}}}


def test_validate_ocpp16_payloads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    relative_max = {"connectorId": 0, "csChargingProfiles": {
        **V16_TX["csChargingProfiles"], "chargingProfileId": 6, "stackLevel": 0,  # type: ignore[dict-item]
        "chargingProfilePurpose": "ChargePointMaxProfile"}}
    del relative_max["csChargingProfiles"]["transactionId"]  # type: ignore[attr-defined]
    bad_limit = json.loads(json.dumps(V16_TX))
    bad_limit["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0][
        "limit"] = 10.05
    path = _write(tmp_path, "v16.json", [V16_TX, relative_max, bad_limit])
    assert main(["validate", path, "--ocpp", "1.6", *NOW_ARG]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "[1].csChargingProfiles.chargingProfileKind",
        "[2].csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0].limit",
    ]
    assert "[K01.FR.38] -> Rejected" in lines[0]
    ok = _write(tmp_path, "ok.json", V16_TX)
    assert main(["validate", ok, "--ocpp", "1.6", *NOW_ARG]) == 0
    # a 2.0.1 reading of a 1.6 payload names the 2.0.1 fields it misses
    assert main(["validate", ok, *NOW_ARG]) == 1
