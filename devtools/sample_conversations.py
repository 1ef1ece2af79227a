"""Record sample conversations with the real assistant into reports/sample_conversations.md.

`python -m devtools.sample_conversations` starts the stack on free ports (or uses
`--url` of a running one), plays scripted conversations in es/pt/en (questions, follow-ups,
one eligibility pre-check per country of residence) and writes the transcripts.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from devtools import ROOT

SCRIPTS: list[tuple[str, str, list[str]]] = [
    ("Questions in Spanish", "es", [
        "hola", "soy peruana y vivo en Madrid", "¿cómo hago para que reconozcan mi título de enfermera en Perú?",
        "¿y en Chile?", "¿puedo llevarme mis muebles sin pagar impuestos?", "¿si vuelvo con el programa puedo regresar a España?",
    ]),
    ("Questions in Portuguese", "pt", [
        "oi, boa tarde", "sou brasileiro e moro em Lisboa", "como revalidar meu diploma no Brasil?",
        "tem ajuda para abrir um negócio quando eu voltar?", "onde fica o escritório do One Stop Shop?",
    ]),
    ("Questions in English", "en", [
        "hi", "I'm from Ecuador and I live in Milan", "what does the voluntary return programme cover?",
        "how do I get my degree recognised back home?", "who will see what I write here?",
    ]),
]
ELIGIBILITY: list[tuple[str, str, str, dict[str, str]]] = [
    ("Pre-check: Spain (Spanish)", "es", "soy peruana y vivo en Madrid", {
        "elig_eu_national": "no", "elig_eu_family": "no", "elig_months": "hace 2 años y medio", "elig_means": "no",
        "elig_previous": "no", "elig_passport": "sí", "elig_unemployment": "no", "elig_business": "no",
        "elig_vulnerability": "vuln:minors", "elig_legal": "no", "elig_nationality": "peruana"}),
    ("Pre-check: Italy (Portuguese)", "pt", "sou brasileira e moro em Milão", {
        "elig_eu_national": "não", "elig_eu_family": "não", "elig_months": "faz 4 anos", "elig_permit": "não",
        "elig_means": "não", "elig_previous": "não", "elig_passport": "sim", "elig_vulnerability": "vuln:none",
        "elig_legal": "não", "elig_nationality": "brasileira"}),
    ("Pre-check: Portugal (English)", "en", "I'm Ecuadorian and I live in Porto", {
        "elig_eu_national": "no", "elig_eu_family": "no", "elig_months": "two years", "elig_means": "no",
        "elig_previous": "no", "elig_passport": "yes", "elig_vulnerability": "/skip", "elig_legal": "no",
        "elig_nationality": "Ecuadorian"}),
]
START = {"es": "¿puedo pedir el retorno voluntario?", "pt": "posso pedir o retorno voluntário?",
         "en": "can I apply for assisted voluntary return?"}


class Client:
    def __init__(self, url: str, language: str) -> None:
        self.url, self.language, self.sender = url, language, f"sample-{uuid.uuid4().hex[:8]}"
        self.lines: list[str] = []

    def say(self, text: str) -> list[dict[str, Any]]:
        body = json.dumps({"sender": self.sender, "message": text, "metadata": {"language": self.language}}).encode()
        request = urllib.request.Request(f"{self.url}/webhooks/rest/webhook", data=body,  # noqa: S310
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310 - local server
            replies = json.loads(reply.read())
        self.lines.append(f"**Person:** {text}")
        for message in replies:
            shown = (message.get("text") or "").replace("\n", "  \n")
            options = " · ".join(f"[{b['title']}]" for b in message.get("buttons") or [])
            self.lines.append(f"**Assistant:** {shown}" + (f"  \n{options}" if options else ""))
        return replies

    def slot(self, name: str) -> Any:
        with urllib.request.urlopen(f"{self.url}/conversations/{self.sender}/tracker", timeout=30) as reply:  # noqa: S310
            return json.loads(reply.read())["slots"].get(name)


def record(url: str) -> str:
    out = ["# Sample conversations", "",
           "Recorded from the real trained assistant (REST channel) by `python -m devtools.sample_conversations`.", ""]
    for title, language, messages in SCRIPTS:
        client = Client(url, language)
        for message in messages:
            client.say(message)
        out += [f"## {title}", "", *[f"{line}  " for line in client.lines], ""]
    for title, language, intro, answers in ELIGIBILITY:
        client = Client(url, language)
        client.say(intro)
        client.say(START[language])
        for _ in range(15):
            requested = client.slot("requested_slot")
            if not requested:
                break
            client.say(answers.get(requested, "no"))
        out += [f"## {title}", "", *[f"{line}  " for line in client.lines], ""]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=None, help="a running assistant; default: start one")
    args = parser.parse_args()
    target = ROOT / "reports" / "sample_conversations.md"
    target.parent.mkdir(exist_ok=True)
    if args.url:
        target.write_text(record(args.url))
    else:
        from devtools.stack import free_port, make_stack
        from devtools.train import ensure_model

        with tempfile.TemporaryDirectory() as tmp:
            stack = make_stack(ensure_model(quiet=True), free_port(), free_port(), Path(tmp))
            try:
                stack.start()
                target.write_text(record(stack.rasa_url))
            finally:
                stack.stop()
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
