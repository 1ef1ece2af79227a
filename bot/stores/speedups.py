"""Per-turn costs of Rasa 3.6 that do not need to be paid on every message.

Found by profiling the serving path under load (py-spy on `rasa run`, devtools/bench.py):

1. Action server responses: Rasa 3.6 checks every action server response with
`jsonschema.validate(result, schema)`, which re-checks the (constant) schema against the
JSON-Schema meta-schema and builds a new validator each time, and tries each event
against all 23 kinds of event. Profiling our serving path (devtools/bench.py, cProfile of
`rasa run`) showed this as the largest cost of a turn: about 60 % of the time spent
handling messages, because every turn calls the action server several times (slot
extraction and actions). Same checks, same error (best match, same message), the schema
checked once; a response whose events each pass the check against their own kind (the
only branch of the `oneOf` an event can match) is accepted without the full check.

2. Action server calls: `EndpointConfig.request` opens a new aiohttp session, and so a
new TCP connection, for every call, and serialises the body with the standard `json`
module (16 % of a turn in the profile, with the domain still in the body). The pooled
version keeps one session per endpoint and event loop (keep-alive shorter than the
action server's, so a connection it has closed is never reused) and serialises with
ujson. Requests, headers, timeouts and errors are Rasa's own, except that an error
answer's body is cut to what carries no personal data before Rasa logs it (`failure_text`).

3. Reading a tracker: `Event.resolve_by_type` walks every subclass of `Event` for every
stored event it turns back into an object (7 % of a turn). The lookup is cached.

4. (Removed.) A faster way to load DIET's weights, while the pipeline had DIET: the
intent classifier is now a logistic regression (config.yml), with no TensorFlow model.

5. Running the model's graph: every NLU parse and every next-action prediction rebuilt
the minimal schema for its targets and handed a dozen nodes to dask's scheduler (about
5 % of a turn). They run as a plain loop over an order computed once per set of targets.
Same parses and predictions (tests/production/test_speedups.py).

6. Every outgoing HTTP request (to the action server, the provider APIs, the health check)
went out as two socket writes, the request head and then the body: aiohttp 3.9 writes the
head as soon as it is built. On loopback each write is a system call that also wakes the
receiver, and the profile showed these writes as the largest single leaf of the Rasa
process (about 9 % of its time). The head is held until the first body bytes (or the end
of the request, or a drain) and goes out with them in one write. aiohttp 3.10 does the
same upstream; Rasa 3.6 pins aiohttp below 3.10.

7. The domain in action calls: Rasa 3.6 sends its whole domain (about 140 kB of JSON) with
every call to an action that needs it, with selective domain still every form-validation
call, so every turn of a form: serialised here, parsed by the action server, each time.
An action server that says it keeps domains by digest (bot/domain_digest.py) gets the
digest instead; one that does not (plain rasa_sdk) keeps getting the domain.

1-3, 5, 6 and 7 are installed by `StrictSQLTrackerStore` (the production profile), like the
agent patch next to it: `install_serving_speedups()`. 4 is installed when Rasa imports our
NLU components (bot/nlu/components.py), before it loads the model, in every profile.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from typing import Any

import aiohttp
import jsonschema
import jsonschema.exceptions
import ujson

from bot.domain_digest import DIGEST_KEY, DOMAIN_KEY, HELD_HEADER, UNKNOWN_DOMAIN_STATUS, domain_digest

_CLASS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,99}$")
# Sanic (the action server) closes idle connections after 5 s; ours are dropped sooner.
KEEPALIVE_S = 3.0


def install_serving_speedups() -> None:
    """Everything below; idempotent."""
    install_cached_action_validation()
    install_pooled_endpoint_sessions()
    install_cached_event_lookup()
    install_sequential_graph_runs()
    install_single_write_requests()
    install_domain_by_digest()


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
            compiled["by_kind"] = event_validators(schema, cls)
        if passes_by_kind(result, compiled["by_kind"]):
            return True
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


def event_validators(schema: dict[str, Any], cls: Any) -> dict[str, Any] | None:
    """One validator per event kind: the event schema's common part and that kind's branch.

    Rasa's event schema is a `oneOf` of 23 branches told apart by `event`'s constant, so
    checking an event tries all 23 (about 6 % of a turn at saturation). The branch whose
    constant is the event's name is the only one that can match; an event that passes
    "common part and that branch" therefore passes the `oneOf`. None (no fast path) if the
    schema is not of that shape.
    """
    try:
        event = dict(schema["properties"]["events"]["items"])
        branches = event.pop("oneOf")
        kinds = [branch["properties"]["event"]["const"] for branch in branches]
    except (KeyError, TypeError):
        return None
    if len(set(kinds)) != len(kinds) or not all(isinstance(kind, str) for kind in kinds):
        return None
    return {kind: cls({"allOf": [event, branch]}) for kind, branch in zip(kinds, branches, strict=True)}


def passes_by_kind(result: Any, by_kind: dict[str, Any] | None) -> bool:
    """Whether `result` certainly satisfies the response schema (False: ask the full check).

    Shape of the response schema: an object whose optional `events` is a list of events
    and whose optional `responses` is a list of objects.
    """
    if by_kind is None or not isinstance(result, dict):
        return False
    responses = result.get("responses", [])
    if not isinstance(responses, list) or not all(isinstance(item, dict) for item in responses):
        return False
    events = result.get("events", [])
    if not isinstance(events, list):
        return False
    for event in events:
        kind = event.get("event") if isinstance(event, dict) else None
        validator = by_kind.get(kind) if isinstance(kind, str) else None
        if validator is None or not validator.is_valid(event):
            return False
    return True


def install_cached_event_lookup() -> None:
    """Replace `Event.resolve_by_type` with a cached lookup; idempotent.

    Only found classes are cached; an unknown name still goes through Rasa's own
    function (same default and same error).
    """
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    original = Event.__dict__["resolve_by_type"].__func__
    if getattr(original, "_oss_cached", False):
        return
    found: dict[str, type[Event]] = {}

    def resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
        cls = found.get(type_name)
        if cls is not None:
            return cls
        for candidate in all_subclasses(Event):
            if candidate.type_name == type_name:
                found[type_name] = candidate
                return candidate
        return original(type_name, default)

    resolve_by_type._oss_cached = True  # type: ignore[attr-defined]
    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign]


def install_sequential_graph_runs() -> None:
    """Replace `DaskGraphRunner.run` with a plain loop over a cached order; idempotent.

    Every message runs the model's graph twice or more (NLU, then a prediction per
    action), and each run rebuilt the minimal schema for its targets (recursively) and
    handed the nodes to dask's scheduler, which orders them again: about 5 % of a turn
    at saturation, for graphs of a dozen nodes that run one after the other anyway. The
    order of the nodes a set of targets needs is computed once; each node gets the
    outputs of the nodes it needs, as dask gives them; errors are Rasa's own.
    """
    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.runner.dask import DaskGraphRunner

    if getattr(DaskGraphRunner.run, "_oss_sequential", False):
        return

    def plan(runner: DaskGraphRunner, targets: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
        plans: dict[tuple[str, ...], list[tuple[str, tuple[str, ...]]]] = runner.__dict__.setdefault("_oss_plans", {})
        if targets not in plans:  # the targets and what they need, each after its needs
            nodes = runner._graph_schema.nodes  # noqa: SLF001
            order: list[tuple[str, tuple[str, ...]]] = []
            placed: set[str] = set()

            def place(name: str) -> None:
                if name in placed or name not in nodes:  # not a node: an input
                    return
                placed.add(name)
                needs = tuple(nodes[name].needs.values())
                for need in needs:
                    place(need)
                order.append((name, needs))

            for target in targets:
                place(target)
            plans[targets] = order
        return plans[targets]

    def run(self: DaskGraphRunner, inputs: dict[str, Any] | None = None,
            targets: list[str] | None = None) -> dict[str, Any]:
        run_targets = targets if targets else self._graph_schema.target_names  # noqa: SLF001
        results: dict[str, Any] = {}
        for name, value in (inputs or {}).items():
            if isinstance(value, str) and value in self._graph_schema.nodes:  # noqa: SLF001
                raise GraphRunError(
                    f"Input value '{value}' clashes with a node name. Make sure that none of the "
                    f"input names passed to the `run` method are the same as node names in the "
                    f"graph schema."
                )
            results[name] = (name, value)
        try:
            for name, needs in plan(self, tuple(run_targets)):
                results[name] = self._instantiated_nodes[name](*(results.get(need, need) for need in needs))  # noqa: SLF001
            return dict(results[target] for target in run_targets)  # each is (node name, output), as from dask
        except RuntimeError as error:
            raise GraphRunError("Error running runner.") from error

    run._oss_sequential = True  # type: ignore[attr-defined]
    run._oss_original = DaskGraphRunner.run  # type: ignore[attr-defined]  # for the test that compares
    DaskGraphRunner.run = run  # type: ignore[method-assign]


def install_pooled_endpoint_sessions() -> None:
    """Replace `EndpointConfig.request` with one that reuses its session; idempotent."""
    from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
    from rasa.shared.exceptions import FileNotFoundException
    from rasa.utils.endpoints import ClientResponseError, EndpointConfig, concat_url

    if getattr(EndpointConfig.request, "_oss_pooled", False):
        return

    def session_for(endpoint: EndpointConfig) -> aiohttp.ClientSession:
        """One session per endpoint object and running loop, kept on the endpoint."""
        loop = asyncio.get_running_loop()
        per_loop: dict[int, aiohttp.ClientSession] = endpoint.__dict__.setdefault("_oss_sessions", {})
        session = per_loop.get(id(loop))
        if session is None or session.closed or session._loop is not loop:  # noqa: SLF001
            auth = None
            if endpoint.basic_auth:
                auth = aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"])
            session = aiohttp.ClientSession(
                headers=endpoint.headers, auth=auth,
                timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=KEEPALIVE_S),
                json_serialize=ujson.dumps,
            )
            per_loop[id(loop)] = session
        return session

    async def request(
        self: EndpointConfig, method: str = "post", subpath: str | None = None,
        content_type: str | None = "application/json", compress: bool = False, **kwargs: Any,
    ) -> Any | None:
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        extra_headers = kwargs.pop("headers", None)
        if extra_headers:
            headers.update(extra_headers)
        if self.headers:
            headers.update(self.headers)
        sslcontext = None
        if self.cafile:
            try:
                sslcontext = ssl.create_default_context(cafile=self.cafile)
            except FileNotFoundError as error:
                raise FileNotFoundException(f"Failed to find certificate file '{self.cafile}'") from error
        body = kwargs.get("json")
        if isinstance(body, DigestOnlyCall) and compress:
            kwargs["json"] = body = body.with_domain()  # compressed calls are rasa_sdk's own: whole
        async with session_for(self).request(
            method, concat_url(self.url, subpath), headers=headers,
            params=self.combine_parameters(kwargs), compress=compress, ssl=sslcontext, **kwargs,
        ) as response:
            note_held_domain(self, body, response)
            resend = isinstance(body, DigestOnlyCall) and response.status == UNKNOWN_DOMAIN_STATUS
            if not resend:
                if response.status >= 400:
                    text = failure_text(response.status, await response.content.read())
                    raise ClientResponseError(response.status, response.reason, text)
                try:
                    return await response.json()
                except aiohttp.ContentTypeError:
                    return None
        assert isinstance(body, DigestOnlyCall)  # noqa: S101 - resend is only set for these
        kwargs["json"] = body.with_domain()  # the server lost it (restart, another replica)
        if extra_headers:
            kwargs["headers"] = extra_headers
        return await request(self, method, subpath, content_type, compress, **kwargs)

    request._oss_pooled = True  # type: ignore[attr-defined]
    EndpointConfig.request = request  # type: ignore[method-assign]


def install_single_write_requests() -> None:
    """Send an aiohttp request's head with its first body bytes, in one write; idempotent.

    A drain flushes a held head first, so a request that waits for `100 Continue` before
    its body (aiohttp drains, then waits) still sends its head.
    """
    from aiohttp import http_writer

    writer_class = http_writer.StreamWriter
    if getattr(writer_class, "_oss_single_write", False):
        return
    original_write = writer_class._write  # noqa: SLF001
    original_drain = writer_class.drain

    async def write_headers(self: Any, status_line: str, headers: Any) -> None:
        if self._on_headers_sent is not None:  # noqa: SLF001
            await self._on_headers_sent(headers)  # noqa: SLF001
        self._oss_held_head = http_writer._serialize_headers(status_line, headers)  # noqa: SLF001

    def _write(self: Any, chunk: bytes) -> None:
        head = self._oss_held_head
        if head:
            self._oss_held_head = b""
            chunk = head + chunk
        original_write(self, chunk)

    async def drain(self: Any) -> None:
        if self._oss_held_head:
            _write(self, b"")
        await original_drain(self)

    write_headers._oss_original = writer_class.write_headers  # type: ignore[attr-defined]  # for the tests' control
    _write._oss_original = original_write  # type: ignore[attr-defined]
    drain._oss_original = original_drain  # type: ignore[attr-defined]
    writer_class._oss_held_head = b""  # type: ignore[attr-defined]  # noqa: SLF001
    writer_class.write_headers = write_headers  # type: ignore[method-assign]
    writer_class._write = _write  # type: ignore[method-assign]  # noqa: SLF001
    writer_class.drain = drain  # type: ignore[method-assign]
    writer_class._oss_single_write = True  # type: ignore[attr-defined]  # noqa: SLF001


def failure_text(status: int, body: bytes) -> str:
    """What Rasa keeps (and logs, in its exception) of an error answer.

    A plain rasa_sdk answers a failed action with the whole request in the body, so the
    person's conversation; Rasa would log it with the exception. Kept: the action's name,
    and the error where it cannot carry what someone wrote: a rejection's (400, 404; its
    text is the action's own, and Rasa reads both from a 400) or an exception's class name.
    """
    try:
        answer = ujson.loads(body)
    except ValueError:
        return ""
    if not isinstance(answer, dict):
        return ""
    kept = {key: answer[key] for key in ("action_name", "error") if isinstance(answer.get(key), str)}
    if status >= 500 and not _CLASS_NAME.match(kept.get("error", "")):
        kept.pop("error", None)
    return ujson.dumps(kept) if kept else ""


class DigestOnlyCall(dict):  # type: ignore[type-arg]
    """An action call sent with the domain's digest only; the domain stays at hand for a 449."""

    def __init__(self, call: dict[str, Any], domain: Any) -> None:
        super().__init__(call)
        self.domain = domain

    def with_domain(self) -> dict[str, Any]:
        return {**self, DOMAIN_KEY: self.domain}


def held_digests(endpoint: Any) -> set[str]:
    """The domain digests the action server at `endpoint` said it holds (kept on the endpoint)."""
    held: set[str] = endpoint.__dict__.setdefault("_oss_held_digests", set())
    return held


def note_held_domain(endpoint: Any, body: Any, response: Any) -> None:
    """Learn from an action server's answer whether it holds the call's domain."""
    if not isinstance(body, dict) or not isinstance(body.get(DIGEST_KEY), str):
        return
    digest = body[DIGEST_KEY]
    if response.headers.get(HELD_HEADER) == digest:
        held_digests(endpoint).add(digest)
    elif response.status == UNKNOWN_DOMAIN_STATUS:
        held_digests(endpoint).discard(digest)


def install_domain_by_digest() -> None:
    """Replace `RemoteAction._action_call_format` with one that names the domain by its
    digest where the action server holds it; idempotent."""
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.domain import Domain

    install_pooled_endpoint_sessions()  # whose requests send the domain again on a 449
    if getattr(RemoteAction._action_call_format, "_oss_digest", False):
        return
    original = RemoteAction._action_call_format

    def digest_of(domain: Domain) -> str:
        digest = domain.__dict__.get("_oss_domain_digest")
        if digest is None:  # a domain never changes once loaded: once per model
            digest = domain.__dict__["_oss_domain_digest"] = domain_digest(domain.as_dict())
        return str(digest)

    def action_call_format(self: RemoteAction, tracker: Any, domain: Domain) -> dict[str, Any]:
        call: dict[str, Any] = original(self, tracker, domain)
        if DOMAIN_KEY not in call or self.action_endpoint is None:
            return call
        digest = digest_of(domain)
        call[DIGEST_KEY] = digest
        if digest not in held_digests(self.action_endpoint):
            return call
        full = call.pop(DOMAIN_KEY)
        return DigestOnlyCall(call, full)

    action_call_format._oss_digest = True  # type: ignore[attr-defined]
    RemoteAction._action_call_format = action_call_format  # type: ignore[method-assign]

