"""The eligibility rule files load as typed rules, and broken ones are refused with file:line."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest

from knowledge import LANGUAGES, RESIDENCE_COUNTRIES
from knowledge.eligibility_rules import (
    COUNSELLOR,
    GATE,
    KINDS,
    NATIONALITY_GROUPS,
    PRIORITY,
    CountryRules,
    all_country_rules,
    country_rules,
)
from knowledge.loader import DATA_DIR, KnowledgeError, load_knowledge

_URL = re.compile(r"^https?://\S+$")


@pytest.fixture(scope="module")
def rules() -> dict[str, CountryRules]:
    return all_country_rules(load_knowledge())


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target


def _errors(data: Path) -> list[str]:
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(data)
    return caught.value.errors


def _edit(path: Path, old: str, new: str) -> int:
    """Replace the first `old` and return its 1-based line number."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return line


# --------------------------------------------------------------------------- the real files


def test_every_residence_country_has_rules(rules: dict[str, CountryRules]) -> None:
    assert set(rules) == set(RESIDENCE_COUNTRIES)
    assert rules["ES"].line_ids == ("social", "productive", "apre")
    assert rules["IT"].line_ids == ("rva",)
    assert rules["PT"].line_ids == ("arvore",)


def test_country_rules_are_reachable_from_the_knowledge_base() -> None:
    kb = load_knowledge()
    assert country_rules(kb, "es") is kb.extras["eligibility"]["ES"]  # type: ignore[index]


def test_every_rule_is_sourced_dated_and_translated(rules: dict[str, CountryRules]) -> None:
    for country in rules.values():
        assert country.sources
        for rule in country.rules:
            assert rule.sources, rule.id
            assert all(_URL.match(url) for url in rule.all_sources()), rule.id
            assert rule.verified == dt.date(2026, 11, 1), rule.id
            assert set(rule.reason.triggered) == set(LANGUAGES), rule.id
            if rule.effect in (GATE, COUNSELLOR):
                assert rule.reason.unknown is not None, rule.id
            if rule.conflict:
                assert rule.reason.uncertain is not None, rule.id
        for item in (*country.reentry, *country.documents, *country.notices):
            assert item.sources, item.id
            assert set(item.text) == set(LANGUAGES), item.id


def test_vulnerability_only_raises_priority_and_legal_matters_never_gate(rules: dict[str, CountryRules]) -> None:
    for country in rules.values():
        for rule in country.rules:
            if rule.kind == "vulnerability":
                assert rule.effect == PRIORITY
            if rule.kind == "legal_impediment":
                assert rule.effect == COUNSELLOR


def test_eu_eea_and_swiss_nationals_are_excluded_everywhere(rules: dict[str, CountryRules]) -> None:
    for country in rules.values():
        rule = next(r for r in country.rules if r.kind == "nationality")
        excluded = rule.params["excluded_groups"]["codes"]
        assert {"ES", "IT", "PT", "FR", "NO", "IS", "LI", "CH"} <= excluded
        assert not {"PE", "BO", "CO", "BR", "EC", "PY", "CL", "UY"} & excluded
    assert NATIONALITY_GROUPS["EU"] <= NATIONALITY_GROUPS["EEA"]


def test_conflicts_keep_both_values_with_their_own_sources(rules: dict[str, CountryRules]) -> None:
    stay = rules["ES"].rule("es-minimum-stay")
    assert stay.conflict
    assert stay.varies == "min_months"
    assert sorted(alt.value for alt in stay.alternatives) == [3, 6]
    assert all(alt.sources for alt in stay.alternatives)

    pt_reentry = next(item for item in rules["PT"].reentry if item.id == "pt-reentry")
    assert pt_reentry.conflict
    assert sorted(alt.value for alt in pt_reentry.years) == [3, 5]
    assert "cm-seixal.pt" in " ".join(pt_reentry.years[0].sources + pt_reentry.years[1].sources)

    apre_reentry = next(item for item in rules["ES"].reentry if item.id == "es-reentry-apre")
    assert apre_reentry.conflict
    assert sorted(alt.value for alt in apre_reentry.years) == [3, 5]

    it_reentry = next(item for item in rules["IT"].reentry)
    assert [alt.value for alt in it_reentry.years] == [0]
    assert not it_reentry.conflict


def test_effects_per_country_match_the_facts(rules: dict[str, CountryRules]) -> None:
    def effect(country: str, kind: str) -> str | None:
        found = [r.effect for r in rules[country].rules if r.kind == kind and not r.lines]
        return found[0] if found else None

    assert effect("PT", "eu_family_member") == GATE
    assert effect("PT", "previous_return_benefit") == GATE
    assert effect("ES", "previous_return_benefit") == COUNSELLOR
    assert effect("IT", "previous_return_benefit") == COUNSELLOR
    assert effect("PT", "minimum_stay") == COUNSELLOR
    assert not [r for r in rules["IT"].rules if r.kind in ("minimum_stay", "legal_impediment")]
    apre = rules["ES"].rule("es-apre-social-security-convention")
    assert {"PE", "BO", "CO", "BR", "EC", "PY", "CL", "UY"} <= set(apre.params["countries"])


def test_rules_in_effect_follow_the_dates(rules: dict[str, CountryRules]) -> None:
    es = rules["ES"]
    assert es.rules_on(dt.date(2026, 11, 23)) == es.rules
    assert es.rules_on(es.effective_from - dt.timedelta(days=1)) == ()


def test_the_knowledge_check_accepts_the_rules() -> None:
    from knowledge.check import main

    assert main([]) == 0


# --------------------------------------------------------------------------- broken files


def test_broken_yaml_is_reported_with_file_and_line(data_copy: Path) -> None:
    target = data_copy / "eligibility" / "IT.yml"
    line = _edit(target, "    kind: nationality\n", "    kind: nationality\n    kind: nationality\n")
    errors = _errors(data_copy)
    assert any(e.endswith(f"IT.yml:{line + 1}: duplicate key 'kind'") for e in errors), errors


def test_unparseable_yaml_is_reported_with_the_file(data_copy: Path) -> None:
    target = data_copy / "eligibility" / "IT.yml"
    _edit(target, "rules:\n", "rules: [unclosed\n")
    errors = _errors(data_copy)
    assert any(re.search(r"IT\.yml:\d+: ", e) for e in errors), errors


def test_unknown_kind_and_effect_name_file_and_line(data_copy: Path) -> None:
    target = data_copy / "eligibility" / "ES.yml"
    kind_line = _edit(target, "kind: means_to_return", "kind: money")
    effect_line = _edit(target, "effect: counsellor", "effect: maybe")
    errors = _errors(data_copy)
    assert any(f"ES.yml:{kind_line}: unknown kind 'money'" in e for e in errors), errors
    assert any(f"ES.yml:{effect_line}: unknown effect 'maybe'" in e for e in errors), errors


def test_a_vulnerability_can_never_be_a_gate(data_copy: Path) -> None:
    target = data_copy / "eligibility" / "PT.yml"
    text = target.read_text(encoding="utf-8")
    start = text.index("kind: vulnerability")
    line = text[:start].count("\n") + 2
    target.write_text(text[:start] + text[start:].replace("effect: priority", "effect: gate", 1), encoding="utf-8")
    errors = _errors(data_copy)
    assert any(f"PT.yml:{line}: a 'vulnerability' rule cannot have effect 'gate'" in e for e in errors), errors


def test_a_missing_language_names_the_file_and_line(data_copy: Path) -> None:
    target = data_copy / "eligibility" / "PT.yml"
    text = target.read_text(encoding="utf-8")
    lines = text.splitlines()
    idx = next(i for i, ln in enumerate(lines) if ln.strip().startswith("pt: \"Você diz que pode pagar"))
    del lines[idx]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    errors = _errors(data_copy)
    assert any("PT.yml:" in e and "'triggered' has no 'pt' text" in e for e in errors), errors


def test_bad_dates_and_sources_are_refused(data_copy: Path) -> None:
    target = data_copy / "eligibility" / "IT.yml"
    date_line = _edit(target, "effective_from: 2025-01-01", "effective_from: someday")
    source_line = _edit(target, "      - https://www.cittametropolitana.bo.it", "      - www.cittametropolitana.bo.it")
    verified_line = _edit(target, "verified: 2026-11-01", "verified: 2099-11-01")
    errors = _errors(data_copy)
    assert any(f"IT.yml:{date_line}: 'effective_from' must be a date" in e for e in errors), errors
    assert any("IT.yml:" in e and "is not an http(s) URL" in e for e in errors), errors
    assert any(f"IT.yml:{verified_line}: 'verified' date 2099-11-01 is in the future" in e for e in errors), errors
    assert source_line > 0


def test_a_rule_without_sources_is_refused(data_copy: Path) -> None:
    target = data_copy / "eligibility" / "ES.yml"
    text = target.read_text(encoding="utf-8")
    block = "    sources:\n      - https://santacruzdiversa.es/menu/19/retorno-voluntario\n    verified: 2026-11-01\n    note: The productive"
    assert block in text
    target.write_text(text.replace(block, "    verified: 2026-11-01\n    note: The productive"), encoding="utf-8")
    errors = _errors(data_copy)
    assert any("ES.yml:" in e and "'sources' must list at least one URL" in e for e in errors), errors


def test_bad_parameters_unknown_lines_and_duplicate_ids_are_refused(data_copy: Path) -> None:
    target = data_copy / "eligibility" / "ES.yml"
    code_line = _edit(target, "excluded_groups: [EU, EEA, CH]", "excluded_groups: [EU, MERCOSUR]")
    line_line = _edit(target, "lines: [apre]", "lines: [apre, golden]")
    dup_line = _edit(target, "id: es-previous-return", "id: es-no-means")
    vuln_line = _edit(target, "codes: [minor,", "codes: [tired, minor,")
    errors = _errors(data_copy)
    assert any(f"ES.yml:{code_line}: parameter 'excluded_groups': 'MERCOSUR' not allowed" in e for e in errors), errors
    assert any(f"ES.yml:{line_line}: unknown programme line 'golden'" in e for e in errors), errors
    assert any(f"ES.yml:{dup_line}: duplicate id 'es-no-means'" in e for e in errors), errors
    assert any(f"ES.yml:{vuln_line}: parameter 'codes': 'tired' not allowed" in e for e in errors), errors


def test_a_conflict_needs_an_uncertain_text(data_copy: Path) -> None:
    target = data_copy / "eligibility" / "ES.yml"
    text = target.read_text(encoding="utf-8")
    start = text.index("      uncertain:\n")
    end = text.index("      clear:\n", start)
    target.write_text(text[:start] + text[end:], encoding="utf-8")
    errors = _errors(data_copy)
    assert any("ES.yml:" in e and "missing 'uncertain'" in e for e in errors), errors


def test_a_missing_country_file_is_reported(data_copy: Path) -> None:
    (data_copy / "eligibility" / "PT.yml").unlink()
    errors = _errors(data_copy)
    assert any("PT.yml" in e and "no eligibility rules for residence country PT" in e for e in errors), errors


def test_a_file_must_hold_the_country_it_is_named_after(data_copy: Path) -> None:
    target = data_copy / "eligibility" / "IT.yml"
    line = _edit(target, "country: IT", "country: PE")
    errors = _errors(data_copy)
    assert any(f"IT.yml:{line}: country 'PE' is not a residence country" in e for e in errors), errors


def test_every_kind_has_a_known_effect() -> None:
    for kind, spec in KINDS.items():
        assert spec.effects, kind
        assert set(spec.effects) <= {GATE, COUNSELLOR, PRIORITY, "prepare"}
