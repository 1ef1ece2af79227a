"""The action server's log keeps real warnings and drops rasa_sdk's per-turn noise."""

from __future__ import annotations

import inspect
import logging

import pytest
import rasa_sdk.forms

import bot.actions  # noqa: F401  # installs the filter, as when the action server loads the package
from bot.actions import SKIPPED_VALIDATION


def test_the_dropped_message_is_still_the_one_rasa_sdk_logs() -> None:
    assert SKIPPED_VALIDATION.rstrip("`") in inspect.getsource(rasa_sdk.forms)


def test_skipped_validation_is_not_logged_but_other_warnings_are(caplog: pytest.LogCaptureFixture) -> None:
    forms_log = logging.getLogger("rasa_sdk.forms")
    with caplog.at_level(logging.INFO):
        forms_log.warning("Skipping validation for `intake_household`: there is no validation method specified.")
        forms_log.warning("Something else went wrong")
    assert [record.getMessage() for record in caplog.records] == ["Something else went wrong"]
