"""`make run`: check the knowledge base, train if needed, start everything, say where to talk."""

from __future__ import annotations

import os
import signal
import sys
import time

from devtools import ROOT
from devtools.stack import make_stack
from devtools.train import ensure_model


def main() -> None:
    from knowledge.loader import KnowledgeError, load_knowledge

    try:
        load_knowledge()
    except KnowledgeError as exc:
        print("run: the knowledge base has errors; not starting:\n" + str(exc), file=sys.stderr)
        raise SystemExit(1) from exc
    model = ensure_model()
    rasa_port = int(os.environ.get("RASA_PORT", "5005"))
    actions_port = int(os.environ.get("ACTIONS_PORT", "5055"))
    console_port = int(os.environ.get("CONSOLE_PORT", "8080"))
    stack = make_stack(model, rasa_port, actions_port, ROOT / "var", console_port=console_port)
    print("run: starting the action server, the Rasa server and the staff console (about a minute)...")
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            print("\nrun: stopping...")
            stack.stop()
            print("run: stopped.")
        raise SystemExit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        stack.start()
    except Exception as exc:
        stack.stop()
        print(f"run: failed to start: {exc}. Logs are in var/logs/.", file=sys.stderr)
        raise SystemExit(1) from exc
    url = stack.rasa_url
    print(f"""
The One Stop Shop assistant is running.

  Chat in this terminal (in another window):  make chat
  One message with curl:
    curl -s {url}/webhooks/rest/webhook -H 'Content-Type: application/json' -d '{{"sender": "me", "message": "hola, quiero volver a Perú"}}'
  Rasa HTTP API (NLU parse):  curl -s {url}/model/parse -d '{{"text": "olá"}}'
  Staff console:  {stack.console_url}
    first run, create an account:  make console-user STAFF=ana OFFICE=oss-pe ROLE=office_lead
    (or: .venv/bin/python -m console.accounts create ana --office oss-pe --role office_lead)
  WhatsApp and Telegram: off (no credentials configured).
  Workers: staff notifications (casework.outbox), erasure and retention (casework.retention).
  Logs: var/logs/   Stop: Ctrl-C
""", flush=True)
    while True:
        for name, proc in stack.processes.items():
            if proc.poll() is not None:
                print(f"run: {name} exited with {proc.returncode}; see var/logs/{name}.log", file=sys.stderr)
                stack.stop()
                raise SystemExit(1)
        time.sleep(1)


if __name__ == "__main__":
    main()
