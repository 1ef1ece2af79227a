"""Fixtures shared by several rooms' tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.stack import Stack, free_port, make_stack
from devtools.train import ensure_model


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The real action server and Rasa server on free ports, started once per test session.

    Shared by the conversation tests and the console's live handoff and browser tests, so
    a test run never holds two Rasa servers (about 1 GB each) at once.
    """
    model = ensure_model(quiet=True)
    workdir = tmp_path_factory.mktemp("stack")
    running = make_stack(model, free_port(), free_port(), workdir)
    try:
        running.start()
    except Exception:
        running.stop()
        logs = "\n".join(p.read_text()[-3000:] for p in (workdir / "logs").glob("*.log"))
        raise RuntimeError(f"the stack did not start:\n{logs}") from None
    yield running
    running.stop()
