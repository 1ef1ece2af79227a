"""Start the action server only with a valid knowledge base.

`python -m bot.serve [rasa_sdk options]` validates `knowledge/data/` first and refuses to
start on any error (printed as file:line), so the assistant never serves half of a broken
file; then it runs the rasa_sdk action server with the given options, able to keep the
domain Rasa sends by digest (bot/domain_digest.py) and answering a failed action without
the conversation in the answer or the log (bot/action_failures.py).
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    from knowledge.loader import KnowledgeError, knowledge_base

    try:
        kb = knowledge_base()
    except KnowledgeError as exc:
        sys.stderr.write("action server: the knowledge base has errors; not starting.\n")
        sys.stderr.write("\n".join(exc.errors) + "\n")
        raise SystemExit(2) from exc
    sys.stderr.write(f"action server: knowledge base ok ({len(kb.entries)} entries)\n")
    install_on_created_apps()
    from rasa_sdk.__main__ import main as run_action_server

    run_action_server()


def prepare_app(app: Any) -> None:
    """What our action server adds to rasa_sdk's app: the domain cache and the private
    failure answers."""
    from bot.action_failures import answer_failures_privately
    from bot.domain_digest import install_domain_cache

    install_domain_cache(app)
    answer_failures_privately(app)


def install_on_created_apps() -> None:
    """Make rasa_sdk's `create_app` (which its `run` calls) `prepare_app`; idempotent."""
    from rasa_sdk import endpoint

    if getattr(endpoint.create_app, "_oss_installed", False):
        return
    original = endpoint.create_app

    def create_app(*args: Any, **kwargs: Any) -> Any:
        app = original(*args, **kwargs)
        prepare_app(app)
        return app

    create_app._oss_installed = True  # type: ignore[attr-defined]
    endpoint.create_app = create_app


if __name__ == "__main__":
    main()
