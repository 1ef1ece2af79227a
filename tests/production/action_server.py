"""The real rasa_sdk action server with our actions, served in the test's event loop.

As `python -m bot.serve` makes it (`ours=True`: the domain cache and the private failure
answers) or plain rasa_sdk; what it is sent is recorded before any of it sees the call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import ujson
from rasa_sdk import endpoint
from sanic import Sanic

from bot.serve import prepare_app
from devtools.stack import free_port


class Recorder:
    """What the action server was sent, as it arrived (before any middleware)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.runs = 0


@asynccontextmanager
async def action_server(*, ours: bool = True) -> AsyncIterator[tuple[str, Recorder]]:
    """The rasa_sdk app with our actions on a free port, with the domain cache (as bot.serve
    makes it) or plain; what it was sent is recorded before the cache sees it."""
    Sanic.test_mode = True  # rasa_sdk names every app alike, which Sanic otherwise refuses
    app = endpoint.create_app("bot.actions")
    recorder = Recorder()

    @app.middleware("request")
    async def record(request: Any) -> None:
        if request.path == "/webhook":
            try:
                recorder.bodies.append(ujson.loads(request.body))
            except ValueError:
                recorder.bodies.append({"unparsable": request.body.decode("utf-8", "replace")})

    if ours:
        prepare_app(app)
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    assert server is not None
    await server.startup()
    await server.start_serving()
    restore = _count_runs(recorder)
    try:
        yield f"http://127.0.0.1:{port}/webhook", recorder
    finally:
        restore()
        await server.close()  # type: ignore[misc]


def _count_runs(recorder: Recorder) -> Any:
    from rasa_sdk.executor import ActionExecutor

    original = ActionExecutor.run

    async def run(self: ActionExecutor, action_call: dict[str, Any]) -> Any:
        recorder.runs += 1
        return await original(self, action_call)

    ActionExecutor.run = run  # type: ignore[method-assign]

    def restore() -> None:
        ActionExecutor.run = original  # type: ignore[method-assign]

    return restore


async def close_pooled_sessions(config: Any) -> None:
    """Close the pooled sessions Rasa's side kept on the endpoint: they are per event loop,
    and the test's loop ends with the test."""
    for session in config.__dict__.get("_oss_sessions", {}).values():
        await session.close()
