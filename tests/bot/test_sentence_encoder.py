"""The multilingual sentence encoder: meaning, not spelling, and across es, pt and en."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu import encoder
from bot.nlu.components import SentenceEncoderFeaturizer


def test_vectors_are_unit_length_and_repeatable() -> None:
    texts = ["hola", "", "😀😀", "a" * 5000, "<script>alert(1)</script>", "DROP TABLE cases;"]
    first, second = encoder.encode(texts), encoder.encode(list(reversed(texts)))[::-1]
    assert first.shape == (len(texts), encoder.DIMENSIONS)
    assert np.isfinite(first).all()
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-4)
    assert np.allclose(first, second, atol=1e-5)  # a message's vector does not depend on its batch


def test_the_same_plea_in_three_languages_is_closer_than_a_different_one() -> None:
    """What lets one model trained on es+pt+en read a wording it never saw in any of them."""
    plea, other = encoder.encode(["my boss keeps my passport and won't give it back",
                                  "where is the office in Lima, what are the opening hours"])
    es, pt = encoder.encode(["mi jefe se quedó con mi pasaporte y no me lo devuelve",
                             "o meu patrão ficou com o meu passaporte e não o devolve"])
    for translated in (es, pt):
        assert translated @ plea > translated @ other + 0.3


def test_the_featurizer_adds_one_sentence_vector_per_text(tmp_path: Path) -> None:
    featurizer = SentenceEncoderFeaturizer.create(
        {}, LocalModelStorage(tmp_path), Resource("encoder"), ExecutionContext(graph_schema=None, node_name="encoder"))
    messages = [Message(data={TEXT: "quiero volver a Bolivia"}), Message(data={TEXT: ""})]
    featurizer.process_training_data(TrainingData(messages))
    [served] = featurizer.process([Message(data={TEXT: "quiero volver a Bolivia"})])
    for msg in (*messages, served):
        sequence, sentence = msg.get_dense_features(TEXT)
        assert sequence is None
        assert sentence is not None
        assert sentence.features.shape == (1, encoder.DIMENSIONS)
    assert np.allclose(messages[0].get_dense_features(TEXT)[1].features, served.get_dense_features(TEXT)[1].features,
                       atol=1e-5)
