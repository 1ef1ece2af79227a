"""CPU time of NLU alone per message, for one or more trained models in the same run.

Why: `make bench-serving` measures the whole serving path (channels, tracker store,
actions), in which NLU is one part; when only the NLU pipeline changes, this isolates what
it costs. Each model is loaded in turn, warmed up on 20 messages, then parses the 219
unseen messages (tests/nlu/unseen/) `--passes` times; CPU time (`time.process_time`, so
other processes on the machine count less than in wall time) and wall time per message are
printed, with the memory that loading it (and 20 parses) added to the process. The first
model loaded also pays for Rasa and TensorFlow, so pass the model to compare against
first. Models alternate pass by pass, so a machine that slows down mid-run affects them
alike.

`python -m devtools.nlu_parse_cost [--passes 3] MODEL [MODEL ...]` (default: the cached
model of the current config/domain/data).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any

from devtools.nlu_unseen import LANGS, load_unseen


def _rss_mb() -> float:
    """The process's resident memory now (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _parse(agent: Any, texts: list[str]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for text in texts:
        await agent.parse_message(text)
    return (time.process_time() - cpu) / len(texts), (time.perf_counter() - wall) / len(texts)


async def measure(models: list[Path], passes: int) -> dict[str, dict[str, Any]]:
    from rasa.core.agent import Agent

    texts = [text for lang in LANGS for text, _ in load_unseen(lang)]
    agents: dict[str, Any] = {}
    results: dict[str, dict[str, Any]] = {}
    for model in models:
        before = _rss_mb()
        agents[model.name] = Agent.load(str(model))
        await _parse(agents[model.name], texts[:20])
        results[model.name] = {"cpu_ms": [], "wall_ms": [], "rss_mb_added": _rss_mb() - before}
    for _ in range(passes):
        for name, agent in agents.items():
            cpu, wall = await _parse(agent, texts)
            results[name]["cpu_ms"].append(cpu * 1000)
            results[name]["wall_ms"].append(wall * 1000)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.disable(logging.WARNING)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # otherwise every parse is printed with its text
    if not args.models:
        from devtools.train import ensure_model

        args.models = [ensure_model(quiet=True)]
    results = asyncio.run(measure(args.models, args.passes))
    print("| model | CPU ms per message (median of passes) | wall ms | resident memory added by loading (MB) |")
    print("|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {statistics.median(r['cpu_ms']):.1f} ({', '.join(f'{v:.1f}' for v in r['cpu_ms'])}) "
              f"| {statistics.median(r['wall_ms']):.1f} | {r['rss_mb_added']:.0f} |")


if __name__ == "__main__":
    main()
