"""At DEBUG, only our own packages write below INFO: libraries' debug output carries text."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from casework.log_privacy import install_own_debug_only


@pytest.fixture
def root_stream() -> Iterator[io.StringIO]:
    """A root handler at DEBUG, as `rasa run` installs one with LOG_LEVEL=DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def test_rasa_s_debug_lines_with_the_message_are_not_written(root_stream: io.StringIO) -> None:
    install_own_debug_only()
    install_own_debug_only()  # idempotent
    logging.getLogger("rasa.core.processor").debug("Received user message 'me pegan en casa' with intent ...")
    logging.getLogger("sqlalchemy.engine.Engine").debug("[parameters] ('+34622418975',)")
    logging.getLogger("rasa.core.processor").info("rasa info stays")
    logging.getLogger("channels.worker").debug("inbox worker: claimed whatsapp message 7 (attempt 1)")
    written = root_stream.getvalue()
    assert "me pegan" not in written
    assert "34622418975" not in written
    assert "INFO rasa.core.processor rasa info stays" in written
    assert "DEBUG channels.worker inbox worker: claimed whatsapp message 7" in written


def test_without_the_guard_they_would_be(root_stream: io.StringIO) -> None:
    """The fixture's handler is fresh: the leak the guard exists for is real."""
    logging.getLogger("rasa.core.processor").debug("Received user message 'hola'")
    assert "Received user message 'hola'" in root_stream.getvalue()
