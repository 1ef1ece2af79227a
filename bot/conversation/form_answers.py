"""Reading a person's answer to a form question: yes/no, nationality, vulnerabilities.

Each parser returns the value, or one of the markers below: UNKNOWN ("no sé"), DECLINED
(skipped an optional question), or NOT_UNDERSTOOD (ask again with an example).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from knowledge import EU_COUNTRIES

UNKNOWN = "unknown"
DECLINED = "declined"
NOT_UNDERSTOOD = None

_YES = {"si", "sim", "yes", "claro", "obvio", "vale", "ok", "okay", "yep", "yeah", "tengo", "tenho", "correcto", "exacto", "isso"}
_NO = {"no", "nao", "nope", "nunca", "ninguno", "ninguna", "nenhum", "nenhuma", "never", "none", "tampoco"}
_DONT_KNOW = re.compile(r"\b(no se|nao sei|i don ?t know|idk|no estoy seguro|no estoy segura|nao tenho certeza|not sure|ni idea|sei la)\b")

VULNERABILITY_CODES = ("minors", "pregnancy", "disability", "elderly", "single_parent", "violence")
_VULNERABILITY_WORDS = {
    "minors": ("hijo", "hija", "hijos", "ninos", "menor", "menores", "filho", "filhos", "filha", "criancas", "children", "kids", "child"),
    "pregnancy": ("embarazada", "embarazo", "gravida", "gestante", "gravidez", "pregnant", "pregnancy"),
    "disability": ("discapacidad", "enfermedad", "enferma", "enfermo", "cancer", "deficiencia", "doenca", "doente", "disability", "illness", "sick", "disabled"),
    "elderly": ("mayor", "anciano", "anciana", "jubilado", "idoso", "idosa", "elderly", "older", "65"),
    "single_parent": ("monoparental", "sola con", "solo con", "sozinha com", "sozinho com", "single parent", "single mother", "single father", "madre soltera", "mae solteira"),
    "violence": ("violencia", "maltrato", "trata", "explotacion", "abuso", "violencia", "exploracao", "trafico", "violence", "abuse", "trafficking", "exploitation"),
}


def plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", (text or "").lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def yes_no(intent: str | None, text: str, optional: bool = False) -> Any:
    """True / False / UNKNOWN / DECLINED (optional questions) / NOT_UNDERSTOOD."""
    if intent == "skip":
        # Skipping an optional question declines it; skipping a required one leaves it
        # unknown, which a counsellor will look at (never a guess).
        return DECLINED if optional else UNKNOWN
    if intent == "dont_know" or _DONT_KNOW.search(plain(text)):
        return UNKNOWN
    if intent == "affirm":
        return True
    if intent == "deny":
        return False
    words = set(re.findall(r"[a-z]+", plain(text)))
    if words & _YES and not words & _NO:
        return True
    if words & _NO and not words & _YES:
        return False
    return NOT_UNDERSTOOD


def nationality(countries: list[str]) -> str | None:
    """The nationality that matters for eligibility: an EU one if the person has it."""
    codes = [c.upper() for c in countries if c]
    eu = [c for c in codes if c in EU_COUNTRIES]
    if eu:
        return eu[-1]
    return codes[-1] if codes else None


def vulnerabilities(intent: str | None, text: str) -> Any:
    """A comma-separated set of codes, "" for none, DECLINED, or NOT_UNDERSTOOD."""
    if intent == "skip":
        return DECLINED
    folded = plain(text)
    if folded.startswith("vuln:"):
        code = folded.split(":", 1)[1].strip()
        if code == "none":
            return ""
        return code if code in VULNERABILITY_CODES else NOT_UNDERSTOOD
    if intent == "deny" or set(re.findall(r"[a-z]+", folded)) & {"ninguna", "ninguno", "nenhuma", "nenhum", "none", "no", "nao"}:
        return ""
    found = [code for code, words in _VULNERABILITY_WORDS.items() if any(re.search(rf"\b{re.escape(w)}", folded) for w in words)]
    return ",".join(found) if found else NOT_UNDERSTOOD
