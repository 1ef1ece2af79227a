"""Spelling-independent word forms and tf-idf weighting for the intent features.

People write the same word many ways on WhatsApp: with or without accents ("información",
"informacion"), in capitals, with stretched letters ("holaaaa", "graciassss"). The
count features treat each spelling as a different word, so a spelling the training data
lacks loses the word's evidence. `normalise_word` maps them to one form; the tokens keep
their text (entities and slots read the original), only the features see the form.

Counts also let long messages and frequent, uninformative words ("de", "the", "que")
dominate; `fit_tfidf` re-weights the sentence features (sublinear term frequency, inverse
document frequency, unit length). Both were chosen by 5-fold cross-validation
(reports/nlu_features.md); abbreviation tables, stemming and word prefixes were measured
too and did not help on top of the character n-grams.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import numpy as np

_STRETCHED = re.compile(r"([^\W\d_])\1{2,}", re.UNICODE)


def normalise_word(word: str) -> str:
    """Lowercase, without accents or cedillas, letters repeated 3+ times cut to 2.

    Two are kept, not one, because doubled letters are real spelling in all three
    languages ("llamar", "carro", "good", "leer").
    """
    decomposed = unicodedata.normalize("NFKD", word.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _STRETCHED.sub(r"\1\1", plain)


def fit_tfidf(X: Any) -> Any:
    """A sublinear tf-idf transformer fitted on the training feature matrix."""
    from sklearn.feature_extraction.text import TfidfTransformer

    return TfidfTransformer(sublinear_tf=True).fit(X)


def tfidf_from_idf(idf: np.ndarray) -> Any:
    """The transformer `fit_tfidf` gave, rebuilt from its saved inverse document frequencies."""
    from sklearn.feature_extraction.text import TfidfTransformer

    transformer = TfidfTransformer(sublinear_tf=True)
    transformer.idf_ = np.asarray(idf, dtype=np.float64)
    return transformer
