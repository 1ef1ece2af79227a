"""The texts a person sees when staff join or leave: es/pt/en, validated with the rest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from knowledge.handoff import HANDOFF_TEXTS, handoff_text
from knowledge.loader import DATA_DIR, KnowledgeError, load_knowledge


def test_every_handoff_text_exists_in_every_language() -> None:
    kb = load_knowledge()
    for key in HANDOFF_TEXTS:
        texts = {language: handoff_text(kb, key, language) for language in ("es", "pt", "en")}
        assert len(set(texts.values())) == 3, key
    assert handoff_text(kb, "staff_joined", None) == handoff_text(kb, "staff_joined", "es")


def test_a_missing_language_or_unknown_text_is_reported_with_its_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    path = data / "handoff.yml"
    text = path.read_text(encoding="utf-8")
    broken = "\n".join(line for line in text.splitlines() if not line.strip().startswith("pt: A pessoa da equipe"))
    path.write_text(broken + "\n  farewell:\n    es: adiós\n    pt: tchau\n    en: bye\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(data)
    messages = "\n".join(error.value.errors)
    assert "handoff.yml" in messages
    assert "'assistant_back' has no 'pt' text" in messages
    assert "unknown handoff text 'farewell'" in messages
