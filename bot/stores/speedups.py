"""Validate the action server's responses with one compiled validator, not a new one per call.

Rasa 3.6 checks every action server response with `jsonschema.validate(result, schema)`,
which re-checks the (constant) schema against the JSON-Schema meta-schema and builds a
new validator each time. Profiling our serving path (devtools/bench.py, cProfile of
`rasa run`) showed this as the largest cost of a turn: about 60 % of the time spent
handling messages, because every turn calls the action server several times (slot
extraction and actions). Same checks, same error (best match, same message), the schema
checked once.

Installed by `StrictSQLTrackerStore` (the production profile), like the agent patch
next to it.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import jsonschema.exceptions


def install_cached_action_validation() -> None:
    """Replace `RemoteAction._validate_action_result`; idempotent."""
    from rasa.core.actions.action import DOCS_BASE_URL, RemoteAction

    if getattr(RemoteAction._validate_action_result, "_oss_cached", False):
        return
    compiled: dict[str, Any] = {}

    def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        validator = compiled.get("validator")
        if validator is None:
            schema = self.action_response_format_spec()
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            validator = compiled["validator"] = cls(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(result))
        if error is not None:
            error.message += (
                f". Failed to validate Action server response from API, "
                f"make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit "
                f"{DOCS_BASE_URL}/custom-actions"
            )
            raise error
        return True

    validate_action_result._oss_cached = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
