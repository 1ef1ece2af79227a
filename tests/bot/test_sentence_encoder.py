"""The multilingual sentence encoders: meaning, not spelling, and across es, pt and en."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu import encoder
from bot.nlu.components import SentenceEncoderFeaturizer

ENCODERS = pytest.mark.parametrize("name", sorted(encoder.DIMENSIONS))


@ENCODERS
def test_vectors_are_unit_length_and_repeatable(name: str) -> None:
    texts = ["hola", "", "😀😀", "a" * 5000, "<script>alert(1)</script>", "DROP TABLE cases;"]
    first, second = encoder.encode(texts, name), encoder.encode(list(reversed(texts)), name)[::-1]
    assert first.shape == (len(texts), encoder.DIMENSIONS[name])
    assert np.isfinite(first).all()
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-4)
    assert np.allclose(first, second, atol=1e-5)  # a message's vector does not depend on its batch


@pytest.mark.parametrize(("name", "margin"), [("use", 0.3), ("e5", 0.1)])  # e5's cone is narrow
def test_the_same_plea_in_three_languages_is_closer_than_a_different_one(name: str, margin: float) -> None:
    """What lets one model trained on es+pt+en read a wording it never saw in any of them."""
    plea, other = encoder.encode(["my boss keeps my passport and won't give it back",
                                  "where is the office in Lima, what are the opening hours"], name)
    es, pt = encoder.encode(["mi jefe se quedó con mi pasaporte y no me lo devuelve",
                             "o meu patrão ficou com o meu passaporte e não o devolve"], name)
    for translated in (es, pt):
        assert translated @ plea > translated @ other + margin


def _featurizer(tmp_path: Path, **config: object) -> SentenceEncoderFeaturizer:
    return SentenceEncoderFeaturizer.create(
        config, LocalModelStorage(tmp_path), Resource("encoder"), ExecutionContext(graph_schema=None, node_name="encoder"))


def test_the_featurizer_adds_one_sentence_vector_per_text(tmp_path: Path) -> None:
    featurizer = _featurizer(tmp_path)
    messages = [Message(data={TEXT: "quiero volver a Bolivia"}), Message(data={TEXT: ""})]
    featurizer.process_training_data(TrainingData(messages))
    [served] = featurizer.process([Message(data={TEXT: "quiero volver a Bolivia"})])
    for msg in (*messages, served):
        sequence, sentence = msg.get_dense_features(TEXT)
        assert sequence is None
        assert sentence is not None
        assert sentence.features.shape == (1, encoder.DIMENSIONS["use"])
    assert np.allclose(messages[0].get_dense_features(TEXT)[1].features, served.get_dense_features(TEXT)[1].features,
                       atol=1e-5)


def test_a_centred_encoder_keeps_its_training_mean_and_spreads_the_vectors(tmp_path: Path) -> None:
    """e5's raw vectors all point the same way; centred on the training mean they do not,
    and a model loaded from disk centres a served message exactly as training did."""
    texts = ["quiero volver a Bolivia", "hola", "cuánto cuesta el billete", "obrigado", "I need a lawyer",
             "mi jefe me quitó el pasaporte"]
    featurizer = _featurizer(tmp_path, encoder="e5", centre=True)
    training = TrainingData([Message(data={TEXT: t}) for t in texts])
    featurizer.train(training)
    featurizer.process_training_data(training)
    trained = np.vstack([m.get_dense_features(TEXT)[1].features for m in training.training_examples])
    raw = encoder.encode(texts, "e5")
    off_diagonal = ~np.eye(len(texts), dtype=bool)
    assert (raw @ raw.T)[off_diagonal].mean() > 0.6
    assert (trained @ trained.T)[off_diagonal].mean() < 0.1
    assert np.allclose(np.linalg.norm(trained, axis=1), 1.0, atol=1e-4)

    loaded = SentenceEncoderFeaturizer.load(
        {"encoder": "e5", "centre": True}, LocalModelStorage(tmp_path), Resource("encoder"),
        ExecutionContext(graph_schema=None, node_name="encoder"))
    [served] = loaded.process([Message(data={TEXT: "quiero volver a Bolivia"})])
    assert np.allclose(served.get_dense_features(TEXT)[1].features, trained[0], atol=1e-4)


def test_an_unknown_encoder_is_refused_when_the_model_is_configured(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown sentence encoder"):
        _featurizer(tmp_path, encoder="bert-large")
