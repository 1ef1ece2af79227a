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
from bot.nlu.normalise import fit_tfidf, normalise_word, tfidf_from_idf


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


def test_tfidf_weighs_rare_words_up_and_rows_to_unit_length() -> None:
    # column 0 is in every row (like "de"), column 1 in one row only
    X = csr_matrix(np.array([[3.0, 1.0], [1.0, 0.0], [2.0, 0.0]]))
    transformer = fit_tfidf(X)
    row = transformer.transform(X[0]).toarray()[0]
    assert np.linalg.norm(row) == pytest.approx(1.0)
    assert row[1] > row[0] * 0.5  # counted 3 times vs once, yet not dwarfed
    rebuilt = tfidf_from_idf(transformer.idf_)
    assert np.allclose(rebuilt.transform(X).toarray(), transformer.transform(X).toarray())
