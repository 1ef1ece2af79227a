"""Spelling-independent word forms and tf-idf weighting for the intent features.

People write the same word many ways on WhatsApp: with or without accents ("información",
"informacion"), in capitals, with stretched letters ("holaaaa", "graciassss"). The
count features treat each spelling as a different word, so a spelling the training data
lacks loses the word's evidence. `normalise_word` maps them to one form; the tokens keep
their text (entities and slots read the original), only the features see the form.

Counts also let long messages and frequent, uninformative words ("de", "the", "que")
dominate; `SublinearTfidf` re-weights the sentence features (sublinear term frequency,
inverse document frequency, unit length). Both were measured with 5-fold cross-validation
(reports/nlu_features.md, reports/nlu_trial_tfidf.md); abbreviation tables, stemming and
word prefixes were measured too and did not help on top of the character n-grams.
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


class SublinearTfidf:
    """Sublinear tf-idf with unit-length rows, as scikit-learn's TfidfTransformer computes it.

    The weights are fitted by scikit-learn; `transform` works on the stored non-zeros only,
    because the library's diagonal-matrix product costs close to a millisecond per message
    on 100k+ n-gram columns, and this a few microseconds.
    """

    def __init__(self, idf: np.ndarray) -> None:
        self.idf_ = np.asarray(idf, dtype=np.float64)

    @classmethod
    def fit(cls, X: Any) -> SublinearTfidf:
        from sklearn.feature_extraction.text import TfidfTransformer

        return cls(TfidfTransformer(sublinear_tf=True).fit(X).idf_)

    def transform(self, X: Any) -> Any:
        from scipy.sparse import csr_matrix
        from sklearn.preprocessing import normalize

        out = csr_matrix(X, dtype=np.float64, copy=True)
        out.data = (np.log(out.data) + 1.0) * self.idf_[out.indices]
        return normalize(out, norm="l2", copy=False)
