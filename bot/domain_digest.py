"""The domain goes to the action server once, not with every form turn.

Rasa 3.6 sends its whole domain (about 140 kB of JSON here: every response in three
languages) in the body of every call to an action that needs it, which with selective
domain (endpoints.yml) is still every form-validation call, so every turn of the
eligibility and intake forms. Rasa serialised it, the action server parsed it, on each
call (`make profile`).

The protocol, between Rasa (bot/stores/speedups.py, `install_domain_by_digest`) and the
action server (`install_domain_cache`, from bot/serve.py):

1. Rasa sends `domain` with its `domain_digest` (SHA-256 of the domain's canonical JSON).
   An action server that understands digests checks it, keeps the domain (a few of them,
   least recently used dropped) and says so in its answer's `HELD_HEADER`.
2. From then on Rasa sends that action endpoint only the digest. The action server puts
   the kept domain back into the call before rasa_sdk sees it.
3. An action server that no longer holds it (restarted, or another replica behind the
   same address) answers 449 (`UNKNOWN_DOMAIN_STATUS`) without running anything, and Rasa
   sends the call again with the domain: one round trip more, once per server.

A plain rasa_sdk never sends the header, so it keeps receiving whole domains; a call with
a `domain` and no digest (plain Rasa) or a compressed one is served as before. The kept
domain is shared by the calls that use it: actions read it, never change it.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from typing import Any

import ujson

logger = logging.getLogger(__name__)

DIGEST_KEY = "domain_digest"
DOMAIN_KEY = "domain"
UNKNOWN_DOMAIN_STATUS = 449
HELD_HEADER = "X-Domain-Digest-Held"
KEPT_DOMAINS = 4  # a rolling update serves two models at once; a few more are harmless
WEBHOOK_PATH = "/webhook"


def domain_digest(domain: Any) -> str:
    """SHA-256 of the domain's canonical JSON (sorted keys), the same on both sides."""
    return hashlib.sha256(ujson.dumps(domain, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class DomainCache:
    """The domains an action server has been sent, by digest (least recently used dropped)."""

    def __init__(self, size: int = KEPT_DOMAINS) -> None:
        self.size = size
        self._domains: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._warned = False

    def get(self, digest: str) -> dict[str, Any] | None:
        domain = self._domains.get(digest)
        if domain is not None:
            self._domains.move_to_end(digest)
        return domain

    def keep(self, digest: str, domain: Any) -> bool:
        """Keep `domain` under `digest` if the digest is its own; False (kept nothing) if not."""
        if not isinstance(domain, dict) or domain_digest(domain) != digest:
            if not self._warned:
                self._warned = True
                logger.warning("action server: a domain came with a digest that is not its own; "
                               "not kept (every call will carry the domain)")
            return False
        self._domains[digest] = domain
        self._domains.move_to_end(digest)
        while len(self._domains) > self.size:
            self._domains.popitem(last=False)
        return True

    def complete(self, call: Any) -> tuple[bool, str | None]:
        """Put the kept domain back into an action call that has only its digest.

        Returns (whether the call can run, the digest this server now holds for it). It
        cannot run when it names a domain this server does not hold (answer 449). Calls
        without a digest are left as they are.
        """
        if not isinstance(call, dict):
            return True, None
        digest = call.get(DIGEST_KEY)
        if not isinstance(digest, str):
            return True, None
        if DOMAIN_KEY in call:
            return True, digest if self.keep(digest, call[DOMAIN_KEY]) else None
        domain = self.get(digest)
        if domain is None:
            return False, None
        call[DOMAIN_KEY] = domain
        return True, digest


def install_domain_cache(app: Any, cache: DomainCache | None = None) -> DomainCache:
    """Serve digest-only calls on rasa_sdk's Sanic `app` (middleware on /webhook).

    The request middleware parses the body once (Sanic keeps the parsed JSON for
    rasa_sdk's `request.json`) and completes it from the cache, or answers 449; the
    response middleware names the digest held. Compressed bodies (`Content-Encoding:
    deflate`) are rasa_sdk's own business: Rasa sends those whole.
    """
    from sanic import response

    kept = cache or DomainCache()

    @app.middleware("request")
    async def domain_by_digest(request: Any) -> Any:
        if request.method != "POST" or request.path != WEBHOOK_PATH:
            return None
        if request.headers.get("Content-Encoding") == "deflate":
            return None
        call = request.json
        runs, held = kept.complete(call)
        request.ctx.domain_held = held
        if runs:
            return None
        return response.json({"error": "domain not held here: send the call again with the domain",
                              DIGEST_KEY: call[DIGEST_KEY]}, status=UNKNOWN_DOMAIN_STATUS)

    @app.middleware("response")
    async def name_the_held_domain(request: Any, answer: Any) -> None:
        held = getattr(request.ctx, "domain_held", None)
        if held and answer is not None:
            answer.headers[HELD_HEADER] = held

    app.ctx.domain_cache = kept
    return kept
