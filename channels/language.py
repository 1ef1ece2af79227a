"""A first guess at the reply language from what the channel knows about the person.

Only a hint: the assistant still detects the language of what the person writes, and an
explicit request wins. WhatsApp gives the phone's country prefix, Telegram the app's
language setting.
"""

from __future__ import annotations

SUPPORTED = ("es", "pt", "en")

# Longest prefixes first when matching: +1 (NANP) would otherwise shadow nothing, but
# +351 (Portugal) must win over +35x, and +590.. over +5.
PHONE_PREFIXES: dict[str, str] = {
    "55": "pt", "351": "pt",
    "34": "es", "52": "es", "53": "es", "54": "es", "56": "es", "57": "es", "58": "es",
    "51": "es", "591": "es", "593": "es", "595": "es", "598": "es",
    "502": "es", "503": "es", "504": "es", "505": "es", "506": "es", "507": "es",
    "240": "es",
    "44": "en", "1": "en",
}
# Spanish-speaking parts of the North American numbering plan (+1 area codes).
SPANISH_NANP = ("1809", "1829", "1849", "1787", "1939")


def language_from_phone(number: str) -> str | None:
    digits = number.strip().removeprefix("whatsapp:").replace(" ", "")
    if not digits.startswith("+"):
        return None
    digits = digits[1:]
    if digits.startswith(SPANISH_NANP):
        return "es"
    for length in (3, 2, 1):
        language = PHONE_PREFIXES.get(digits[:length])
        if language:
            return language
    return None


def language_from_code(code: str | None) -> str | None:
    """Telegram's `language_code` (an IETF tag like "pt-BR") as es/pt/en, else None."""
    if not code:
        return None
    primary = code.strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in SUPPORTED else None
