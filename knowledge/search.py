"""Retrieval over the knowledge entries: which entry answers this question best?

Character n-gram TF-IDF with cosine similarity over each entry's example questions (and
its institution name), per language. Pure Python and built once per knowledge base, so a
changed or added entry is searchable without retraining anything.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass

from knowledge import LANGUAGES
from knowledge.model import Entry, KnowledgeBase

_NON_WORD = re.compile(r"[^a-z0-9ñ]+")


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NON_WORD.sub(" ", plain).split())


def grams(text: str, sizes: tuple[int, ...] = (3, 4, 5)) -> Counter[str]:
    out: Counter[str] = Counter()
    for word in normalise(text).split():
        padded = f" {word} "
        for size in sizes:
            for i in range(max(1, len(padded) - size + 1)):
                out[padded[i:i + size]] += 1
    return out


@dataclass(frozen=True)
class Hit:
    entry: Entry
    score: float


class EntryIndex:
    """One TF-IDF index per language over the entries' questions."""

    def __init__(self, entries: tuple[Entry, ...]):
        self.entries = entries
        self._docs: dict[str, list[tuple[int, dict[str, float]]]] = {}
        self._idf: dict[str, dict[str, float]] = {}
        self._postings: dict[str, dict[str, list[int]]] = {}
        for lang in LANGUAGES:
            raw: list[tuple[int, Counter[str]]] = []
            for index, entry in enumerate(entries):
                for question in (*entry.questions.get(lang, ()), entry.institution):
                    raw.append((index, grams(question)))
            df: Counter[str] = Counter()
            for _, counts in raw:
                df.update(counts.keys())
            n = len(raw) or 1
            idf = {g: math.log((1 + n) / (1 + c)) + 1 for g, c in df.items()}
            docs = []
            postings: dict[str, list[int]] = defaultdict(list)
            for doc_id, (index, counts) in enumerate(raw):
                vector = {g: (1 + math.log(c)) * idf[g] for g, c in counts.items()}
                norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
                docs.append((index, {g: v / norm for g, v in vector.items()}))
                for g in vector:
                    postings[g].append(doc_id)
            self._docs[lang], self._idf[lang], self._postings[lang] = docs, idf, postings

    def search(self, text: str, language: str, allowed: set[str] | None = None, limit: int = 3) -> list[Hit]:
        idf = self._idf[language]
        counts = grams(text)
        vector = {g: (1 + math.log(c)) * idf[g] for g, c in counts.items() if g in idf}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        scores: dict[int, float] = defaultdict(float)
        docs = self._docs[language]
        for g, weight in vector.items():
            for doc_id in self._postings[language][g]:
                scores[doc_id] += weight / norm * docs[doc_id][1][g]
        best: dict[int, float] = {}
        for doc_id, score in scores.items():
            index = docs[doc_id][0]
            if allowed is not None and self.entries[index].id not in allowed:
                continue
            best[index] = max(best.get(index, 0.0), score)
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:limit]
        return [Hit(self.entries[i], s) for i, s in ranked]


_INDEXES: dict[int, EntryIndex] = {}


def index_for(kb: KnowledgeBase) -> EntryIndex:
    """The index of a knowledge base, built on first use and kept with it."""
    key = id(kb)
    if key not in _INDEXES:
        _INDEXES.clear()
        _INDEXES[key] = EntryIndex(kb.entries)
    return _INDEXES[key]
