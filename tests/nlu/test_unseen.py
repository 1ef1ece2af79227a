"""Regression guard on messages the model never saw (tests/nlu/unseen/, see devtools.nlu_unseen).

The floor is well below the measured accuracy (reports/nlu_unseen.md): it catches a broken
pipeline or a data change that ruins generalisation, not the odd miss. Never tune the
training data or the config against these messages.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from devtools.nlu_unseen import LANGS, UNSEEN, load_unseen

FLOOR = 0.80
DATA = Path(__file__).resolve().parents[2] / "bot" / "data" / "nlu"


def trained_intents(lang: str) -> set[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in (DATA / lang).glob("*.yml"))
    return set(re.findall(r"^- intent: (\w+)", text, flags=re.MULTILINE))


@pytest.mark.parametrize("lang", LANGS)
def test_unseen_set_covers_every_intent(lang: str) -> None:
    pairs = load_unseen(lang)
    assert len(pairs) >= 60
    assert {intent for _, intent in pairs} == trained_intents(lang)


@pytest.mark.parametrize("lang", LANGS)
def test_unseen_messages_are_not_training_examples(lang: str) -> None:
    training = "\n".join(p.read_text(encoding="utf-8").lower() for p in (DATA / lang).glob("*.yml"))
    copied = [text for text, _ in load_unseen(lang) if f"- {text.lower()}\n" in training]
    assert copied == [], f"{UNSEEN / lang}.yml repeats training examples"


@pytest.fixture(scope="module")
def results() -> dict:
    from devtools.nlu_unseen import evaluate
    from devtools.train import ensure_model

    model = ensure_model(quiet=True)
    with warnings.catch_warnings():
        # Loading a Rasa model warns about its own API changes (slot auto-fill, pyparsing, ...).
        warnings.simplefilter("ignore")
        return evaluate(model)


@pytest.mark.parametrize("lang", LANGS)
def test_model_understands_unseen_messages(results: dict, lang: str) -> None:
    misses = [(m["text"], m["expected"], m["got"]) for m in results[lang]["misses"]]
    assert results[lang]["accuracy"] >= FLOOR, misses
