"""Start the action server only with a valid knowledge base.

`python -m bot.serve [rasa_sdk options]` validates `knowledge/data/` first and refuses to
start on any error (printed as file:line), so the assistant never serves half of a broken
file; then it runs the rasa_sdk action server with the given options.
"""

from __future__ import annotations

import sys


def main() -> None:
    from knowledge.loader import KnowledgeError, knowledge_base

    try:
        kb = knowledge_base()
    except KnowledgeError as exc:
        sys.stderr.write("action server: the knowledge base has errors; not starting.\n")
        sys.stderr.write("\n".join(exc.errors) + "\n")
        raise SystemExit(2) from exc
    sys.stderr.write(f"action server: knowledge base ok ({len(kb.entries)} entries)\n")
    from rasa_sdk.__main__ import main as run_action_server

    run_action_server()


if __name__ == "__main__":
    main()
