"""Which intent features generalise: a fast scikit-learn proxy of the NLU pipeline.

The full cross-validation (devtools.bench_nlu) trains Rasa five times and takes half an
hour; this proxy takes seconds per variant. It tokenizes like WhitespaceTokenizer, builds
word 1-2-grams and char_wb 2-5-grams like the two CountVectorsFeaturizers, fits a linear
classifier and scores intent macro-F1 per language over the same stratified 5 folds
(argmax, no fallback). Its absolute figures differ from the pipeline's (no fallback);
what it is for is comparing one change against another on the same folds.

`python -m devtools.nlu_features [--write] [--only NAME ...]` prints a markdown table;
`--write` also writes reports/nlu_features.md. Never run it on tests/nlu/unseen/.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bot.nlu.encoder import centred
from devtools import ROOT
from devtools.bench_nlu import LANGS, load_examples

REPORT = ROOT / "reports" / "nlu_features.md"
WORD_PATTERN = r"(?u)\b\w+\b"  # as the CountVectorsFeaturizer's word analyzer

# WhatsApp shorthand (measured: it did not help, the character n-grams already carry it).
ABBREVIATIONS = {
    "q": "que", "k": "que", "ke": "que", "xq": "porque", "pq": "porque", "xk": "porque",
    "tb": "tambien", "tmb": "tambien", "x": "por", "d": "de", "xfa": "por favor",
    "porfa": "por favor", "plis": "por favor", "bn": "bien", "grax": "gracias", "pa": "para",
    "vc": "voce", "vcs": "voces", "tbm": "tambem", "naum": "nao", "pra": "para", "qdo": "quando",
    "obg": "obrigado", "obgd": "obrigado", "td": "tudo", "hj": "hoje", "mt": "muito",
    "mto": "muito", "msm": "mesmo", "agr": "agora", "vlw": "valeu", "u": "you", "ur": "your",
    "r": "are", "pls": "please", "plz": "please", "thx": "thanks", "ty": "thank you",
    "im": "i am", "idk": "i do not know", "bc": "because", "cuz": "because", "wanna": "want to",
    "gonna": "going to", "ppl": "people", "msg": "message", "yep": "yes", "nope": "no",
}


def _lower(words: list[str], lang: str) -> list[str]:
    return [w.lower() for w in words]


def _folded(words: list[str], lang: str) -> list[str]:
    from bot.nlu.normalise import normalise_word

    return [normalise_word(w) for w in words]


def _accents_only(words: list[str], lang: str) -> list[str]:
    import unicodedata

    return ["".join(c for c in unicodedata.normalize("NFKD", w.lower()) if not unicodedata.combining(c))
            for w in words]


def _abbreviated(words: list[str], lang: str) -> list[str]:
    return [part for w in _folded(words, lang) for part in ABBREVIATIONS.get(w, w).split()]


def _stemmer(lang: str) -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer({"es": "spanish", "pt": "portuguese", "en": "english"}[lang])


def _stemmed_known_language(words: list[str], lang: str) -> list[str]:
    """Stemmed with the example's own language: an upper bound (serving would have to guess)."""
    stem = _stemmer(lang)
    return [stem.stemWord(w) for w in _folded(words, lang)]


def _prefix5(words: list[str], lang: str) -> list[str]:
    return [w[:5] for w in _folded(words, lang)]


@dataclass
class Variant:
    name: str
    words: Callable[[list[str], str], list[str]] = _lower
    chars: Callable[[list[str], str], list[str]] = _lower
    weighting: str = "counts"  # counts | tfidf (sublinear tf-idf over the joined blocks)
    classifier: str = "svc"  # svc | lr
    C: float = 0.1
    extra: dict[str, Any] = field(default_factory=dict)
    sentence_vectors: float = 0.0  # weight of the sentence encoder's vector (0: not used)
    max_iter: int = 100
    counts: bool = True  # False: the sentence vector alone
    encoders: tuple[str, ...] = ("use",)  # bot.nlu.encoder names; e5 is centred as in config.yml


VARIANTS = [
    Variant("baseline: counts, lowercase"),
    Variant("accents folded", _accents_only, _accents_only),
    Variant("accents folded + stretched letters cut (normalise_word)", _folded, _folded),
    Variant("normalise_word + WhatsApp abbreviation table (words)", _abbreviated, _folded),
    Variant("normalise_word + abbreviation table (words and chars)", _abbreviated, _abbreviated),
    Variant("normalise_word + Snowball stem, example's own language (words)", _stemmed_known_language, _folded),
    Variant("normalise_word + 5-letter prefixes (words)", _prefix5, _folded),
    Variant("tf-idf, lowercase", weighting="tfidf", C=1.0),
    Variant("tf-idf + normalise_word", _folded, _folded, weighting="tfidf", C=1.0),
    Variant("tf-idf + normalise_word, C=3", _folded, _folded, weighting="tfidf", C=3.0),
    Variant("LR (pipeline's): counts, lowercase, C=1", classifier="lr", C=1.0),
    Variant("LR: tf-idf + normalise_word, C=10", _folded, _folded, weighting="tfidf", classifier="lr", C=10.0),
    Variant("LR: tf-idf + normalise_word, C=30", _folded, _folded, weighting="tfidf", classifier="lr", C=30.0),
    Variant("sentence encoder alone", classifier="lr", C=10.0, sentence_vectors=1.0, counts=False, max_iter=200),
    Variant("tf-idf + sentence encoder", weighting="tfidf", C=0.5, sentence_vectors=1.0),
    Variant("LR: tf-idf + sentence encoder, C=10 (config.yml until 2026-11-25)", weighting="tfidf", classifier="lr", C=10.0,
            sentence_vectors=1.0, max_iter=200),
    Variant("LR: tf-idf + sentence encoder x0.7, C=10", weighting="tfidf", classifier="lr", C=10.0,
            sentence_vectors=0.7, max_iter=200),
    Variant("LR: tf-idf + sentence encoder x1.4, C=10", weighting="tfidf", classifier="lr", C=10.0,
            sentence_vectors=1.4, max_iter=200),
    Variant("LR: tf-idf + sentence encoder, C=30", weighting="tfidf", classifier="lr", C=30.0,
            sentence_vectors=1.0, max_iter=200),
    Variant("e5 alone (centred)", C=1.0, sentence_vectors=1.0, counts=False, encoders=("e5",)),
    Variant("tf-idf + e5 (centred)", weighting="tfidf", C=1.0, sentence_vectors=1.0, encoders=("e5",)),
    Variant("tf-idf + sentence encoder + e5 (centred)", weighting="tfidf", C=1.0, sentence_vectors=1.0,
            encoders=("use", "e5")),
    Variant("LR (config.yml's): tf-idf + sentence encoder + e5 (centred), C=10", weighting="tfidf",
            classifier="lr", C=10.0, sentence_vectors=1.0, max_iter=200, encoders=("use", "e5")),
]

_vectors: dict[tuple[int, str], np.ndarray] = {}


def sentence_vectors(examples: list[dict[str, Any]], name: str = "use") -> np.ndarray:
    """Encoder `name`'s raw vectors of every example, computed once per run (about a minute)."""
    key = (id(examples), name)
    if key not in _vectors:
        from bot.nlu import encoder

        _vectors[key] = encoder.encode([e["text"] for e in examples], name)  # micro-batched by the package
    return _vectors[key]


def tokenize(texts: list[str]) -> list[list[str]]:
    from rasa.nlu.constants import TOKENS_NAMES
    from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.message import Message

    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    messages = [Message(data={TEXT: t}) for t in texts]
    tokenizer.process(messages)
    return [[tok.text for tok in m.get(TOKENS_NAMES[TEXT])] for m in messages]


def evaluate(variant: Variant, examples: list[dict[str, Any]], tokens: list[list[str]],
             folds: int = 5) -> dict[str, float]:
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    words = [" ".join(variant.words(t, e["lang"])) for t, e in zip(tokens, examples, strict=True)]
    chars = [" ".join(variant.chars(t, e["lang"])) for t, e in zip(tokens, examples, strict=True)]
    y = np.array([e["intent"] for e in examples])
    keys = [f"{e['lang']}:{e['intent']}" for e in examples]
    predicted = np.empty(len(examples), dtype=object)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=42)  # as bench_nlu
    for train, test in splitter.split(examples, keys):
        vectorizers = [(CountVectorizer(ngram_range=(1, 2), token_pattern=WORD_PATTERN), words),
                       (CountVectorizer(analyzer="char_wb", ngram_range=(2, 5)), chars)]
        X_train = hstack([v.fit_transform([d[i] for i in train]) for v, d in vectorizers]).tocsr()
        X_test = hstack([v.transform([d[i] for i in test]) for v, d in vectorizers]).tocsr()
        if variant.weighting == "tfidf":
            weights = TfidfTransformer(sublinear_tf=True).fit(X_train)
            X_train, X_test = weights.transform(X_train), weights.transform(X_test)
        if variant.sentence_vectors:
            blocks: tuple[list[Any], list[Any]] = ([X_train], [X_test]) if variant.counts else ([], [])
            for name in variant.encoders:
                raw = sentence_vectors(examples, name)
                dense_train, dense_test = raw[train], raw[test]
                if name == "e5":  # centred on this fold's training mean, as the pipeline does
                    mean = dense_train.mean(axis=0)
                    dense_train, dense_test = centred(dense_train, mean), centred(dense_test, mean)
                blocks[0].append(csr_matrix(dense_train * variant.sentence_vectors))
                blocks[1].append(csr_matrix(dense_test * variant.sentence_vectors))
            X_train, X_test = hstack(blocks[0]).tocsr(), hstack(blocks[1]).tocsr()
        if variant.classifier == "lr":
            clf: Any = LogisticRegression(C=variant.C, class_weight="balanced", max_iter=variant.max_iter,
                                          random_state=42)
        else:
            clf = LinearSVC(C=variant.C, class_weight="balanced")
        clf.fit(X_train, y[train])
        predicted[test] = clf.predict(X_test)
    scores = {}
    for lang in LANGS:
        mask = np.array([e["lang"] == lang for e in examples])
        scores[lang] = float(f1_score(y[mask], predicted[mask], average="macro"))
    scores["all"] = float(f1_score(y, predicted, average="macro"))
    return scores


def main() -> None:
    import warnings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {REPORT.relative_to(ROOT)}")
    parser.add_argument("--only", nargs="*", help="variants whose name contains one of these")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # lbfgs stops at max_iter as in the pipeline
    examples = load_examples()
    tokens = tokenize([e["text"] for e in examples])
    variants = [v for v in VARIANTS if not args.only or any(o in v.name for o in args.only)]
    lines = ["| variant | classifier | es | pt | en | all |", "|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for variant in variants:
        started = time.monotonic()
        try:
            s = evaluate(variant, examples, tokens)
        except ImportError as missing:  # snowballstemmer is not a dependency of the project
            print(f"| {variant.name} | skipped: {missing.name} not installed |", flush=True)
            continue
        line = (f"| {variant.name} | {'LinearSVC' if variant.classifier == 'svc' else 'LogReg'} C={variant.C:g} "
                f"| {s['es']:.4f} | {s['pt']:.4f} | {s['en']:.4f} | {s['all']:.4f} |")
        lines.append(line)
        print(line, f"({time.monotonic() - started:.0f}s)", flush=True)
    if args.write:
        REPORT.write_text(
            "# Intent features: scikit-learn proxy, 5-fold CV (`python -m devtools.nlu_features`)\n\n"
            "Intent macro-F1 per language, argmax (no fallback), same folds as `make bench-nlu`.\n"
            "A proxy for ranking feature changes, not the pipeline's figure (no fallback):\n"
            "see reports/nlu.md for that.\n\n" + "\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
