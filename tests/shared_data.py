"""``../shared`` (conformance cases, Caltech data) for the tests that need it.

A user's clone without ``../shared`` skips those tests cleanly, one skip line per test
that needs it (never a silent "empty parameter set"). Under CI (environment ``CI`` set to
``true``/``1``) ``../shared`` is always checked out, so its absence is a failure, not a skip.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def in_ci() -> bool:
    """Whether the tests run under CI (``CI=true``, as GitHub Actions and most CIs set)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(what: str) -> None:
    """Skip (a user's clone) or fail (CI) because ``what`` under ../shared is absent."""
    message = f"{what} is absent"
    if in_ci():
        pytest.fail(f"{message}; under CI it must be present", pytrace=False)
    pytest.skip(f"{message}: skipping")


def case_params(cases: Sequence[dict[str, Any]], what: str) -> list[Any]:
    """``cases`` as pytest params named by case; one placeholder param when there are none,
    so that the test still runs once and its ``../shared`` fixture skips or fails there."""
    if cases:
        return [pytest.param(c, id=c["name"]) for c in cases]
    return [pytest.param(None, id=f"{what}-absent")]
