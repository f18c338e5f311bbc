"""Every script in examples/ runs, exits 0, prints what it promises and writes nothing here."""

from __future__ import annotations

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
}
NEEDS_SHARED = {"caltech_replay.py"}


def test_every_example_is_checked() -> None:
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts == sorted(EXPECTED), "add the new example to EXPECTED"


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if script in NEEDS_SHARED:
        request.getfixturevalue("shared_dir")
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], cwd=tmp_path, capture_output=True,
        text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    for line in EXPECTED[script]:
        assert line in out.stdout, f"{script}: missing {line!r} in\n{out.stdout}"
    assert list(tmp_path.iterdir()) == [], f"{script} wrote into its working directory"
