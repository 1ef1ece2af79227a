"""Accuracy on messages the model never saw: tests/nlu/unseen/<lang>.yml.

Those files were written independently of the training data, in the style of questions
people post on forums and FAQ pages, and are never used for training or tuning; this is the
honest check of how well the model generalises (cross-validation only measures how well
the training examples predict each other).

`python -m devtools.nlu_unseen [--model PATH] [--write]` parses every message with the
assistant's model (by default the cached model of the current config/domain/data, trained
if missing) and prints top-1 intent accuracy per language; a fallback counts as wrong.
With `--write` it also writes reports/nlu_unseen.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import yaml

from devtools import ROOT

LANGS = ("es", "pt", "en")
UNSEEN = ROOT / "tests" / "nlu" / "unseen"


def load_unseen(lang: str) -> list[tuple[str, str]]:
    """(text, intent) pairs of one language, in file order."""
    data = yaml.safe_load((UNSEEN / f"{lang}.yml").read_text(encoding="utf-8"))
    return [(text, intent) for intent, texts in data.items() for text in texts]


async def parse_all(model: Path, texts: list[str]) -> list[dict[str, Any]]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    return [await agent.parse_message(text) for text in texts]


def evaluate(model: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"model": model.name}
    every = {lang: load_unseen(lang) for lang in LANGS}
    texts = [text for lang in LANGS for text, _ in every[lang]]
    by_text = dict(zip(texts, asyncio.run(parse_all(model, texts)), strict=True))  # one model load
    for lang in LANGS:
        pairs = every[lang]
        parsed = [by_text[text] for text, _ in pairs]
        misses = []
        for (text, gold), p in zip(pairs, parsed, strict=True):
            got = p["intent"]["name"]
            if got != gold:
                misses.append({"text": text, "expected": gold, "got": got,
                               "confidence": round(float(p["intent"].get("confidence") or 0.0), 2)})
        results[lang] = {"messages": len(pairs), "accuracy": round(1 - len(misses) / len(pairs), 4),
                         "fallbacks": sum(1 for m in misses if m["got"] == "nlu_fallback"), "misses": misses}
    return results


def markdown(results: dict[str, Any]) -> str:
    lines = ["# NLU on unseen messages (tests/nlu/unseen/)", "",
             "Messages written independently of the training data (forum / FAQ style), never used",
             "for training or tuning. Top-1 intent of the assistant's model; a fallback counts as wrong.", "",
             "| lang | messages | accuracy | of which fallback |", "|---|---|---|---|"]
    for lang in LANGS:
        r = results[lang]
        lines.append(f"| {lang} | {r['messages']} | {r['accuracy']:.3f} | {r['fallbacks']} |")
    lines += ["", f"Model: `{results['model']}`. Reproduce: `python -m devtools.nlu_unseen --write`.", "",
              "## Misses", ""]
    for lang in LANGS:
        for m in results[lang]["misses"]:
            lines.append(f"- {lang} `{m['text']}`: expected {m['expected']}, got {m['got']} ({m['confidence']})")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, help="a trained model (default: the cached model, trained if missing)")
    parser.add_argument("--write", action="store_true", help="write reports/nlu_unseen.{md,json}")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.disable(logging.WARNING)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # otherwise every parse is printed with its text
    if args.model is None:
        from devtools.train import ensure_model

        args.model = ensure_model(quiet=True)
    results = evaluate(args.model)
    text = markdown(results)
    print(text)
    if args.write:
        (ROOT / "reports" / "nlu_unseen.md").write_text(text, encoding="utf-8")
        (ROOT / "reports" / "nlu_unseen.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n",
                                                         encoding="utf-8")


if __name__ == "__main__":
    main()
