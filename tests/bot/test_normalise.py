"""Spelling-independent word forms feed the intent features; the tokens keep their text."""

from __future__ import annotations

import numpy as np
import pytest
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix

from bot.nlu.components import TokenNormaliser
from bot.nlu.normalise import SublinearTfidf, normalise_word


@pytest.mark.parametrize(("written", "form"), [
    ("Información", "informacion"),
    ("INFORMACIÓN", "informacion"),
    ("não", "nao"),
    ("Açúcar", "acucar"),
    ("holaaaaa", "holaa"),
    ("graciassss", "graciass"),
    ("llamar", "llamar"),
    ("good", "good"),
    ("2000", "2000"),
    ("", ""),
])
def test_normalise_word(written: str, form: str) -> None:
    assert normalise_word(written) == form


def tokenized(text: str) -> Message:
    message = Message(data={TEXT: text})
    WhitespaceTokenizer(WhitespaceTokenizer.get_default_config()).process([message])
    return message


def test_lemmas_are_normalised_and_texts_kept() -> None:
    message = tokenized("Quiero INFORMACIÓN pleaseee")
    TokenNormaliser().process([message])
    tokens = message.get(TOKENS_NAMES[TEXT])
    assert [t.text for t in tokens] == ["Quiero", "INFORMACIÓN", "pleaseee"]
    assert [t.lemma for t in tokens] == ["quiero", "informacion", "pleasee"]


def test_training_data_is_normalised_too() -> None:
    message = tokenized("Olá, não sei")
    TokenNormaliser().process_training_data(TrainingData([message]))
    assert [t.lemma for t in message.get(TOKENS_NAMES[TEXT])] == ["ola", "nao", "sei"]


def test_a_message_without_tokens_is_left_alone() -> None:
    message = Message(data={TEXT: ""})
    TokenNormaliser().process([message])
    assert message.get(TOKENS_NAMES[TEXT]) is None


def test_tfidf_is_the_sublinear_tfidf_of_scikit_learn() -> None:
    from sklearn.feature_extraction.text import TfidfTransformer

    # column 0 is in every row (like "de"), column 1 in one row only, column 2 in two
    X = csr_matrix(np.array([[3.0, 1.0, 0.0], [1.0, 0.0, 2.0], [2.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    weights = SublinearTfidf.fit(X)
    expected = TfidfTransformer(sublinear_tf=True).fit(X).transform(X).toarray()
    assert np.allclose(weights.transform(X).toarray(), expected)
    row = weights.transform(X[0]).toarray()[0]
    assert np.linalg.norm(row) == pytest.approx(1.0)
    # counted three times vs once: 3 to 1 in raw counts, nearly even once weighted
    assert row[1] / row[0] > 0.8


def test_tfidf_leaves_its_input_alone_and_keeps_empty_rows_empty() -> None:
    X = csr_matrix(np.array([[2.0, 1.0], [0.0, 0.0]]))
    weights = SublinearTfidf(np.array([1.0, 2.0]))
    out = weights.transform(X)
    assert X.toarray().tolist() == [[2.0, 1.0], [0.0, 0.0]]
    assert out[1].nnz == 0
    assert np.allclose(SublinearTfidf(weights.idf_).transform(X).toarray(), out.toarray())
