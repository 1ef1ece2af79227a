"""Rule-based recognition of countries, cities, needs, languages and numbers.

Built on spaCy's PhraseMatcher and Matcher over a blank multilingual pipeline (no trained
model, nothing downloaded). Text is lower-cased and accent-folded first, so "Perú",
"peru" and "PERU" are the same; spelling mistakes in the longer country names are caught
with spaCy's FUZZY token patterns. The word lists live in `gazetteers/*.yml`.

This module has no Rasa import: the NLU component wraps it, and actions may use its
look-ups (e.g. which country a city is in).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import spacy
import yaml
from spacy.matcher import Matcher, PhraseMatcher

GAZETTEER_DIR = Path(__file__).resolve().parent / "gazetteers"
MAIN_COUNTRIES = ("PE", "BO", "CO", "BR", "EC", "PY", "CL", "UY", "ES", "IT", "PT")

# Words around a country that say which role it plays for the person.
_RESIDENCE_CUES = {
    "vivo", "vivimos", "resido", "residimos", "estoy", "estamos", "moro", "moramos",
    "estou", "live", "living", "lives", "reside", "residing", "currently", "aqui", "aca",
    "trabajo", "trabalho", "work", "working",
}
_ORIGIN_CUES = {
    "soy", "somos", "sou", "from", "naci", "nacido", "nacida", "nasci", "born",
    "volver", "regresar", "retornar", "voltar", "regressar", "return", "back", "vuelta",
    "volta", "originario", "originaria", "natural", "irme", "ir", "go", "mudar",
}
# A language name is a nationality when one of these comes just before it ("soy español",
# "my kids are Spanish", "nacionalidad española") or just after it ("Spanish passport").
_NATIONALITY_BEFORE = {
    "soy", "sou", "somos", "son", "sao", "es", "e", "eres", "am", "im", "is", "are", "was",
    "were", "nacionalidad", "nacionalidade", "nationality", "ciudadano", "ciudadana",
    "ciudadania", "cidadao", "cidada", "cidadania", "pasaporte", "passaporte", "passport",
    "nacionalizado", "nacionalizada", "naturalizado", "naturalizada", "dni", "nie",
}
_NATIONALITY_AFTER = {
    "citizen", "citizenship", "passport", "nationality", "national", "id",
}
_LANGUAGE_BEFORE = {"en", "em", "in", "hablas", "habla", "hablar", "falar", "fala", "speak", "idioma", "lingua", "language"}
_FUZZY_MIN_CHARS = 7
_NUMBER_TOKEN = re.compile(r"^\d{1,3}$")


def fold(text: str) -> str:
    """Lower-case and strip accents, keeping one output character per input character."""
    out = []
    for char in text:
        decomposed = unicodedata.normalize("NFD", char)
        base = "".join(c for c in decomposed if not unicodedata.combining(c)) or char
        out.append(base[0].lower() if len(base[0].lower()) == 1 else char)
    return "".join(out)


@dataclass(frozen=True)
class Found:
    """One recognised entity, with offsets into the original text."""

    entity: str
    value: Any
    start: int
    end: int
    text: str
    role: str | None = None


def _read(name: str) -> dict[str, Any]:
    path = GAZETTEER_DIR / name
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    return data


class Gazetteer:
    """Matches the word lists against a message; build once, use for every message."""

    def __init__(self) -> None:
        self.nlp = spacy.blank("xx")
        vocab = self.nlp.vocab
        self.phrases = PhraseMatcher(vocab, attr="LOWER")
        self.fuzzy = Matcher(vocab)
        self.labels: dict[str, tuple[str, Any]] = {}
        self.city_country: dict[str, str] = {}
        self.city_region: dict[str, str] = {}
        countries = _read("countries.yml")
        self.ambiguous_language_words = {fold(w) for w in countries.get("ambiguous_with_language", [])}
        never = {fold(w) for w in countries.get("stopwords_never_country", [])}
        self.never_country = never
        self.country_forms: dict[str, set[str]] = {}
        for code, names in (countries.get("countries") or {}).items():
            forms = {fold(str(n)) for n in names} - never
            self._add("country", str(code).upper(), forms)
            self.country_forms[str(code).upper()] = forms
            if code in MAIN_COUNTRIES:
                self._add_fuzzy(str(code).upper(), forms)
        cities = _read("cities.yml")
        ambiguous_cities = {fold(c) for c in cities.get("ambiguous_cities", [])}
        for code, names in (cities.get("cities") or {}).items():
            forms = {fold(str(n)) for n in names}
            self._add("city", None, forms)
            for form in forms - ambiguous_cities:
                self.city_country.setdefault(form, str(code).upper())
        for code, regions in (cities.get("regions") or {}).items():
            for region, names in (regions or {}).items():
                forms = {fold(str(n)) for n in names}
                self._add("city", None, forms)
                for form in forms:
                    self.city_region[form] = str(region)
                    if form not in ambiguous_cities:
                        self.city_country.setdefault(form, str(code).upper())
        for need, words in (_read("needs.yml").get("needs") or {}).items():
            self._add("need", str(need), {fold(str(w)) for w in words})
        self.language_words: dict[str, str] = {}
        for lang, words in (_read("languages.yml").get("languages") or {}).items():
            forms = {fold(str(w)) for w in words}
            self._add("target_language", str(lang), forms)
            self.language_words.update({form: str(lang) for form in forms})
        self.number_words = {fold(str(k)): int(v) for k, v in (_read("numbers.yml").get("numbers") or {}).items()}
        self.short_words = {
            lang: {fold(str(w)) for w in words}
            for lang, words in (_read("short_words.yml").get("short_words") or {}).items()
        }

    def _add(self, entity: str, value: Any, forms: set[str]) -> None:
        key = f"{entity}:{value}"
        self.labels[key] = (entity, value)
        self.phrases.add(key, [self.nlp.make_doc(form) for form in sorted(forms) if form.strip()])

    def _add_fuzzy(self, code: str, forms: set[str]) -> None:
        patterns = []
        for form in forms:
            if " " in form or len(form) < _FUZZY_MIN_CHARS:
                continue
            patterns.append([{"LOWER": {"FUZZY1": form}}])
        if patterns:
            key = f"country:{code}"
            self.labels[key] = ("country", code)
            self.fuzzy.add(key, patterns)

    def find(self, text: str) -> list[Found]:
        """All entities in `text`, longest match first, no overlaps."""
        folded = fold(text)
        doc = self.nlp.make_doc(folded)
        strings = self.nlp.vocab.strings
        candidates: list[tuple[int, int, str, Any, bool]] = []
        for match_id, start, end in self.phrases(doc):
            entity, value = self.labels[strings[match_id]]
            candidates.append((start, end, entity, value, False))
        for match_id, start, end in self.fuzzy(doc):
            entity, value = self.labels[strings[match_id]]
            word = doc[start:end].text
            # A typo keeps the first two letters and is not a known ordinary word
            # ("paraguas" is an umbrella, not Paraguay).
            if len(word) < _FUZZY_MIN_CHARS or word in self.never_country:
                continue
            if not any(form[:2] == word[:2] for form in self.country_forms.get(value, ())):
                continue
            candidates.append((start, end, entity, value, True))
        # Exact before fuzzy, longer before shorter, earlier before later.
        candidates.sort(key=lambda c: (c[4], -(c[1] - c[0]), c[0]))
        taken: set[int] = set()
        chosen: list[tuple[int, int, str, Any]] = []
        for start, end, entity, value, _ in candidates:
            if any(i in taken for i in range(start, end)):
                continue
            taken.update(range(start, end))
            chosen.append((start, end, entity, value))
        found: list[Found] = []
        tokens = [t.text for t in doc]
        for start, end, entity, value in sorted(chosen):
            span = doc[start:end]
            words = tokens[max(0, start - 4):start]
            if span.text in self.ambiguous_language_words and entity in ("country", "target_language"):
                if self._is_nationality(tokens, start, end):
                    if entity == "target_language":
                        continue
                elif entity == "country":
                    entity, value = self._as_language(span.text)
                    if entity is None:
                        continue
            role = _role(words) if entity in ("country", "city") else None
            if entity == "city":
                value = text[span.start_char:span.end_char]
            found.append(Found(entity, value, span.start_char, span.end_char,
                               text[span.start_char:span.end_char], role))
        for token in doc:
            if token.i in taken:
                continue
            number = self._number(token.text)
            if number is not None:
                found.append(Found("number", number, token.idx, token.idx + len(token.text),
                                   text[token.idx:token.idx + len(token.text)]))
        return sorted(found, key=lambda f: f.start)

    @staticmethod
    def _is_nationality(tokens: list[str], start: int, end: int) -> bool:
        before = [t for t in tokens[max(0, start - 2):start] if t not in ("de", "da", "do", "of", "la", "el", "a", "o")]
        after = tokens[end:end + 1]
        if before and before[-1] in _LANGUAGE_BEFORE:
            return False
        return bool(_NATIONALITY_BEFORE.intersection(before) or _NATIONALITY_AFTER.intersection(after))

    def _as_language(self, word: str) -> tuple[Any, Any]:
        lang = self.language_words.get(word)
        return ("target_language", lang) if lang else (None, None)

    def _number(self, token: str) -> int | None:
        if _NUMBER_TOKEN.match(token):
            value = int(token)
            return value if value <= 120 else None
        return self.number_words.get(token)

    def country_of_city(self, city: str) -> str | None:
        return self.city_country.get(fold(city).strip())

    def region_of_city(self, city: str) -> str | None:
        return self.city_region.get(fold(city).strip())

    def short_word_language(self, text: str) -> str | None:
        """The language a very short message is unambiguously written in, if any."""
        lowered = text.lower()
        if re.search(r"\bol[áa]\b", lowered) and "á" in lowered:
            return "pt"  # "olá" keeps its accent; "ola" alone is a Spanish spelling of "hola" too
        folded = fold(text)
        words = re.findall(r"[a-z']+", folded)
        votes: dict[str, int] = {}
        phrase = " ".join(words)
        for lang, lexicon in self.short_words.items():
            hits = sum(1 for w in words if w in lexicon) + (2 if phrase in lexicon else 0)
            if hits:
                votes[lang] = hits
        if not votes:
            return None
        best = max(votes.values())
        winners = [lang for lang, n in votes.items() if n == best]
        return winners[0] if len(winners) == 1 else None


def _role(words: list[str]) -> str | None:
    for word in reversed(words):
        if word in _RESIDENCE_CUES:
            return "residence"
        if word in _ORIGIN_CUES:
            return "origin"
    return None


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """The process-wide matcher, built on first use (never at import)."""
    return Gazetteer()
