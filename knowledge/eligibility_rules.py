"""Eligibility rules for assisted voluntary return, as data: the types and their loader.

One file per residence country, `data/eligibility/<CC>.yml`, holds the programme lines,
the rules (each with its effect, parameters, sources and the reason shown to the person),
the re-entry commitment, the documents to prepare and country-wide notices. Where
sources disagree, a parameter holds every value with its own sources, and the engine
(`casework.eligibility`) routes a person whose case falls between them to a counsellor.

This module validates those files for `knowledge.loader` (file:line errors) and never
imports the loader itself: the loader passes in its checker.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from knowledge import EU_COUNTRIES, RESIDENCE_COUNTRIES
from knowledge.model import KnowledgeBase, Localized
from knowledge.yamlsource import Located, line_of

EXTRAS_KEY = "eligibility"

# What a rule does to the outcome.
GATE = "gate"  # not meeting it: likely_not_eligible (for the lines it applies to)
COUNSELLOR = "counsellor"  # meeting it (or not knowing): needs_counsellor
PRIORITY = "priority"  # raises priority only; never changes the outcome
PREPARE = "prepare"  # adds something to prepare; never changes the outcome
EFFECTS: tuple[str, ...] = (GATE, COUNSELLOR, PRIORITY, PREPARE)

# The vulnerability codes the assistant can record (Return Handbook / IOM working list).
VULNERABILITY_CODES: tuple[str, ...] = (
    "minor",
    "elderly",
    "disability",
    "serious_illness",
    "pregnancy",
    "single_parent",
    "large_family",
    "trafficking",
    "violence",
    "torture",
    "persecution",
    "homeless",
)

# EEA = EU + Iceland, Liechtenstein, Norway. Their nationals and the Swiss have free movement,
# so they are not "third-country nationals" for return programmes.
NATIONALITY_GROUPS: dict[str, frozenset[str]] = {
    "EU": EU_COUNTRIES,
    "EEA": EU_COUNTRIES | frozenset({"IS", "LI", "NO"}),
    "CH": frozenset({"CH"}),
}

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_LINE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_CODE = re.compile(r"^[A-Z]{2}$")
MAX_REASON_CHARS = 400


@dataclass(frozen=True)
class ParamSpec:
    type: str  # int | bool | codes | groups | vulnerabilities
    required: bool = False
    may_conflict: bool = False  # may hold several sourced values (sources disagree)


@dataclass(frozen=True)
class KindSpec:
    effects: tuple[str, ...]
    params: dict[str, ParamSpec] = field(default_factory=dict)
    one_of: tuple[str, ...] = ()  # exactly one of these params must be given


# Every kind of check the engine knows, the effects it may have and its parameters.
KINDS: dict[str, KindSpec] = {
    "nationality": KindSpec(
        (GATE,),
        {"excluded_groups": ParamSpec("groups", required=True), "excluded_countries": ParamSpec("codes")},
    ),
    "eu_family_member": KindSpec((GATE, COUNSELLOR)),
    "means_to_return": KindSpec((GATE, COUNSELLOR)),
    "minimum_stay": KindSpec(
        (GATE, COUNSELLOR),
        {"min_months": ParamSpec("int", may_conflict=True), "more_than_days": ParamSpec("int", may_conflict=True)},
        one_of=("min_months", "more_than_days"),
    ),
    "previous_return_benefit": KindSpec((GATE, COUNSELLOR)),
    # A chat never closes the door on someone for a legal matter: a counsellor looks at it.
    "legal_impediment": KindSpec((COUNSELLOR,)),
    "vulnerability": KindSpec((PRIORITY,), {"codes": ParamSpec("vulnerabilities", required=True)}),
    "travel_document": KindSpec((PREPARE,)),
    "unemployment_benefit": KindSpec((GATE,), {"entitled": ParamSpec("bool", required=True)}),
    "social_security_convention": KindSpec(
        (GATE,), {"countries": ParamSpec("codes", required=True), "partial_list": ParamSpec("bool")}
    ),
    "business_project": KindSpec((GATE,)),
    "stay_situation": KindSpec(
        (GATE, COUNSELLOR), {"vulnerability_codes": ParamSpec("vulnerabilities", required=True)}
    ),
}

# The reason texts a rule needs, by effect. `uncertain` is needed as well when sources disagree.
_REASON_KEYS = ("triggered", "clear", "unknown", "uncertain")
_REQUIRED_REASONS: dict[str, tuple[str, ...]] = {
    GATE: ("triggered", "unknown"),
    COUNSELLOR: ("triggered", "unknown"),
    PRIORITY: ("triggered",),
    PREPARE: ("triggered", "clear"),
}
# Every country file must say how it treats these.
REQUIRED_KINDS: tuple[str, ...] = ("nationality", "means_to_return", "vulnerability", "travel_document")


@dataclass(frozen=True)
class Alternative:
    """One value of a parameter, with the sources that give it."""

    value: Any
    sources: tuple[str, ...]


@dataclass(frozen=True)
class RuleTexts:
    """What the person reads about a rule, in es/pt/en.

    triggered: the rule goes against them (gate not met, counsellor needed, priority raised;
    for `prepare` rules: what to prepare). clear: it is met. unknown: we lack the answer.
    uncertain: the sources disagree for their case.
    """

    triggered: Localized
    clear: Localized | None = None
    unknown: Localized | None = None
    uncertain: Localized | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    effect: str
    params: dict[str, Any]
    lines: tuple[str, ...]  # () = every programme line of the country
    sources: tuple[str, ...]
    verified: dt.date
    reason: RuleTexts
    varies: str | None = None  # the parameter the sources disagree on, if any
    alternatives: tuple[Alternative, ...] = ()  # its values, one per source group
    note: str = ""
    effective_from: dt.date | None = None
    effective_until: dt.date | None = None  # last day in effect, inclusive
    file: str = ""
    line: int = 0

    def in_effect(self, day: dt.date) -> bool:
        if self.effective_from is not None and day < self.effective_from:
            return False
        return not (self.effective_until is not None and day > self.effective_until)

    def applies_to(self, line_id: str) -> bool:
        return not self.lines or line_id in self.lines

    @property
    def conflict(self) -> bool:
        return len({alt.value for alt in self.alternatives}) > 1

    def variants(self) -> tuple[tuple[dict[str, Any], tuple[str, ...]], ...]:
        """The parameters under each source's value (one variant when sources agree)."""
        if self.varies is None:
            return ((self.params, self.sources),)
        return tuple(({**self.params, self.varies: alt.value}, alt.sources) for alt in self.alternatives)

    def all_sources(self) -> tuple[str, ...]:
        out = list(self.sources)
        for alt in self.alternatives:
            out.extend(url for url in alt.sources if url not in out)
        return tuple(out)


@dataclass(frozen=True)
class ProgrammeLine:
    id: str
    name: Localized
    sources: tuple[str, ...]


@dataclass(frozen=True)
class ReentryRule:
    """The commitment not to come back, and for how long (0 = no bar)."""

    id: str
    lines: tuple[str, ...]
    years: tuple[Alternative, ...]
    text: Localized
    sources: tuple[str, ...]
    verified: dt.date

    @property
    def conflict(self) -> bool:
        return len({alt.value for alt in self.years}) > 1

    def applies_to(self, line_id: str) -> bool:
        return not self.lines or line_id in self.lines

    def all_sources(self) -> tuple[str, ...]:
        out = list(self.sources)
        for alt in self.years:
            out.extend(url for url in alt.sources if url not in out)
        return tuple(out)


@dataclass(frozen=True)
class DocumentItem:
    id: str
    lines: tuple[str, ...]
    text: Localized
    sources: tuple[str, ...]
    verified: dt.date

    def applies_to(self, line_id: str) -> bool:
        return not self.lines or line_id in self.lines


@dataclass(frozen=True)
class Notice:
    """A country-wide caveat the person should hear whatever their answers."""

    id: str
    text: Localized
    sources: tuple[str, ...]
    verified: dt.date


@dataclass(frozen=True)
class CountryRules:
    country: str
    effective_from: dt.date
    sources: tuple[str, ...]
    lines: tuple[ProgrammeLine, ...]
    rules: tuple[Rule, ...]
    reentry: tuple[ReentryRule, ...] = ()
    documents: tuple[DocumentItem, ...] = ()
    notices: tuple[Notice, ...] = ()
    effective_until: dt.date | None = None
    file: str = ""

    @property
    def line_ids(self) -> tuple[str, ...]:
        return tuple(line.id for line in self.lines)

    def in_effect(self, day: dt.date) -> bool:
        if day < self.effective_from:
            return False
        return not (self.effective_until is not None and day > self.effective_until)

    def rules_on(self, day: dt.date) -> tuple[Rule, ...]:
        """The rules in effect on `day` (none when the whole file is not in effect)."""
        if not self.in_effect(day):
            return ()
        return tuple(rule for rule in self.rules if rule.in_effect(day))

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


def all_country_rules(kb: KnowledgeBase) -> dict[str, CountryRules]:
    """The eligibility rules the loader put into `kb.extras`, per residence country."""
    rules = kb.extras.get(EXTRAS_KEY)
    if not isinstance(rules, dict):
        raise KeyError("the knowledge base has no eligibility rules")
    return rules


def country_rules(kb: KnowledgeBase, country: str) -> CountryRules:
    return all_country_rules(kb)[country.upper()]


# --------------------------------------------------------------------------- loading


class Checker(Protocol):
    """What the loader's checker offers (see `knowledge.loader._Checker`)."""

    def error(self, path: Path, line: int, message: str) -> None: ...

    def load(self, path: Path) -> Any: ...

    def localized(self, path: Path, parent: Located, key: str, required: bool = True) -> Localized | None: ...

    def date(self, path: Path, parent: Located, key: str = "verified") -> dt.date: ...

    def sources(self, path: Path, parent: Located) -> tuple[str, ...]: ...


def load_eligibility_rules(checker: Checker, data_dir: Path, covered: set[str]) -> dict[str, object]:
    """`_EXTRA_LOADERS` hook: validate `data_dir/eligibility/*.yml` into `{"eligibility": {CC: CountryRules}}`."""
    folder = data_dir / "eligibility"
    out: dict[str, CountryRules] = {}
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.yml")):
        loaded = _load_country(checker, path, seen)
        if loaded is not None:
            out[loaded.country] = loaded
    for code in RESIDENCE_COUNTRIES:
        if code not in out and not (folder / f"{code}.yml").exists():
            checker.error(folder / f"{code}.yml", 0, f"no eligibility rules for residence country {code}")
    return {EXTRAS_KEY: out}


def _plain_date(checker: Checker, path: Path, node: Located, key: str, required: bool) -> dt.date | None:
    """A date that may lie in the future (rules announced for a coming call)."""
    if key not in node:
        if required:
            checker.error(path, line_of(node), f"missing '{key}' (a date YYYY-MM-DD)")
        return None
    value = node.get(key)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    checker.error(path, line_of(node, key), f"'{key}' must be a date YYYY-MM-DD")
    return None


def _unknown_fields(checker: Checker, path: Path, node: Located, allowed: set[str], what: str) -> None:
    for key in node:
        if key not in allowed:
            checker.error(path, line_of(node, key), f"{what}: unknown field '{key}'")


def _new_id(checker: Checker, path: Path, node: Located, seen: dict[str, str], what: str) -> str | None:
    value = node.get("id")
    if not isinstance(value, str) or not _ID.match(value):
        checker.error(path, line_of(node, "id"), f"{what} id {value!r} must be lower-case kebab-case")
        return None
    if value in seen:
        checker.error(path, line_of(node, "id"), f"duplicate id '{value}' (also at {seen[value]})")
        return None
    seen[value] = f"{path.name}:{line_of(node, 'id')}"
    return value


def _line_refs(checker: Checker, path: Path, node: Located, known: tuple[str, ...]) -> tuple[str, ...]:
    raw = node.get("lines")
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        checker.error(path, line_of(node, "lines"), "'lines' must list programme line ids (or be left out for all)")
        return ()
    out = []
    for item in raw:
        if item not in known:
            checker.error(path, line_of(node, "lines"), f"unknown programme line {item!r} (known: {', '.join(known)})")
        else:
            out.append(str(item))
    return tuple(out)


def _checked_text(checker: Checker, path: Path, parent: Located, key: str, required: bool) -> Localized | None:
    text = checker.localized(path, parent, key, required=required)
    if text:
        for lang, value in text.items():
            if len(value) > MAX_REASON_CHARS:
                checker.error(path, line_of(parent, key),
                              f"'{key}' {lang} text is {len(value)} characters (max {MAX_REASON_CHARS})")
    return text


def _load_country(checker: Checker, path: Path, seen: dict[str, str]) -> CountryRules | None:
    doc = checker.load(path)
    if doc is None:
        return None
    if not isinstance(doc, Located):
        checker.error(path, line_of(doc), "expected a mapping with country, effective_from, sources, lines, rules")
        return None
    _unknown_fields(checker, path, doc,
                    {"country", "effective_from", "effective_until", "sources", "lines", "rules",
                     "reentry", "documents", "notices"}, path.name)
    country = doc.get("country")
    if country not in RESIDENCE_COUNTRIES:
        checker.error(path, line_of(doc, "country"),
                      f"country {country!r} is not a residence country ({', '.join(RESIDENCE_COUNTRIES)})")
        return None
    if path.stem != country:
        checker.error(path, line_of(doc, "country"), f"country {country} must live in {country}.yml")
    effective_from = _plain_date(checker, path, doc, "effective_from", required=True)
    effective_until = _plain_date(checker, path, doc, "effective_until", required=False)
    sources = checker.sources(path, doc)

    lines = _load_lines(checker, path, doc)
    line_ids = tuple(line.id for line in lines)
    rules = _load_list(checker, path, doc, "rules", lambda n: _load_rule(checker, path, n, line_ids, seen))
    reentry = _load_list(checker, path, doc, "reentry", lambda n: _load_reentry(checker, path, n, line_ids, seen),
                         required=False)
    documents = _load_list(checker, path, doc, "documents",
                           lambda n: _load_document(checker, path, n, line_ids, seen), required=False)
    notices = _load_list(checker, path, doc, "notices", lambda n: _load_notice(checker, path, n, seen),
                         required=False)

    kinds = {rule.kind for rule in rules}
    for kind in REQUIRED_KINDS:
        if kind not in kinds and isinstance(doc.get("rules"), list):
            checker.error(path, line_of(doc, "rules"), f"{country} has no rule of kind '{kind}'")
    if effective_from is None or not lines:
        return None
    return CountryRules(
        country=str(country), effective_from=effective_from, effective_until=effective_until, sources=sources,
        lines=lines, rules=tuple(rules), reentry=tuple(reentry), documents=tuple(documents),
        notices=tuple(notices), file=path.name,
    )


def _load_list(checker: Checker, path: Path, doc: Located, key: str, one: Any, required: bool = True) -> list[Any]:
    raw = doc.get(key)
    if raw is None and not required:
        return []
    if not isinstance(raw, list) or (required and not raw):
        checker.error(path, line_of(doc, key) if key in doc else line_of(doc), f"'{key}' must be a non-empty list")
        return []
    out = []
    for item in raw:
        if not isinstance(item, Located):
            checker.error(path, line_of(raw), f"each item of '{key}' must be a mapping")
            continue
        loaded = one(item)
        if loaded is not None:
            out.append(loaded)
    return out


def _load_lines(checker: Checker, path: Path, doc: Located) -> tuple[ProgrammeLine, ...]:
    raw = doc.get("lines")
    if not isinstance(raw, list) or not raw:
        checker.error(path, line_of(doc, "lines") if "lines" in doc else line_of(doc),
                      "'lines' must list the programme lines (id, name, sources)")
        return ()
    out: list[ProgrammeLine] = []
    for node in raw:
        if not isinstance(node, Located):
            checker.error(path, line_of(raw), "each programme line must be a mapping")
            continue
        _unknown_fields(checker, path, node, {"id", "name", "sources"}, "programme line")
        line_id = node.get("id")
        if not isinstance(line_id, str) or not _LINE_ID.match(line_id):
            checker.error(path, line_of(node, "id"), f"programme line id {line_id!r} must be lower-case (a-z, 0-9, _)")
            continue
        if line_id in {line.id for line in out}:
            checker.error(path, line_of(node, "id"), f"duplicate programme line '{line_id}'")
            continue
        name = checker.localized(path, node, "name")
        sources = checker.sources(path, node)
        if name:
            out.append(ProgrammeLine(id=line_id, name=name, sources=sources))
    return tuple(out)


def _alternatives(checker: Checker, path: Path, parent: Located, key: str, kind: str) -> tuple[Alternative, ...] | None:
    """A list of `{value, sources}`: the values sources give for one parameter."""
    raw = parent.get(key)
    if not isinstance(raw, list) or len(raw) < 2 or not all(isinstance(n, Located) for n in raw):
        return None
    out = []
    for node in raw:
        _unknown_fields(checker, path, node, {"value", "sources", "note"}, f"'{key}' value")
        value = node.get("value")
        if not _valid_scalar(kind, value):
            checker.error(path, line_of(node, "value") if "value" in node else line_of(node),
                          f"'{key}' value {value!r} must be {_TYPE_WORDS[kind]}")
            continue
        out.append(Alternative(value=value, sources=checker.sources(path, node)))
    return tuple(out)


_TYPE_WORDS = {
    "int": "a whole number >= 0",
    "bool": "true or false",
    "codes": "a list of ISO alpha-2 country codes",
    "groups": f"a list of groups from {', '.join(NATIONALITY_GROUPS)}",
    "vulnerabilities": f"a list of codes from {', '.join(VULNERABILITY_CODES)}",
}


def _valid_scalar(kind: str, value: Any) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if kind == "bool":
        return isinstance(value, bool)
    return False


def _param(checker: Checker, path: Path, params: Located, name: str, spec: ParamSpec) -> Any:
    value = params.get(name)
    where = line_of(params, name)
    if spec.type in ("int", "bool"):
        if not _valid_scalar(spec.type, value):
            checker.error(path, where, f"parameter '{name}' must be {_TYPE_WORDS[spec.type]}")
            return None
        return value
    if not isinstance(value, list) or not value:
        checker.error(path, where, f"parameter '{name}' must be {_TYPE_WORDS[spec.type]}")
        return None
    items = [str(v) for v in value]
    if spec.type == "codes":
        bad = [v for v in items if not _CODE.match(v)]
    elif spec.type == "groups":
        bad = [v for v in items if v not in NATIONALITY_GROUPS]
    else:
        bad = [v for v in items if v not in VULNERABILITY_CODES]
    if bad:
        checker.error(path, where, f"parameter '{name}': {', '.join(map(repr, bad))} not allowed; "
                                   f"must be {_TYPE_WORDS[spec.type]}")
        return None
    if spec.type == "groups":
        excluded: frozenset[str] = frozenset()
        for group in items:
            excluded |= NATIONALITY_GROUPS[group]
        return {"groups": tuple(items), "codes": excluded}
    return frozenset(items) if spec.type == "vulnerabilities" else tuple(items)


def _load_rule(checker: Checker, path: Path, node: Located, line_ids: tuple[str, ...],
               seen: dict[str, str]) -> Rule | None:
    _unknown_fields(checker, path, node,
                    {"id", "kind", "effect", "lines", "params", "sources", "verified", "reason", "note",
                     "effective_from", "effective_until"}, "rule")
    rule_id = _new_id(checker, path, node, seen, "rule")
    kind = node.get("kind")
    effect = node.get("effect")
    spec = KINDS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        checker.error(path, line_of(node, "kind"), f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    if effect not in EFFECTS:
        checker.error(path, line_of(node, "effect"), f"unknown effect {effect!r} (known: {', '.join(EFFECTS)})")
    elif spec is not None and effect not in spec.effects:
        checker.error(path, line_of(node, "effect"),
                      f"a '{kind}' rule cannot have effect '{effect}' (allowed: {', '.join(spec.effects)})")
    lines = _line_refs(checker, path, node, line_ids)
    sources = checker.sources(path, node)
    verified = checker.date(path, node)
    effective_from = _plain_date(checker, path, node, "effective_from", required=False)
    effective_until = _plain_date(checker, path, node, "effective_until", required=False)
    if effective_from and effective_until and effective_until < effective_from:
        checker.error(path, line_of(node, "effective_until"), "'effective_until' is before 'effective_from'")
    note = node.get("note", "")
    if not isinstance(note, str):
        checker.error(path, line_of(node, "note"), "'note' must be text")
        note = ""

    params: dict[str, Any] = {}
    varies: str | None = None
    alternatives: tuple[Alternative, ...] = ()
    raw_params = node.get("params")
    if raw_params is None:
        raw_params = Located()
        raw_params.line, raw_params.key_lines = node.line, {}
    params_line = line_of(node, "params") if "params" in node else line_of(node)
    if not isinstance(raw_params, Located):
        checker.error(path, line_of(node, "params"), "'params' must be a mapping")
    elif spec is not None:
        for name in raw_params:
            if name not in spec.params:
                allowed = ", ".join(spec.params) or "none"
                checker.error(path, line_of(raw_params, name),
                              f"unknown parameter '{name}' for kind '{kind}' (allowed: {allowed})")
        for name, pspec in spec.params.items():
            if name not in raw_params:
                if pspec.required:
                    checker.error(path, params_line, f"kind '{kind}' needs parameter '{name}'")
                continue
            alts = _alternatives(checker, path, raw_params, name, pspec.type) if pspec.may_conflict else None
            if alts is not None:
                if varies is not None:
                    checker.error(path, line_of(raw_params, name), "only one parameter per rule may have several values")
                    continue
                varies, alternatives = name, alts
                params[name] = alts[0].value if alts else None
            else:
                params[name] = _param(checker, path, raw_params, name, pspec)
        if spec.one_of and sum(1 for name in spec.one_of if name in raw_params) != 1:
            checker.error(path, params_line, f"kind '{kind}' needs exactly one of: {', '.join(spec.one_of)}")

    reason = _load_reason(checker, path, node, effect if effect in EFFECTS else None,
                          uncertain_needed=(len({a.value for a in alternatives}) > 1
                                            or params.get("partial_list") is True))
    if rule_id is None or spec is None or effect not in EFFECTS or reason is None:
        return None
    return Rule(
        id=rule_id, kind=str(kind), effect=str(effect), params=params, lines=lines, sources=sources,
        verified=verified, reason=reason, varies=varies, alternatives=alternatives, note=note.strip(),
        effective_from=effective_from, effective_until=effective_until, file=path.name, line=node.line,
    )


def _load_reason(checker: Checker, path: Path, node: Located, effect: str | None,
                 uncertain_needed: bool) -> RuleTexts | None:
    raw = node.get("reason")
    if not isinstance(raw, Located):
        checker.error(path, line_of(node, "reason") if "reason" in node else line_of(node),
                      "missing 'reason' (triggered/clear/unknown/uncertain texts in es, pt and en)")
        return None
    _unknown_fields(checker, path, raw, set(_REASON_KEYS), "reason")
    needed = set(_REQUIRED_REASONS.get(effect or "", ("triggered",)))
    if uncertain_needed:
        needed.add("uncertain")
    texts = {key: _checked_text(checker, path, raw, key, required=key in needed) for key in _REASON_KEYS}
    triggered = texts["triggered"]
    if triggered is None or any(texts[key] is None for key in needed):
        return None
    return RuleTexts(triggered=triggered, clear=texts["clear"], unknown=texts["unknown"],
                     uncertain=texts["uncertain"])


def _load_reentry(checker: Checker, path: Path, node: Located, line_ids: tuple[str, ...],
                  seen: dict[str, str]) -> ReentryRule | None:
    _unknown_fields(checker, path, node, {"id", "lines", "years", "text", "sources", "verified"}, "reentry")
    reentry_id = _new_id(checker, path, node, seen, "reentry")
    lines = _line_refs(checker, path, node, line_ids)
    years = _alternatives(checker, path, node, "years", "int")
    if years is None:
        value = node.get("years")
        if not _valid_scalar("int", value):
            checker.error(path, line_of(node, "years") if "years" in node else line_of(node),
                          "'years' must be a whole number >= 0 (0 = no bar) or a list of {value, sources}")
            years = ()
        else:
            years = (Alternative(value=value, sources=()),)
    text = _checked_text(checker, path, node, "text", required=True)
    sources = checker.sources(path, node)
    verified = checker.date(path, node)
    if reentry_id is None or not text or not years:
        return None
    return ReentryRule(id=reentry_id, lines=lines, years=years, text=text, sources=sources, verified=verified)


def _load_document(checker: Checker, path: Path, node: Located, line_ids: tuple[str, ...],
                   seen: dict[str, str]) -> DocumentItem | None:
    _unknown_fields(checker, path, node, {"id", "lines", "text", "sources", "verified"}, "document")
    doc_id = _new_id(checker, path, node, seen, "document")
    lines = _line_refs(checker, path, node, line_ids)
    text = _checked_text(checker, path, node, "text", required=True)
    sources = checker.sources(path, node)
    verified = checker.date(path, node)
    if doc_id is None or not text:
        return None
    return DocumentItem(id=doc_id, lines=lines, text=text, sources=sources, verified=verified)


def _load_notice(checker: Checker, path: Path, node: Located, seen: dict[str, str]) -> Notice | None:
    _unknown_fields(checker, path, node, {"id", "text", "sources", "verified"}, "notice")
    notice_id = _new_id(checker, path, node, seen, "notice")
    text = _checked_text(checker, path, node, "text", required=True)
    sources = checker.sources(path, node)
    verified = checker.date(path, node)
    if notice_id is None or not text:
        return None
    return Notice(id=notice_id, text=text, sources=sources, verified=verified)
