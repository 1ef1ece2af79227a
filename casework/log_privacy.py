"""Debug logging that cannot leak what people wrote.

At DEBUG (`LOG_LEVEL=DEBUG`, `rasa run --debug`) Rasa logs every message's text and parse
result, whole trackers and slot values; rasa_sdk logs the actions' requests; SQLAlchemy's
engine logs statements with their parameters; HTTP clients log URLs (a Telegram API URL
carries the bot token). An operator turning DEBUG on to chase a bug would write all of it
to the logs. So below INFO only our own packages are written: they log codes and
pseudonymous ids, never text or handles (tests/channels/test_logs.py,
tests/conversation/test_logs.py). Records at INFO and above pass as before.

The filter sits on the root logger's handlers, which every library's records reach; it is
installed by the processes' entry points into our code, after the command line has set
up logging: the channels package in the Rasa process (Rasa imports it to build the
webhooks), the actions package in the action server, and the console's app factory.
"""

from __future__ import annotations

import logging

OURS = frozenset({"bot", "channels", "casework", "knowledge", "console", "devtools", "__main__"})


class OwnDebugOnly(logging.Filter):
    """Passes INFO and above from anyone, and lower levels only from our packages."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.INFO or record.name.split(".", 1)[0] in OURS


def install_own_debug_only() -> None:
    """Put the filter on every handler of the root logger (idempotent)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(existing, OwnDebugOnly) for existing in handler.filters):
            handler.addFilter(OwnDebugOnly())
