"""The blended intent classifier averages its logistic regression with the ranking before it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix

from bot.nlu.components import BlendedLogisticRegressionClassifier

VOCAB = ["hola", "chau", "si", "no"]


def message(words: list[str], intent: str | None = None) -> Message:
    msg = Message(data={TEXT: " ".join(words), **({INTENT: intent} if intent else {})})
    row = np.array([[float(w in words) for w in VOCAB]])
    msg.add_features(Features(csr_matrix(row), "sentence", TEXT, "test"))
    return msg


@pytest.fixture
def classifier(tmp_path: Path) -> BlendedLogisticRegressionClassifier:
    component = BlendedLogisticRegressionClassifier(
        {"weight": 0.5}, "blend", LocalModelStorage(tmp_path), Resource("blend"))
    examples = [message(["hola"], "greet"), message(["chau"], "goodbye"),
                message(["si"], "affirm"), message(["no"], "deny")] * 5
    component.train(TrainingData(examples))
    return component


def test_without_a_ranking_before_it_it_is_the_logistic_regression(classifier: BlendedLogisticRegressionClassifier) -> None:
    [msg] = classifier.process([message(["hola"])])
    ranking = msg.get(INTENT_RANKING_KEY)
    assert msg.get(INTENT)["name"] == "greet"
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)


def test_the_ranking_before_it_is_averaged_in(classifier: BlendedLogisticRegressionClassifier) -> None:
    [alone] = classifier.process([message(["hola"])])
    lr = {r["name"]: r["confidence"] for r in alone.get(INTENT_RANKING_KEY)}
    before = message(["hola"])
    before.set(INTENT_RANKING_KEY, [{"name": "deny", "confidence": 1.0}])
    [msg] = classifier.process([before])
    blended = {r["name"]: r["confidence"] for r in msg.get(INTENT_RANKING_KEY)}
    assert blended["deny"] == pytest.approx(0.5 * lr["deny"] + 0.5)
    assert blended["greet"] == pytest.approx(0.5 * lr["greet"])
    assert msg.get(INTENT)["name"] == max(blended, key=blended.get)


def test_tfidf_weights_are_saved_with_the_model(tmp_path: Path) -> None:
    from rasa.engine.graph import ExecutionContext

    storage = LocalModelStorage(tmp_path)
    config = {**BlendedLogisticRegressionClassifier.get_default_config(), "tfidf": True, "C": 10.0}
    component = BlendedLogisticRegressionClassifier(config, "blend", storage, Resource("blend"))
    examples = [message(["hola"], "greet"), message(["chau"], "goodbye"),
                message(["si", "hola"], "affirm"), message(["no", "hola"], "deny")] * 5
    component.train(TrainingData(examples))
    assert component.tfidf is not None

    loaded = BlendedLogisticRegressionClassifier.load(
        config, storage, Resource("blend"), ExecutionContext(graph_schema=None, node_name="blend"))
    assert loaded.tfidf is not None
    assert np.allclose(loaded.tfidf.idf_, component.tfidf.idf_)
    for words, intent in ((["hola"], "greet"), (["no", "hola"], "deny")):
        [trained] = component.process([message(words)])
        [reloaded] = loaded.process([message(words)])
        assert reloaded.get(INTENT)["name"] == trained.get(INTENT)["name"] == intent
        assert reloaded.get(INTENT)["confidence"] == pytest.approx(trained.get(INTENT)["confidence"])


def test_without_tfidf_nothing_extra_is_saved(tmp_path: Path) -> None:
    component = BlendedLogisticRegressionClassifier(
        {"weight": 0.5}, "blend", LocalModelStorage(tmp_path), Resource("blend"))
    component.train(TrainingData([message(["hola"], "greet"), message(["chau"], "goodbye")] * 3))
    assert component.tfidf is None
    assert not list(tmp_path.rglob("*.idf.npy"))


def with_vector(msg: Message, vector: list[float]) -> Message:
    msg.add_features(Features(np.array([vector]), "sentence", TEXT, "encoder"))
    return msg


def test_a_dense_sentence_vector_is_read_next_to_the_counts_and_left_unweighted(tmp_path: Path) -> None:
    """tf-idf re-weights the n-gram counts only; the encoder's vector (negatives too) goes in as it is."""
    config = {**BlendedLogisticRegressionClassifier.get_default_config(), "tfidf": True, "dense_weight": 2.0}
    component = BlendedLogisticRegressionClassifier(config, "blend", LocalModelStorage(tmp_path), Resource("blend"))
    # Same words, different intents: only the vector tells them apart.
    examples = [with_vector(message(["hola"], "greet"), [1.0, -0.5]),
                with_vector(message(["hola"], "goodbye"), [-1.0, 0.5])] * 5
    component.train(TrainingData(examples))
    X = component._create_X([with_vector(message(["hola", "no"]), [0.25, -0.75])]).toarray()[0]
    assert X[len(VOCAB):].tolist() == [0.5, -1.5]
    assert np.linalg.norm(X[:len(VOCAB)]) == pytest.approx(1.0)  # the counts, tf-idf rows of unit length
    [greet] = component.process([with_vector(message(["hola"]), [0.9, -0.4])])
    [bye] = component.process([with_vector(message(["hola"]), [-0.9, 0.4])])
    assert (greet.get(INTENT)["name"], bye.get(INTENT)["name"]) == ("greet", "goodbye")


def test_messages_with_and_without_a_vector_are_refused_together(classifier: BlendedLogisticRegressionClassifier) -> None:
    with pytest.raises(ValueError, match="dense sentence feature"):
        classifier._create_X([message(["hola"]), with_vector(message(["hola"]), [1.0, 0.0])])
