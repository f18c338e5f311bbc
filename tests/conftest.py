"""Shared pytest configuration: hypothesis profiles and the path to ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from shared_data import SHARED, missing

# Profiles (HYPOTHESIS_PROFILE=name):
# - "default": fast and reproducible -- the examples are derived from each test's name
#   (derandomize), so a bug is caught in every run or in none, never by luck of the draw;
# - "ci": the same, with more examples (what CI runs);
# - "nightly" (alias "thorough"): many random examples for a benchmark-style hunt (not
#   reproducible run to run: hypothesis prints the failing example and a reproduce blob).
settings.register_profile("default", max_examples=40, deadline=None, derandomize=True)
settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
for _name in ("nightly", "thorough"):
    settings.register_profile(
        _name,
        max_examples=1000,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        print_blob=True,
    )
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the project root; tests using it skip cleanly when it is absent
    (and fail under CI, where it is always present)."""
    if not SHARED.is_dir():
        missing("../shared (beside the project root)")
    return SHARED
