"""The one loader: reads `knowledge/data/`, validates all of it, reports `file:line` errors.

It fails whole: a knowledge base with any error is refused, so the server never serves
half of a broken file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from knowledge import LANGUAGES
from knowledge.eligibility_rules import load_eligibility_rules
from knowledge.handoff import load_handoff_texts
from knowledge.model import (
    NEEDS,
    TOPICS,
    CountrySafety,
    Entry,
    KnowledgeBase,
    Localized,
    Office,
    SafetyLine,
)
from knowledge.yamlsource import Located, SourceError, line_of, load_located

DATA_DIR = Path(__file__).resolve().parent / "data"
MAX_ANSWER_CHARS = 600
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_URL = re.compile(r"^https?://\S+$")
_CODE = re.compile(r"^[A-Z]{2}$")
SAFETY_PURPOSES = ("violence", "trafficking", "self_harm", "children", "general")
OFFICE_KINDS = ("origin", "europe", "fallback")


class KnowledgeError(Exception):
    """The knowledge base is invalid; `errors` are `file:line: message` strings."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


class _Checker:
    """Collects every problem instead of stopping at the first one."""

    def __init__(self, root: Path):
        self.root = root
        self.errors: list[str] = []
        self.today = dt.datetime.now(dt.timezone.utc).date()

    def error(self, path: Path, line: int, message: str) -> None:
        try:
            shown = path.relative_to(self.root.parent.parent)
        except ValueError:
            shown = path
        self.errors.append(f"{shown}:{line}: {message}")

    def load(self, path: Path) -> Any:
        try:
            return load_located(path)
        except SourceError as exc:
            self.errors.append(str(exc))
            return None

    def mapping(self, path: Path, node: Any, where: str, line: int) -> Located | None:
        if not isinstance(node, Located):
            self.error(path, line, f"{where}: expected a mapping")
            return None
        return node

    def localized(self, path: Path, parent: Located, key: str, required: bool = True) -> Localized | None:
        value = parent.get(key)
        line = line_of(parent, key)
        if value is None:
            if required:
                self.error(path, line_of(parent), f"missing '{key}' (needs es, pt and en)")
            return None
        if not isinstance(value, Located):
            self.error(path, line, f"'{key}' must map es/pt/en to text")
            return None
        out: Localized = {}
        for lang in LANGUAGES:
            text = value.get(lang)
            if not isinstance(text, str) or not text.strip():
                self.error(path, line_of(value, lang) if lang in value else line, f"'{key}' has no '{lang}' text")
            else:
                out[lang] = text.strip()
        for extra in value:
            if extra not in LANGUAGES:
                self.error(path, line_of(value, extra), f"'{key}' has unknown language '{extra}'")
        return out if len(out) == len(LANGUAGES) else None

    def date(self, path: Path, parent: Located, key: str = "verified") -> dt.date:
        value = parent.get(key)
        if isinstance(value, dt.date):
            if value > self.today:
                self.error(path, line_of(parent, key), f"'{key}' date {value} is in the future")
            return value
        self.error(path, line_of(parent, key), f"'{key}' must be a date YYYY-MM-DD")
        return dt.date.min

    def sources(self, path: Path, parent: Located) -> tuple[str, ...]:
        value = parent.get("sources")
        if not isinstance(value, list) or not value:
            self.error(path, line_of(parent, "sources"), "'sources' must list at least one URL")
            return ()
        out = []
        for url in value:
            if not isinstance(url, str) or not _URL.match(url.strip()):
                self.error(path, line_of(value), f"source {url!r} is not an http(s) URL")
            else:
                out.append(url.strip())
        return tuple(out)

    def text(self, path: Path, parent: Located, key: str) -> str:
        value = parent.get(key)
        if not isinstance(value, str) or not value.strip():
            self.error(path, line_of(parent, key), f"'{key}' must be non-empty text")
            return ""
        return value.strip()


def _codes(checker: _Checker, path: Path, node: Any, where: str) -> tuple[str, ...]:
    if not isinstance(node, list):
        checker.error(path, line_of(node), f"'{where}' must be a list of country codes")
        return ()
    out = []
    for code in node:
        if not isinstance(code, str) or not _CODE.match(code):
            checker.error(path, line_of(node), f"'{where}': {code!r} is not an ISO alpha-2 code")
        else:
            out.append(code)
    return tuple(out)


def _load_countries(checker: _Checker, path: Path) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, Localized]]:
    doc = checker.load(path)
    if doc is None:
        return (), (), {}
    doc = checker.mapping(path, doc, "countries.yml", 1)
    if doc is None:
        return (), (), {}
    origin = _codes(checker, path, doc.get("origin"), "origin")
    residence = _codes(checker, path, doc.get("residence"), "residence")
    names: dict[str, Localized] = {}
    raw = doc.get("names")
    if not isinstance(raw, Located):
        checker.error(path, line_of(doc, "names"), "'names' must map country codes to es/pt/en names")
        return origin, residence, names
    for code in raw:
        if not _CODE.match(str(code)):
            checker.error(path, line_of(raw, code), f"{code!r} is not an ISO alpha-2 code")
            continue
        loc = checker.localized(path, raw, code)
        if loc:
            names[code] = loc
    for code in (*origin, *residence):
        if code not in names:
            checker.error(path, line_of(raw), f"country {code} has no names")
    return origin, residence, names


def _load_entries(
    checker: _Checker, paths: Iterable[Path], known: set[str], seen: dict[str, str]
) -> list[Entry]:
    entries: list[Entry] = []
    for path in paths:
        doc = checker.load(path)
        if doc is None:
            continue
        if not isinstance(doc, Located) or not isinstance(doc.get("entries"), list):
            checker.error(path, line_of(doc), "expected a top-level 'entries:' list")
            continue
        for raw in doc["entries"]:
            entry = _load_entry(checker, path, raw, known, seen)
            if entry:
                entries.append(entry)
    return entries


def _load_entry(
    checker: _Checker, path: Path, raw: Any, known: set[str], seen: dict[str, str]
) -> Entry | None:
    node = checker.mapping(path, raw, "entry", line_of(raw))
    if node is None:
        return None
    allowed = {"id", "topic", "countries", "needs", "institution", "sources", "verified",
               "conflict", "text", "next_step", "questions"}
    for key in node:
        if key not in allowed:
            checker.error(path, line_of(node, key), f"unknown field '{key}'")
    entry_id = node.get("id")
    if not isinstance(entry_id, str) or not _ID.match(entry_id):
        checker.error(path, line_of(node, "id"), f"id {entry_id!r} must be lower-case kebab-case")
        entry_id = f"?{node.line}"
    elif entry_id in seen:
        checker.error(path, line_of(node, "id"), f"duplicate id '{entry_id}' (also at {seen[entry_id]})")
    else:
        seen[entry_id] = f"{path.name}:{line_of(node, 'id')}"
    topic = node.get("topic")
    if topic not in TOPICS:
        checker.error(path, line_of(node, "topic"), f"topic {topic!r} is not one of {', '.join(TOPICS)}")
    countries = _codes(checker, path, node.get("countries", []), "countries")
    needs_raw = node.get("needs", []) or []
    needs = tuple(str(n) for n in needs_raw) if isinstance(needs_raw, list) else ()
    for need in needs:
        if need not in NEEDS:
            checker.error(path, line_of(node, "needs"), f"need {need!r} is not one of {', '.join(NEEDS)}")
    text = checker.localized(path, node, "text")
    next_step = checker.localized(path, node, "next_step")
    conflict = checker.localized(path, node, "conflict", required=False)
    if text and next_step:
        for lang in LANGUAGES:
            size = len(text[lang]) + len(next_step[lang])
            if size > MAX_ANSWER_CHARS:
                checker.error(path, line_of(node, "text"),
                              f"'{entry_id}' {lang}: text + next_step is {size} characters (max {MAX_ANSWER_CHARS})")
    questions: dict[str, tuple[str, ...]] = {}
    qnode = node.get("questions")
    if not isinstance(qnode, Located):
        checker.error(path, line_of(node), f"'{entry_id}': missing 'questions' (es, pt, en lists)")
    else:
        for lang in LANGUAGES:
            items = qnode.get(lang)
            if not isinstance(items, list) or not items or not all(isinstance(q, str) and q.strip() for q in items):
                checker.error(path, line_of(qnode, lang) if lang in qnode else qnode.line,
                              f"'{entry_id}': questions.{lang} must be a non-empty list of text")
            else:
                questions[lang] = tuple(q.strip() for q in items)
    sources = checker.sources(path, node)
    verified = checker.date(path, node)
    institution = checker.text(path, node, "institution")
    if not (text and next_step) or len(questions) != len(LANGUAGES):
        return None
    return Entry(
        id=entry_id, topic=str(topic), countries=countries, needs=needs, institution=institution,
        sources=sources, verified=verified, text=text, next_step=next_step, questions=questions,
        conflict=conflict, file=path.name, line=node.line,
    )


def _load_offices(checker: _Checker, path: Path, known: set[str]) -> list[Office]:
    doc = checker.load(path)
    if doc is None:
        return []
    if not isinstance(doc, Located) or not isinstance(doc.get("offices"), list):
        checker.error(path, line_of(doc), "expected a top-level 'offices:' list")
        return []
    offices: list[Office] = []
    seen: set[str] = set()
    for raw in doc["offices"]:
        node = checker.mapping(path, raw, "office", line_of(raw))
        if node is None:
            continue
        office_id = node.get("id")
        if not isinstance(office_id, str) or not _ID.match(office_id):
            checker.error(path, line_of(node, "id"), f"office id {office_id!r} must be kebab-case")
            continue
        if office_id in seen:
            checker.error(path, line_of(node, "id"), f"duplicate office id '{office_id}'")
        seen.add(office_id)
        kind = node.get("kind")
        if kind not in OFFICE_KINDS:
            checker.error(path, line_of(node, "kind"), f"kind {kind!r} is not one of {', '.join(OFFICE_KINDS)}")
        country = node.get("country")
        if kind != "fallback" and country not in known:
            checker.error(path, line_of(node, "country"), f"office country {country!r} is not a covered country")
        contact = node.get("contact") or {}
        if not isinstance(contact, dict):
            checker.error(path, line_of(node, "contact"), "'contact' must be a mapping")
            contact = {}
        langs = node.get("languages") or []
        for lang in langs:
            if lang not in LANGUAGES:
                checker.error(path, line_of(node, "languages"), f"office language {lang!r} is not es/pt/en")
        name = checker.localized(path, node, "name")
        organisation = checker.localized(path, node, "organisation")
        offers = checker.localized(path, node, "offers")
        sources = checker.sources(path, node)
        verified = checker.date(path, node)
        if name and organisation and offers:
            offices.append(Office(
                id=office_id, country=country, region=node.get("region"), kind=str(kind), name=name,
                organisation=organisation, offers=offers, languages=tuple(langs),
                contact={str(k): (str(v) if v not in (None, "") else None) for k, v in contact.items()},
                sources=sources, verified=verified,
            ))
    kinds = [o.kind for o in offices]
    if "fallback" not in kinds:
        checker.error(path, line_of(doc), "network.yml needs one office of kind 'fallback'")
    return offices


def _load_safety(checker: _Checker, path: Path, known: set[str]) -> dict[str, CountrySafety]:
    doc = checker.load(path)
    if doc is None:
        return {}
    if not isinstance(doc, Located) or not isinstance(doc.get("countries"), Located):
        checker.error(path, line_of(doc), "expected a top-level 'countries:' mapping")
        return {}
    out: dict[str, CountrySafety] = {}
    countries = doc["countries"]
    for code in countries:
        node = checker.mapping(path, countries[code], str(code), line_of(countries, code))
        if node is None:
            continue
        if code not in known:
            checker.error(path, line_of(countries, code), f"{code!r} is not a covered country")
        emergency = node.get("emergency")
        if not isinstance(emergency, (str, int)) or not str(emergency).strip():
            checker.error(path, line_of(node, "emergency"), f"{code}: 'emergency' number is missing")
            continue
        lines: list[SafetyLine] = []
        for raw in node.get("lines") or []:
            line_node = checker.mapping(path, raw, "line", line_of(raw))
            if line_node is None:
                continue
            purposes = tuple(line_node.get("for") or ())
            for purpose in purposes:
                if purpose not in SAFETY_PURPOSES:
                    checker.error(path, line_of(line_node, "for"), f"purpose {purpose!r} is not one of {', '.join(SAFETY_PURPOSES)}")
            name = checker.localized(path, line_node, "name")
            number = line_node.get("number")
            if not isinstance(number, (str, int)) or not str(number).strip():
                checker.error(path, line_of(line_node), "safety line has no 'number'")
                continue
            sources = checker.sources(path, line_node)
            verified = checker.date(path, line_node)
            if name:
                lines.append(SafetyLine(
                    id=str(line_node.get("id") or number), number=str(number), name=name,
                    purposes=purposes, sources=sources, verified=verified,
                ))
        out[str(code)] = CountrySafety(country=str(code), emergency=str(emergency), lines=tuple(lines))
    return out


def _load_phrases(checker: _Checker, path: Path) -> dict[str, Localized]:
    doc = checker.load(path)
    if doc is None:
        return {}
    if not isinstance(doc, Located) or not isinstance(doc.get("phrases"), Located):
        checker.error(path, line_of(doc), "expected a top-level 'phrases:' mapping")
        return {}
    out: dict[str, Localized] = {}
    for key in doc["phrases"]:
        loc = checker.localized(path, doc["phrases"], key)
        if loc:
            out[str(key)] = loc
    return out


REQUIRED_PHRASES = ("source", "verified_on", "disclaimer", "conflict_counsellor", "no_contact_configured")


def load_knowledge(data_dir: Path = DATA_DIR) -> KnowledgeBase:
    """Load and validate the whole knowledge base, or raise KnowledgeError with every problem."""
    checker = _Checker(data_dir)
    origin, residence, names = _load_countries(checker, data_dir / "countries.yml")
    covered = set(origin) | set(residence)
    known = covered | set(names)
    seen: dict[str, str] = {}
    answer_files = sorted((data_dir / "answers").glob("*.yml"))
    entries = _load_entries(checker, answer_files, known, seen)
    offices = _load_offices(checker, data_dir / "network.yml", covered)
    safety = _load_safety(checker, data_dir / "safety.yml", covered)
    phrases = _load_phrases(checker, data_dir / "phrases.yml")
    for key in REQUIRED_PHRASES:
        if key not in phrases:
            checker.error(data_dir / "phrases.yml", 1, f"phrase '{key}' is missing")
    for code in covered:
        if code not in safety:
            checker.error(data_dir / "safety.yml", 1, f"no safety lines for {code}")
    extras: dict[str, object] = {}
    for hook in _EXTRA_LOADERS:
        extras.update(hook(checker, data_dir, covered))
    if checker.errors:
        raise KnowledgeError(checker.errors)
    return KnowledgeBase(
        origin=origin, residence=residence, country_names=names, entries=tuple(entries),
        offices=tuple(offices), safety=safety, phrases=phrases, extras=extras,
    )


# Further content families register a loader here: hook(checker, data_dir, covered) -> extras.
# Eligibility rules land in `KnowledgeBase.extras["eligibility"]` (see knowledge.eligibility_rules).
_EXTRA_LOADERS: list[Any] = [load_eligibility_rules, load_handoff_texts]


@lru_cache(maxsize=1)
def knowledge_base() -> KnowledgeBase:
    """The process-wide knowledge base, loaded once on first use (never at import).

    KNOWLEDGE_DATA_DIR points a process at another copy of the data (staging, tests).
    """
    override = os.environ.get("KNOWLEDGE_DATA_DIR")
    return load_knowledge(Path(override) if override else DATA_DIR)
