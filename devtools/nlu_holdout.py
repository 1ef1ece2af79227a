"""A quick comparison on one stratified 80/20 split (minutes instead of the hour of 5 folds).

`python -m devtools.nlu_holdout CONFIG [CONFIG ...]` trains each config on the same 80%
of the es+pt+en data and prints top-1 intent accuracy and macro-F1 on the other 20% for
several fallback thresholds. `make bench-nlu` (5-fold) remains the reference figure.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path


def evaluate(config: Path) -> list[str]:
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedShuffleSplit

    from devtools.bench_nlu import load_examples, predict, train, write_fold

    examples = load_examples()
    keys = [f"{e['lang']}:{e['intent']}" for e in examples]
    train_idx, test_idx = next(StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=1).split(examples, keys))
    with tempfile.TemporaryDirectory() as tmp:
        write_fold([examples[i] for i in train_idx], Path(tmp) / "nlu.yml")
        model = train(config, Path(tmp) / "nlu.yml", Path(tmp), "holdout")
        tests = [examples[i] for i in test_idx]
        parsed = asyncio.run(predict(model, [t["text"] for t in tests]))
    gold = [t["intent"] for t in tests]
    tops = []
    for p in parsed:
        ranking = [r for r in p.get("intent_ranking") or [] if r["name"] != "nlu_fallback"]
        gap = ranking[0]["confidence"] - ranking[1]["confidence"] if len(ranking) > 1 else 1.0
        tops.append((ranking[0]["name"], ranking[0]["confidence"], gap) if ranking else (None, 0.0, 0.0))
    lines = []
    langs = [t["lang"] for t in tests]
    for threshold, ambiguity in ((0.0, 0.0), (0.2, 0.0), (0.3, 0.0), (0.3, 0.02), (0.3, 0.05), (0.4, 0.0), (0.4, 0.05), (0.5, 0.0)):
        pred = [name if conf >= threshold and gap >= ambiguity else "nlu_fallback" for name, conf, gap in tops]
        accuracy = sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)
        macro = f1_score(gold, pred, average="macro", labels=sorted(set(gold)), zero_division=0)
        per_lang = []
        for lang in ("es", "pt", "en"):
            pairs = [(g, p) for g, p, la in zip(gold, pred, langs, strict=True) if la == lang]
            golds = [g for g, _ in pairs]
            per_lang.append(f"{lang} {f1_score(golds, [p for _, p in pairs], average='macro', labels=sorted(set(golds)), zero_division=0):.3f}")
        lines.append(f"{config} threshold {threshold} ambiguity {ambiguity} acc {accuracy:.3f} macroF1 {macro:.3f} ({', '.join(per_lang)})")
    return lines


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.disable(logging.WARNING)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    for config in sys.argv[1:] or ["config.yml", "devtools/baseline/config.yml"]:
        for line in evaluate(Path(config)):
            print(line, flush=True)


if __name__ == "__main__":
    main()
