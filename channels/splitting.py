"""Long replies split at a channel's limit, between words: never inside a word or a URL."""

from __future__ import annotations

from collections.abc import Callable

WHATSAPP_LIMIT = 1600
TELEGRAM_LIMIT = 4096


def utf16_length(text: str) -> int:
    """Telegram counts message length in UTF-16 code units (an emoji may count as two)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Parts of at most `limit` (by `measure`), cut at a paragraph, line or space.

    Only a single word longer than the limit (a monstrous URL) is cut inside, as a last resort.
    """
    if limit <= 0:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if measure(rest) <= limit:
            parts.append(rest)
            break
        fits = _longest_prefix(rest, limit, measure)
        cut = _break_point(rest[:fits + 1])
        if cut <= 0:
            cut = fits  # one word longer than the limit: no other way
        part, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if part:
            parts.append(part)
    return parts


def _longest_prefix(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """The number of characters of `text` whose measure fits in `limit`."""
    low, high = 0, min(len(text), limit)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def _break_point(window: str) -> int:
    """Where to cut `window` (the fitting prefix plus one character): after whitespace.

    A cut at index i keeps window[:i]; the character at i must be whitespace so that no
    word is broken. Prefer a paragraph break, then a line break, then any space.
    """
    for separator in ("\n\n", "\n"):
        index = window.rfind(separator)
        if index > len(window) // 3:
            return index
    for index in range(len(window) - 1, 0, -1):
        if window[index].isspace():
            return index
    return 0
