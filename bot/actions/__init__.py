"""Custom actions: thin wiring between the tracker and the plain functions.

Each action reads the tracker, calls `bot.conversation`, `knowledge` or `casework`, utters
a domain response by name, and returns events. The action server registers every
Action subclass found in this package's modules.
"""

from __future__ import annotations

import logging

from casework.log_privacy import install_own_debug_only

install_own_debug_only()  # rasa_sdk's DEBUG output carries trackers (casework/log_privacy.py)
SKIPPED_VALIDATION = "Skipping validation for `"


class QuietSkippedValidation(logging.Filter):
    """Drops rasa_sdk's "Skipping validation for `<slot>`: there is no validation method
    specified", a WARNING it logs on every form turn for each slot that has no `validate_`
    method. Ours have none on purpose (their answers are checked where they are extracted),
    so it was half of the action server's log (4,793 of 4,855 lines over a 10,000-message
    soak), burying real warnings and costing a write per form turn."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(SKIPPED_VALIDATION))


_forms_log = logging.getLogger("rasa_sdk.forms")
if not any(isinstance(existing, QuietSkippedValidation) for existing in _forms_log.filters):
    _forms_log.addFilter(QuietSkippedValidation())
