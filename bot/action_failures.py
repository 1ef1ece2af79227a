"""A failing action costs the person an answer, never their privacy.

rasa_sdk answers an action that raised with HTTP 500 and a body holding the whole request
(`request_body`: the tracker, so everything the person wrote and every slot, name and
phone included), and logs the exception's message. Rasa then puts that body into the
text of its `ClientResponseError` and logs it with the traceback at ERROR, which our
DEBUG filter (casework/log_privacy.py) rightly lets through. One bug in one action would
copy conversations into both processes' logs.

Here the action server answers a failure with the exception's class and the action's
name only, and logs the same plus the traceback's frames (files, lines, code), without
the exception's message, which can carry values (a database error carries its
statement's parameters). Sanic's own errors (a malformed body: 400) keep their status.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

logger = logging.getLogger(__name__)


def action_name_of(request: Any) -> str:
    """The called action's name from the already parsed body ("unknown" without one)."""
    call = getattr(request, "parsed_json", None)
    name = call.get("next_action") if isinstance(call, dict) else None
    return name if isinstance(name, str) else "unknown"


def answer_failures_privately(app: Any) -> None:
    """Replace rasa_sdk's handler of unexpected exceptions on the action server `app`."""
    from sanic import response
    from sanic.exceptions import SanicException

    async def failed(request: Any, exception: Exception) -> Any:
        if isinstance(exception, SanicException):
            return app.error_handler.default(request, exception)
        action = action_name_of(request)
        frames = "".join(traceback.format_tb(exception.__traceback__))
        logger.error("action server: %s failed with %s (message not logged: it may hold personal data)\n%s",
                     action, type(exception).__name__, frames)
        return response.json({"error": type(exception).__name__, "action_name": action}, status=500)

    app.exception(Exception)(failed)
