"""Custom Rasa NLU components: message guard, rule-based entities, language guess.

They wrap plain modules (`gazetteer`, `language`) so that the logic is testable without
Rasa and the heavy objects are built once per process, not per message.
"""

from __future__ import annotations

import importlib
import logging
import re
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_ROLE,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    INTENT,
    INTENT_RANKING_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow.constants import RANKING_LENGTH
from scipy.sparse import csr_matrix, hstack, vstack

from bot.nlu import encoder
from bot.nlu.gazetteer import gazetteer
from bot.nlu.language import guess_language
from bot.nlu.normalise import SublinearTfidf, normalise_word


def _import_keeping_the_log_level(module: str) -> None:
    """Import `module` and put the root logger's level back as it was.

    Rasa's LogisticRegressionClassifier.load imports skops, which imports scikit-learn's
    build helpers and so numpy.distutils, whose log is setuptools' distutils log, which is
    the root logger: importing it sets the root level to WARNING. Loading our model
    therefore silenced every INFO line of the Rasa process from then on ("Rasa server is
    up and running", the channels' notes). Imported here first, with the level kept.
    """
    root = logging.getLogger()
    level = root.level
    try:
        importlib.import_module(module)
    finally:
        root.setLevel(level)


_import_keeping_the_log_level("skops.io")

MAX_NLU_CHARS = 4096
FLAGS_KEY = "message_flags"
LANGUAGE_KEY = "language_guess"
PLACES_KEY = "places"
_HAS_WORD = re.compile(r"[^\W_]", re.UNICODE)
# Our plain-text button payloads (domain/responses/*.yml: "vuln:minors", "time:morning",
# "contact:phone", "edit:name", "edit"). A tap on one answers the question it came with and
# is read by bot/conversation/*_answers.py; the model must not guess at it: the one with the
# e5 encoder read "vuln:minors" ("children in my care") as report_distress at 0.50, and the
# safety path took the person out of the eligibility check.
BUTTON_PAYLOAD = re.compile(r"(?:vuln|time|contact|edit):[a-z_]+|edit")


def message_flags(text: str, metadata: dict[str, Any] | None) -> list[str]:
    """What is unusual about a message, for the fallback to explain kindly."""
    flags: list[str] = []
    media = (metadata or {}).get("media")
    if media:
        flags.append(f"media:{media}")
    if len(text) > MAX_NLU_CHARS:
        flags.append("too_long")
    if not _HAS_WORD.search(text or ""):
        flags.append("empty" if not (text or "").strip() else "no_words")
    return flags


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class MessageTrimmer(GraphComponent):
    """Caps what NLU reads of very long messages (the tracker keeps the full text)."""

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> MessageTrimmer:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            message.set(FLAGS_KEY, message_flags(text, message.get("metadata")), add_to_output=True)
            if len(text) > MAX_NLU_CHARS:
                message.set(TEXT, text[:MAX_NLU_CHARS])
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class MessageGuard(GraphComponent):
    """Runs last: a message with no words, or only media, is a fallback with no entities.

    An emoji, an empty text or a voice note must never be classified as some intent by
    chance, nor fill a slot. One of our button payloads (`BUTTON_PAYLOAD`) is `inform`, for
    the form that asked to read.
    """

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> MessageGuard:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            flags = message.get(FLAGS_KEY) or []
            if any(f.startswith("media:") or f in ("empty", "no_words", "too_long") for f in flags):
                message.set(INTENT, {"name": "nlu_fallback", "confidence": 1.0}, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
                message.set(ENTITIES, [], add_to_output=True)
            elif BUTTON_PAYLOAD.fullmatch((message.get(TEXT) or "").strip()):
                inform = {"name": "inform", "confidence": 1.0}
                message.set(INTENT, inform, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [inform], add_to_output=True)
        return messages


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False
)
class GazetteerEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Countries (ISO codes, with origin/residence role), cities, needs, languages, numbers."""

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> GazetteerEntityExtractor:
        gazetteer()  # build the matchers when the model loads, not on the first message
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        matcher = gazetteer()
        for message in messages:
            text = message.get(TEXT) or ""
            entities = []
            places = []
            for found in matcher.find(text):
                if found.entity == "city":
                    places.append({
                        "city": found.value,
                        "country": matcher.country_of_city(found.value),
                        "region": matcher.region_of_city(found.value),
                        "role": found.role,
                    })
                entity: dict[str, Any] = {
                    ENTITY_ATTRIBUTE_TYPE: found.entity,
                    ENTITY_ATTRIBUTE_VALUE: found.value,
                    ENTITY_ATTRIBUTE_START: found.start,
                    ENTITY_ATTRIBUTE_END: found.end,
                    "confidence_entity": 1.0,
                }
                if found.role and found.entity == "country":
                    entity[ENTITY_ATTRIBUTE_ROLE] = found.role
                entities.append(entity)
            message.set(
                ENTITIES,
                message.get(ENTITIES, []) + self.add_extractor_name(entities),
                add_to_output=True,
            )
            message.set(PLACES_KEY, places, add_to_output=True)
        return messages


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class LanguageGuesser(GraphComponent):
    """Adds `language_guess` (es/pt/en with a confidence) for the reply-language slot."""

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> LanguageGuesser:
        guess_language("hola")  # load the identifier with the model
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            guess = guess_language(message.get(TEXT) or "")
            message.set(LANGUAGE_KEY, guess.as_dict() if guess else None, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data


# Training vectors, kept from `train` for the `process_training_data` that follows it on the
# same examples (two graph nodes, one process): encoding ten thousand examples with e5 takes
# about a minute, and doing it twice would add that to every training.
_training_vectors: dict[str, tuple[list[str], np.ndarray]] = {}


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=True
)
class SentenceEncoderFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds a multilingual sentence vector (bot.nlu.encoder) as the text's sentence feature.

    `encoder` picks the model ("use" or "e5"); config.yml uses one featurizer of each. Only a
    sentence feature: the classifier after it reads sentence features, and a sequence of
    per-token vectors would cost memory and time for nothing.

    With `centre` on, training stores the mean vector of the training texts, and every
    vector is then taken relative to it and brought back to unit length. e5's vectors all
    lie in a narrow cone (mean cosine 0.83 between two unrelated examples, against 0.20 for
    `use`); centred, they spread out (0.13), and a linear classifier reads them far better
    (reports/nlu_encoder.md).
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config(), "encoder": "use", "centre": False}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if config.get("encoder", "use") not in encoder.DIMENSIONS:
            raise ValueError(f"unknown sentence encoder {config.get('encoder')!r}; "
                             f"expected one of {sorted(encoder.DIMENSIONS)}")

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> SentenceEncoderFeaturizer:
        config = {**cls.get_default_config(), **config}
        encoder.load(config["encoder"])  # with the model, not on the first message
        return cls(config, execution_context.node_name, model_storage, resource)

    def __init__(self, config: dict[str, Any], name: str, model_storage: ModelStorage,
                 resource: Resource, mean: np.ndarray | None = None) -> None:
        super().__init__(name, config)
        self._model_storage = model_storage
        self._resource = resource
        self.mean = mean

    def _texts(self, messages: list[Message]) -> tuple[list[Message], list[str]]:
        with_text = [m for m in messages if m.get(TEXT) is not None]
        return with_text, [m.get(TEXT) for m in with_text]

    def train(self, training_data: TrainingData) -> Resource:
        self.mean = None
        if self._config["centre"]:
            _, texts = self._texts(training_data.training_examples)
            raw = encoder.encode(texts, self._config["encoder"])
            _training_vectors[self._config["encoder"]] = (texts, raw)
            if len(texts):
                self.mean = raw.mean(axis=0)
                with self._model_storage.write_to(self._resource) as model_dir:
                    np.save(model_dir / "mean.npy", self.mean)
        return self._resource

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> SentenceEncoderFeaturizer:
        component = cls.create(config, model_storage, resource, execution_context)
        try:
            with model_storage.read_from(resource) as model_dir:
                mean_file = model_dir / "mean.npy"
                if mean_file.exists():
                    component.mean = np.load(mean_file)
        except ValueError:  # nothing was stored: not centred
            pass
        return component

    def _featurize(self, messages: list[Message]) -> None:
        with_text, texts = self._texts(messages)
        remembered = _training_vectors.pop(self._config["encoder"], None)
        raw = remembered[1] if remembered is not None and remembered[0] == texts else None
        if raw is None:
            raw = encoder.encode(texts, self._config["encoder"])
        vectors = raw if self.mean is None else encoder.centred(raw, self.mean)
        for message, vector in zip(with_text, vectors, strict=True):
            self.add_features_to_message(None, vector.reshape(1, -1), TEXT, message)

    def process(self, messages: list[Message]) -> list[Message]:
        self._featurize(messages)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples)
        return training_data


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class TokenNormaliser(GraphComponent):
    """Sets each token's lemma to its spelling-independent form (`normalise_word`).

    Placed right after the tokenizer: the CountVectorsFeaturizers read the lemma
    (`use_lemma`, on by default), so "Información", "informacion" and "INFORMACIÓN" are
    one feature, while the token text that entities and slots use stays as written.
    Not in config.yml yet: its gain in the proxy (reports/nlu_features.md) is within noise
    and it has not been measured alone in the full pipeline.
    """

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> TokenNormaliser:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            for token in message.get(TOKENS_NAMES[TEXT]) or []:
                token.lemma = normalise_word(token.text)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class BlendedLogisticRegressionClassifier(LogisticRegressionClassifier):
    """A logistic regression over the sentence features, alone or averaged with a ranking before it.

    It reads the n-gram counts (with `tfidf` on, re-weighted by sublinear tf-idf, whose
    inverse document frequencies are saved with the model) and, if a dense featurizer set
    one, the sentence vector times `dense_weight`. config.yml runs it alone over the
    n-grams and the multilingual sentence encoder's vector (SentenceEncoderFeaturizer):
    reports/nlu.md has the figures.

    Placed after another intent classifier that ranks every intent (DIET with
    `ranking_length: 0`, as config.yml had until the sentence encoder), it blends the two
    probability lists, `weight` being its share; without a ranking before it, it ranks alone.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "weight": 0.5, "C": 1.0,
                "tfidf": False, "dense_weight": 1.0}

    def __init__(self, config: dict[str, Any], name: str, model_storage: ModelStorage,
                 resource: Resource) -> None:
        super().__init__(config, name, model_storage, resource)
        self.clf.set_params(C=float(self.config["C"]))
        self.tfidf: SublinearTfidf | None = None

    @staticmethod
    def _sparse_X(messages: list[Message]) -> Any:
        """The sparse sentence features (the n-gram counts), one row per message."""
        rows = []
        for message in messages:
            features = message.get_sparse_features(attribute=TEXT)[1]
            rows.append(csr_matrix(features.features if features else []))
        return vstack(rows).tocsr()

    def _create_X(self, messages: list[Message]) -> Any:
        """N-gram counts (tf-idf weighted if configured), then any dense sentence vector.

        The tf-idf weights apply to the counts only; a dense vector (the sentence encoder's)
        is appended as it is, times `dense_weight`.
        """
        X = self._sparse_X(messages)
        if self.tfidf is not None:
            X = self.tfidf.transform(X)
        dense = [message.get_dense_features(attribute=TEXT)[1] for message in messages]
        if any(d is not None for d in dense):
            if any(d is None for d in dense):
                raise ValueError("some messages have a dense sentence feature and some do not")
            vectors = np.vstack([d.features for d in dense if d is not None])
            X = hstack([X, csr_matrix(vectors * float(self.config["dense_weight"]))]).tocsr()
        return X

    def train(self, training_data: TrainingData) -> Resource:
        self.tfidf = None
        if self.config["tfidf"]:
            examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
            if examples:
                self.tfidf = SublinearTfidf.fit(self._sparse_X(examples))
        return super().train(training_data)

    def persist(self) -> None:
        super().persist()
        if self.tfidf is not None:
            with self._model_storage.write_to(self._resource) as model_dir:
                np.save(model_dir / f"{self._resource.name}.idf.npy", self.tfidf.idf_)

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> BlendedLogisticRegressionClassifier:
        component = super().load(config, model_storage, resource, execution_context, **kwargs)
        try:
            with model_storage.read_from(resource) as model_dir:
                idf_file = model_dir / f"{resource.name}.idf.npy"
                if idf_file.exists():
                    component.tfidf = SublinearTfidf(np.load(idf_file))
        except ValueError:  # nothing was stored: an untrained component
            pass
        return component

    def process(self, messages: list[Message]) -> list[Message]:
        if not messages:
            return messages
        probas = self.clf.predict_proba(self._create_X(messages))
        weight = float(self.config["weight"])
        for message, row in zip(messages, probas, strict=True):
            before = {r["name"]: float(r["confidence"]) for r in message.get(INTENT_RANKING_KEY) or []}
            share = weight if before else 1.0
            blended = {name: share * float(p) + (1 - share) * before.get(name, 0.0)
                       for name, p in zip(self.clf.classes_, row, strict=True)}
            ranking = sorted(({"name": k, "confidence": v} for k, v in blended.items()),
                             key=lambda r: -r["confidence"])
            if self.config[RANKING_LENGTH] > 0:
                ranking = ranking[: self.config[RANKING_LENGTH]]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
