"""The loader accepts the real knowledge base and rejects broken files with file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from knowledge import LANGUAGES, ORIGIN_COUNTRIES, RESIDENCE_COUNTRIES
from knowledge.coverage import missing_cells
from knowledge.loader import DATA_DIR, KnowledgeError, load_knowledge


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target


def test_the_real_knowledge_base_loads_and_fills_every_cell() -> None:
    kb = load_knowledge()
    assert set(kb.origin) == set(ORIGIN_COUNTRIES)
    assert set(kb.residence) == set(RESIDENCE_COUNTRIES)
    assert missing_cells(kb) == []
    for entry in kb.entries:
        assert entry.sources
        assert entry.verified
        assert set(entry.text) == set(LANGUAGES)


def test_every_covered_country_has_an_emergency_number() -> None:
    kb = load_knowledge()
    for code in (*ORIGIN_COUNTRIES, *RESIDENCE_COUNTRIES):
        assert kb.safety[code].emergency.strip()


def _first_answer_file(data: Path) -> Path:
    return sorted((data / "answers").glob("*.yml"))[0]


def test_broken_yaml_is_reported_with_file_and_line(data_copy: Path) -> None:
    target = _first_answer_file(data_copy)
    lines = target.read_text(encoding="utf-8").splitlines()
    lines.insert(3, "    broken: [unclosed")
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(data_copy)
    assert any(target.name in e and ":" in e for e in caught.value.errors)


def test_a_missing_translation_names_the_file_line_and_language(data_copy: Path) -> None:
    target = _first_answer_file(data_copy)
    text = target.read_text(encoding="utf-8")
    # drop the first Portuguese text of the first entry
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == "text:")
    pt = next(i for i in range(start, len(lines)) if lines[i].strip().startswith("pt:"))
    indent = len(lines[pt]) - len(lines[pt].lstrip())
    end = pt + 1
    while end < len(lines) and (len(lines[end]) - len(lines[end].lstrip()) > indent or not lines[end].strip()):
        end += 1
    del lines[pt:end]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(data_copy)
    assert any(target.name in e and "'text' has no 'pt'" in e for e in caught.value.errors), caught.value.errors


def test_a_duplicate_id_is_refused(data_copy: Path) -> None:
    files = sorted((data_copy / "answers").glob("*.yml"))
    first_id = next(ln.split(":", 1)[1].strip() for ln in files[0].read_text().splitlines() if ln.strip().startswith("- id:"))
    text = files[1].read_text()
    second_id = next(ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.strip().startswith("- id:"))
    files[1].write_text(text.replace(f"id: {second_id}", f"id: {first_id}", 1))
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(data_copy)
    assert any("duplicate id" in e for e in caught.value.errors)


def test_a_future_verified_date_and_a_bad_source_are_refused(data_copy: Path) -> None:
    target = _first_answer_file(data_copy)
    text = target.read_text()
    text = text.replace("verified: 20", "verified: 29", 1)
    target.write_text(text)
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(data_copy)
    assert any("in the future" in e for e in caught.value.errors)


def test_an_unknown_country_code_is_refused(data_copy: Path) -> None:
    target = data_copy / "network.yml"
    text = target.read_text()
    target.write_text(text.replace("country: PE", "country: XX", 1))
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(data_copy)
    assert any("network.yml" in e and "XX" in e for e in caught.value.errors)
