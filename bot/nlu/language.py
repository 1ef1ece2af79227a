"""Which of es/pt/en a message is written in, and when to switch the reply language.

Statistical identification (py3langid, which bundles its model, restricted to es/pt/en)
is reliable on sentences and unreliable on one or two words ("hola", "sim", "olá"), so
short messages are decided by an unambiguous-word lexicon or not at all. The reply
language only changes on a long, confident message or an explicit request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

SUPPORTED = ("es", "pt", "en")
SWITCH_MIN_WORDS = 4
SWITCH_MIN_CONFIDENCE = 0.95
FIRST_MIN_CONFIDENCE = 0.7
LEXICON_MAX_WORDS = 6
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@dataclass(frozen=True)
class LanguageGuess:
    language: str
    confidence: float
    words: int
    method: str  # "lexicon" | "langid"

    def as_dict(self) -> dict[str, Any]:
        return {"language": self.language, "confidence": round(self.confidence, 4),
                "words": self.words, "method": self.method}


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(SUPPORTED))
    return identifier


def guess_language(text: str) -> LanguageGuess | None:
    words = _WORD.findall(text or "")
    if not words:
        return None
    if len(words) <= LEXICON_MAX_WORDS:
        # Greetings and small talk ("buenas tardes, ¿qué tal?") fool statistical
        # identification; words that belong to one language only do not.
        # Imported here: the action server uses this module's rules but not spaCy (~100 MB).
        from bot.nlu.gazetteer import gazetteer

        lexical = gazetteer().short_word_language(text)
        if lexical:
            return LanguageGuess(lexical, 0.9, len(words), "lexicon")
        if len(words) < 3:
            return None
    language, confidence = _identifier().classify(" ".join(words)[:1000])
    return LanguageGuess(str(language), float(confidence), len(words), "langid")


def choose_reply_language(
    current: str | None,
    guess: dict[str, Any] | None,
    requested: str | None = None,
    channel_hint: str | None = None,
) -> str | None:
    """The reply language after this message, or None to keep the current one.

    Order: an explicit request; the channel's own setting (`metadata.language` on REST)
    via `requested` as well; then, for a new conversation, a confident guess or the
    channel hint (Telegram language_code, the phone's country prefix); in an ongoing
    conversation, only a long and confident message in another language switches.
    """
    if requested in SUPPORTED:
        return requested
    language = (guess or {}).get("language")
    confidence = float((guess or {}).get("confidence") or 0.0)
    words = int((guess or {}).get("words") or 0)
    if current not in SUPPORTED:
        if language in SUPPORTED and confidence >= FIRST_MIN_CONFIDENCE:
            return str(language)
        if channel_hint in SUPPORTED:
            return channel_hint
        return None
    if (
        language in SUPPORTED
        and language != current
        and words >= SWITCH_MIN_WORDS
        and confidence >= SWITCH_MIN_CONFIDENCE
    ):
        return str(language)
    return None
