"""How long someone has been somewhere, from what they typed, in es/pt/en.

Understands what a person would understand: "hace 3 años", "2 años y medio",
"desde 2019", "since march 2021", "18 meses", "um ano e meio", "casi un año". Vague
answers ("hace mucho", "no sé") give None so the assistant asks again with an example.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

_NUMBER_WORDS = {
    # es
    "un": 1, "una": 1, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6,
    "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12, "quince": 15,
    "veinte": 20, "medio": 0.5, "media": 0.5,
    # pt
    "um": 1, "uma": 1, "dois": 2, "duas": 2, "quatro": 4, "sete": 7, "oito": 8, "nove": 9,
    "dez": 10, "onze": 11, "doze": 12, "quinze": 15, "vinte": 20, "meio": 0.5,
    # en
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15,
    "twenty": 20, "half": 0.5,
}
_YEAR_UNITS = {"ano", "anos", "anio", "anios", "year", "years", "yr", "yrs"}
_MONTH_UNITS = {"mes", "meses", "month", "months"}
_WEEK_UNITS = {"semana", "semanas", "week", "weeks"}
_MONTH_NAMES = {
    "enero": 1, "janeiro": 1, "january": 1, "febrero": 2, "fevereiro": 2, "february": 2,
    "marzo": 3, "marco": 3, "march": 3, "abril": 4, "april": 4, "mayo": 5, "maio": 5, "may": 5,
    "junio": 6, "junho": 6, "june": 6, "julio": 7, "julho": 7, "july": 7, "agosto": 8,
    "august": 8, "septiembre": 9, "setiembre": 9, "setembro": 9, "september": 9,
    "octubre": 10, "outubro": 10, "october": 10, "noviembre": 11, "novembro": 11,
    "november": 11, "diciembre": 12, "dezembro": 12, "december": 12,
}
_HALF = re.compile(r"\b(y|e|and)\s+(medio|media|meio|a half)\b")
_SINCE = re.compile(r"\b(desde|since|dende|a partir de)\b")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)?|[a-z]+")


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def months_since(year: int, month: int, today: dt.date) -> int:
    return (today.year - year) * 12 + (today.month - month)


def parse_months(text: str, today: dt.date) -> int | None:
    """Whole months of stay, or None when the answer is too vague to use."""
    plain = _plain(text)
    tokens = _TOKEN.findall(plain)
    if _SINCE.search(plain) or any(t.isdigit() and len(t) == 4 for t in tokens):
        year = next((int(t) for t in tokens if t.isdigit() and len(t) == 4), None)
        if year and 1950 <= year <= today.year:
            month = next((_MONTH_NAMES[t] for t in tokens if t in _MONTH_NAMES), 1 if year < today.year else today.month)
            months = months_since(year, month, today)
            return max(months, 0)
        if year is None:
            named_month = next((_MONTH_NAMES[t] for t in tokens if t in _MONTH_NAMES), None)
            if named_month:
                year_guess = today.year if named_month <= today.month else today.year - 1
                return months_since(year_guess, named_month, today)
    total = 0.0
    found = False
    pending: float | None = None
    for token in tokens:
        value: float | None
        if re.fullmatch(r"\d+(?:[.,]\d+)?", token):
            value = float(token.replace(",", "."))
        else:
            value = _NUMBER_WORDS.get(token)
        if token in _YEAR_UNITS and pending is not None:
            total += pending * 12
            pending, found = None, True
        elif token in _MONTH_UNITS and pending is not None:
            total += pending
            pending, found = None, True
        elif token in _WEEK_UNITS and pending is not None:
            total += pending / 4.3
            pending, found = None, True
        elif value is not None and token not in _YEAR_UNITS:
            pending = value
    if not found:
        return None
    half = _HALF.search(plain)
    if half:
        unit_is_year = any(t in _YEAR_UNITS for t in tokens)
        total += 6 if unit_is_year else 0.5
    return int(round(total))
