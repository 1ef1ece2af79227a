"""`make bench-nlu`: 5-fold cross-validation of our NLU pipeline against Rasa's default.

Both pipelines are trained on the same folds of the es+pt+en data (stratified by language
and intent) and judged on the held-out examples: intent macro-F1 per language, and F1 of
the `country` entity (the ISO code must match; a message's codes are compared as a set).
For our pipeline it also records how the FallbackClassifier threshold trades wrongly
classified messages caught against right ones lost, which is how the threshold in
config.yml was chosen. Writes reports/nlu.json and reports/nlu.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from devtools import ROOT

LANGS = ("es", "pt", "en")
THRESHOLDS = (0.0, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7)


def data_fingerprint(read: Any = None) -> str:
    """Which training data a result was measured on: a hash of bot/data/nlu/<lang>/*.yml.

    `read(relative_path)` reads a file (default: the working tree), so the fingerprint of
    an earlier commit can be computed from `git show`.
    """
    import hashlib

    digest = hashlib.sha256()
    for lang in LANGS:
        for path in sorted((ROOT / "bot" / "data" / "nlu" / lang).glob("*.yml")):
            relative = path.relative_to(ROOT).as_posix()
            digest.update(relative.encode())
            digest.update(read(relative) if read else path.read_bytes())
    return digest.hexdigest()[:12]


def load_examples() -> list[dict[str, Any]]:
    from rasa.shared.nlu.training_data.loading import load_data

    examples = []
    for lang in LANGS:
        data = load_data(str(ROOT / "bot" / "data" / "nlu" / lang))
        for message in data.intent_examples:
            countries = sorted({e["value"] for e in message.get("entities") or [] if e["entity"] == "country"})
            examples.append({"lang": lang, "intent": message.get("intent"), "text": message.get("text"),
                             "countries": countries, "message": message})
    return examples


def write_fold(examples: list[dict[str, Any]], path: Path) -> None:
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from rasa.shared.nlu.training_data.training_data import TrainingData

    RasaYAMLWriter().dump(str(path), TrainingData([e["message"] for e in examples]))


FOLD_CACHE = ROOT / "models" / "cv"


def fold_key(config: Path, nlu: Path) -> str:
    """Hash of what a fold's model is trained from: config, fold data, domain, Rasa version."""
    import hashlib

    import rasa

    digest = hashlib.sha256(rasa.__version__.encode())
    for path in [config, nlu, *sorted((ROOT / "domain").rglob("*.yml"))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def train(config: Path, nlu: Path, out: Path, name: str) -> Path:
    """Train one fold's model, or reuse the one trained from the same inputs (models/cv/)."""
    import shutil

    from rasa.model_training import train_nlu

    cached = FOLD_CACHE / f"{name.rsplit('-', 1)[0]}-{fold_key(config, nlu)}.tar.gz"
    if cached.exists():
        return cached
    model = train_nlu(config=str(config), nlu_data=str(nlu), output=str(out), fixed_model_name=name,
                      domain=str(ROOT / "domain"))
    if not model:
        raise RuntimeError(f"training {name} failed")
    FOLD_CACHE.mkdir(parents=True, exist_ok=True)
    shutil.copy(model, cached)
    return Path(model)


async def predict(model: Path, texts: list[str]) -> list[dict[str, Any]]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    return [await agent.parse_message(text) for text in texts]


def f1(tp: int, fp: int, fn: int) -> float:
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def score(tests: list[dict[str, Any]], parsed: list[dict[str, Any]]) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    out: dict[str, Any] = {}
    for lang in LANGS:
        pairs = [(t, p) for t, p in zip(tests, parsed, strict=False) if t["lang"] == lang]
        gold = [t["intent"] for t, _ in pairs]
        pred = [p["intent"]["name"] for _, p in pairs]
        tp = fp = fn = 0
        for t, p in pairs:
            predicted = {str(e.get("value")).upper() for e in p.get("entities") or [] if e["entity"] == "country"}
            truth = set(t["countries"])
            tp += len(predicted & truth)
            fp += len(predicted - truth)
            fn += len(truth - predicted)
        out[lang] = {
            "intent_macro_f1": round(float(f1_score(gold, pred, average="macro", labels=sorted(set(gold)), zero_division=0)), 4),
            "intent_accuracy": round(sum(g == p for g, p in zip(gold, pred, strict=False)) / len(gold), 4),
            "country_f1": round(f1(tp, fp, fn), 4),
            "examples": len(gold),
        }
    return out


def threshold_table(tests: list[dict[str, Any]], parsed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each fallback threshold: misclassified messages caught, right ones lost, and the
    intent macro-F1 per language it would give (fallback counted as wrong), so the threshold
    in config.yml is chosen on the same figure the goal is stated in."""
    from sklearn.metrics import f1_score

    rows = []
    scored = []
    for t, p in zip(tests, parsed, strict=False):
        ranking = [r for r in p.get("intent_ranking") or [] if r["name"] != "nlu_fallback"]
        top: dict[str, Any] = ranking[0] if ranking else {"name": None, "confidence": 0.0}
        scored.append((t, top["name"], float(top["confidence"])))
    wrong = sum(1 for t, name, _ in scored if name != t["intent"]) or 1
    right = sum(1 for t, name, _ in scored if name == t["intent"]) or 1
    for threshold in THRESHOLDS:
        caught = sum(1 for t, name, c in scored if name != t["intent"] and c < threshold)
        lost = sum(1 for t, name, c in scored if name == t["intent"] and c < threshold)
        row: dict[str, Any] = {"threshold": threshold, "wrong_caught": round(caught / wrong, 3),
                               "right_lost": round(lost / right, 3)}
        for lang in LANGS:
            mine = [(t["intent"], name if c >= threshold else "nlu_fallback") for t, name, c in scored if t["lang"] == lang]
            gold = [g for g, _ in mine]
            row[f"macro_f1_{lang}"] = round(float(f1_score(gold, [p for _, p in mine], average="macro",
                                                           labels=sorted(set(gold)), zero_division=0)), 4)
        rows.append(row)
    return rows


def run(folds: int, pipelines: dict[str, Path], workdir: Path, results: dict[str, Any],
        save: Any, only_folds: int | None = None) -> dict[str, Any]:
    """Cross-validate each pipeline; `save(results)` after each, so a long run keeps what it has.

    `only_folds` K scores the first K folds of the same split (a partial run, labelled as
    such in the report), for pipelines too slow to train five times.
    """
    from sklearn.model_selection import StratifiedKFold

    examples = load_examples()
    keys = [f"{e['lang']}:{e['intent']}" for e in examples]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=42)
    for pipeline, config in pipelines.items():
        # A partial run is kept beside the full one, never in its place.
        name = pipeline if only_folds is None else f"{pipeline} (first {only_folds} of {folds} folds)"
        tests_all: list[dict[str, Any]] = []
        parsed_all: list[dict[str, Any]] = []
        started = time.monotonic()
        for fold, (train_idx, test_idx) in enumerate(splitter.split(examples, keys)):
            if only_folds is not None and fold >= only_folds:
                break
            fold_dir = workdir / name / str(fold)
            fold_dir.mkdir(parents=True, exist_ok=True)
            write_fold([examples[i] for i in train_idx], fold_dir / "nlu.yml")
            model = train(config, fold_dir / "nlu.yml", fold_dir, f"{pipeline}-{fold}")
            tests = [examples[i] for i in test_idx]
            parsed = asyncio.run(predict(model, [t["text"] for t in tests]))
            tests_all += tests
            parsed_all += parsed
            print(f"bench-nlu: {name} fold {fold + 1}/{folds} done ({time.monotonic() - started:.0f}s)", flush=True)
        results[name] = score(tests_all, parsed_all)
        results[name]["threshold_tradeoff"] = threshold_table(tests_all, parsed_all)
        results[name]["seconds"] = round(time.monotonic() - started)
        confusions: dict[str, int] = defaultdict(int)
        for t, p in zip(tests_all, parsed_all, strict=False):
            if p["intent"]["name"] != t["intent"]:
                confusions[f"{t['intent']} -> {p['intent']['name']}"] += 1
        results[name]["top_confusions"] = dict(sorted(confusions.items(), key=lambda kv: -kv[1])[:15])
        results[name]["folds"] = folds
        results[name]["data"] = {"fingerprint": data_fingerprint(), "examples": len(examples)}
        results[name]["folds_scored"] = only_folds if only_folds is not None else folds
        save(results)
    return results


def markdown(results: dict[str, Any], folds: int) -> str:
    lines = [f"# NLU cross-validation ({folds} folds, es+pt+en trained together)", "",
             "| pipeline | lang | intent macro-F1 | intent accuracy | country F1 | examples |", "|---|---|---|---|---|---|"]
    partial = sorted(k for k in results if " (first " in k)
    current = data_fingerprint()
    earlier = {name: r.get("data", {}) for name, r in results.items()
               if isinstance(r, dict) and r.get("data", {}).get("fingerprint") != current}
    for name in ("ours", "rasa_default", *partial):
        if name not in results:
            partial_run = next((k for k in partial if k.startswith(f"{name} (")), None)
            note = (f"5 folds not run (about an hour per fold here); see `{partial_run}` below" if partial_run
                    else f"not measured yet: `make bench-nlu ARGS='--pipelines {name}'`")
            lines.append(f"| {name} | ({note}) | | | | |")
            continue
        label = name if name not in earlier else f"{name}, earlier data ({earlier[name].get('examples', '?')} examples)"
        for lang in LANGS:
            r = results[name][lang]
            lines.append(f"| {label} | {lang} | {r['intent_macro_f1']:.3f} | {r['intent_accuracy']:.3f} | {r['country_f1']:.3f} | {r['examples']} |")
    if earlier:
        lines += ["", "Rows marked *earlier data* were measured on an earlier version of bot/data/nlu "
                  f"(fingerprint {', '.join(sorted({d.get('fingerprint', '?') for d in earlier.values()}))}; "
                  f"now {current}): compare them with "
                  "each other, not with the rows on the current data."]
    if "ours" in results:
        lines += ["", "## Fallback threshold (ours): share of misclassified messages caught vs correct ones lost", "",
                  "(top intent only, without the ambiguity rule; macro-F1 counts a fallback as wrong)", "",
                  "| threshold | wrong caught | right lost | macro-F1 es | pt | en |", "|---|---|---|---|---|---|"]
        for row in results["ours"]["threshold_tradeoff"]:
            f1s = " | ".join(str(row.get(f"macro_f1_{lang}", "")) for lang in LANGS)
            lines.append(f"| {row['threshold']} | {row['wrong_caught']} | {row['right_lost']} | {f1s} |")
        lines += ["", "## Most frequent confusions (ours)", ""]
        lines += [f"- {k}: {v}" for k, v in results["ours"]["top_confusions"].items()]
    times = ", ".join(f"{name} {results[name]['seconds']} s" for name in ("ours", "rasa_default") if name in results)
    lines += ["", f"Training + prediction time: {times}.", "",
              "Reproduce: `make bench-nlu` (figures in reports/nlu.json)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-folds", type=int, default=None,
                        help="score only the first K folds of the split (Rasa's default pipeline takes ~1 h a fold here)")
    parser.add_argument("--pipelines", default="ours,rasa_default",
                        help="comma-separated; results of pipelines not run are kept from reports/nlu.json")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("rasa").setLevel(logging.WARNING)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # otherwise every parse is printed with its text
    every = {"ours": ROOT / "config.yml", "rasa_default": ROOT / "devtools" / "baseline" / "config.yml"}
    pipelines = {name: every[name] for name in args.pipelines.split(",")}
    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    previous = reports / "nlu.json"
    results: dict[str, Any] = json.loads(previous.read_text()) if previous.exists() else {}

    def save(current: dict[str, Any]) -> None:
        (reports / "nlu.json").write_text(json.dumps(current, indent=2) + "\n")
        (reports / "nlu.md").write_text(markdown(current, args.folds))

    with tempfile.TemporaryDirectory(prefix="bench-nlu-") as tmp:
        results = run(args.folds, pipelines, Path(tmp), results, save, args.only_folds)
    print(markdown(results, args.folds))


if __name__ == "__main__":
    main()
