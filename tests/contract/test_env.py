"""Settings read from the environment: a wrong value stops start-up with a readable error."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from sync_contract.env import env_int


def test_env_int_reads_a_whole_number_and_defaults_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNC_TEST_INT", raising=False)
    assert env_int("SYNC_TEST_INT", 7) == 7
    monkeypatch.setenv("SYNC_TEST_INT", "500")
    assert env_int("SYNC_TEST_INT", 7, maximum=500) == 500


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("501", "SYNC_TEST_INT must be at most 500, got 501"),
        ("2.5", "must be a whole number"),
        ("0", "must be > 0"),
        ("many", "must be a number"),
    ],
)
def test_env_int_refuses_a_bad_value_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, raw: str, message: str
) -> None:
    monkeypatch.setenv("SYNC_TEST_INT", raw)
    with pytest.raises(ImproperlyConfigured, match=message):
        env_int("SYNC_TEST_INT", 7, maximum=500)
