"""The exception family."""

from __future__ import annotations

import pickle

import pytest

import smartcharge.errors as errors


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_a_smartcharge_error_and_a_builtin(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, errors.SmartChargeError)
    if cls is not errors.SmartChargeError:
        assert issubclass(cls, (ValueError, RuntimeError, ImportError))


def test_message_names_path_and_rule_and_pickles() -> None:
    err = errors.InvalidPayloadError(
        "must increase", path="chargingSchedule[0].chargingSchedulePeriod[3].startPeriod",
        rule="K01.FR.35", ocpp_error="PropertyConstraintViolation",
    )
    text = str(err)
    assert "chargingSchedule[0].chargingSchedulePeriod[3].startPeriod" in text
    assert "K01.FR.35" in text
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is errors.InvalidPayloadError
    assert (again.path, again.rule, again.ocpp_error) == (err.path, err.rule, err.ocpp_error)
