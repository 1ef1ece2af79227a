"""`make bench-serving`: the serving path of our assistant against bare Rasa, in one run.

Ours runs in the production profile (deploy/endpoints.yml): a throwaway PostgreSQL tracker
store, a throwaway Redis lock store, the action server with the cases in PostgreSQL, one
Rasa server. Bare Rasa is `rasa init`'s project trained with its default config
(devtools/baseline/config.yml): REST channel, in-memory tracker store, no actions.

Measured for each, from the inbound POST to the reply (REST channel today; the signed
WhatsApp/Telegram path with its fake provider plugs in as another `Client`):
- cold start: process spawned to first answered message;
- saturation: closed loop, each simulated person sends as soon as answered;
- open loop at fixed rates (people typing at human pace): p50/p95/p99, errors;
- latency against tracker length (10 vs 500 events in the current session);
- peak resident memory (VmHWM) of the Rasa server and of the action server.

Writes reports/bench.json (CONTRACT section 7 keys), reports/bench.md and
reports/bench.png. Timings depend on what else runs on the machine; run it on a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from devtools import ROOT
from devtools.services import PostgresServer, RedisServer
from devtools.stack import VENV_BIN, free_port, local_secrets, wait_http

REPORTS = ROOT / "reports"
INITIAL_PROJECT = Path(__import__("rasa").__file__).parent / "cli" / "initial_project"
BASELINE_CONFIG = ROOT / "devtools" / "baseline" / "config.yml"
TOKEN = uuid.uuid4().hex

# Realistic first turns: greetings, questions, eligibility, in the three languages.
OURS_MESSAGES = [
    ("es", "hola, buenas tardes"),
    ("es", "¿qué ayudas hay para volver a mi país?"),
    ("es", "soy de Perú y vivo en Madrid"),
    ("es", "¿puedo volver a España después del retorno?"),
    ("es", "¿puedo pedir el retorno voluntario?"),
    ("pt", "olá, boa noite"),
    ("pt", "como revalido o meu diploma no Brasil?"),
    ("pt", "onde fica o escritório em Lisboa?"),
    ("en", "hello, are you a bot?"),
    ("en", "what documents do I need to go back to Colombia?"),
    ("es", "muchas gracias"),
]
BARE_MESSAGES = [
    ("en", "hello"), ("en", "I am feeling very good"), ("en", "I am sad"), ("en", "yes"),
    ("en", "are you a bot?"), ("en", "good morning"), ("en", "no"), ("en", "bye"),
]


@dataclass
class Server:
    """One system under test: its Rasa URL, its processes and what to say to it."""

    name: str
    url: str
    messages: list[tuple[str, str]]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    cold_start_s: float = 0.0

    def peak_rss_mb(self, process: str) -> float | None:
        proc = self.processes.get(process)
        if proc is None:
            return None
        total = 0
        for pid in [proc.pid, *_children(proc.pid)]:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        return round(total / 1024, 1)

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    kids = [int(p) for p in found]
    return kids + [g for k in kids for g in _children(k)]


def _spawn(cmd: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - fixed argv
        cmd, cwd=cwd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def _base_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "TF_INTER_OP_PARALLELISM_THREADS": "1", "TF_INTRA_OP_PARALLELISM_THREADS": "1"}


async def _first_answer(url: str, deadline_s: float) -> None:
    async with aiohttp.ClientSession() as session:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            ok, _ = await send(session, url, f"cold-{uuid.uuid4().hex[:8]}", "hello", "en")
            if ok:
                return
            await asyncio.sleep(0.25)
    raise TimeoutError("no first answer")


def _cold_start(server: Server, spawned_at: float, deadline_s: float = 600) -> None:
    wait_http(f"{server.url}/", deadline_s, server.processes["rasa"])
    asyncio.run(_first_answer(server.url, 60))
    server.cold_start_s = round(time.monotonic() - spawned_at, 1)


def start_ours(model: Path, workdir: Path, pg: PostgresServer, redis: RedisServer) -> Server:
    from casework.db import upgrade

    actions_port, rasa_port = free_port(), free_port()
    cases = pg.create_database(f"cases_{uuid.uuid4().hex[:6]}")
    env = {**_base_env(), **local_secrets(), "DATABASE_URL": cases,
           "TRACKER_STORE_URL": pg.create_database(f"trackers_{uuid.uuid4().hex[:6]}"),
           "REDIS_URL": redis.url, "ACTION_SERVER_URL": f"http://127.0.0.1:{actions_port}/webhook"}
    upgrade(cases)
    server = Server("ours", f"http://127.0.0.1:{rasa_port}", OURS_MESSAGES)
    server.processes["actions"] = _spawn(
        [sys.executable, "-m", "bot.serve", "--actions", "bot.actions", "--port", str(actions_port)],
        env, workdir / "ours-actions.log")
    wait_http(f"http://127.0.0.1:{actions_port}/health", 300, server.processes["actions"])
    spawned = time.monotonic()
    server.processes["rasa"] = _spawn(
        [str(VENV_BIN / "rasa"), "run", "--model", str(model), "--enable-api", "--auth-token", TOKEN,
         "--interface", "127.0.0.1", "--port", str(rasa_port), "--credentials", "credentials.yml",
         "--endpoints", "deploy/endpoints.yml"], env, workdir / "ours-rasa.log")
    _cold_start(server, spawned)
    return server


def bare_model(workdir: Path) -> Path:
    """`rasa init`'s project trained with the default config; cached under models/."""
    digest = hashlib.sha256(BASELINE_CONFIG.read_bytes())
    for path in sorted((INITIAL_PROJECT / "data").glob("*.yml")) + [INITIAL_PROJECT / "domain.yml"]:
        digest.update(path.read_bytes())
    name = f"bare-rasa-init-{digest.hexdigest()[:12]}"
    cached = ROOT / "models" / f"{name}.tar.gz"
    if cached.exists():
        return cached
    project = workdir / "bare-project"
    shutil.copytree(INITIAL_PROJECT, project)
    # A copy: Rasa writes a generated assistant_id back into the config it trains with.
    shutil.copy(BASELINE_CONFIG, project / "config.yml")
    print("bench: training bare Rasa (rasa init's project, default config) ...", flush=True)
    subprocess.run(  # noqa: S603
        [str(VENV_BIN / "rasa"), "train", "--config", "config.yml", "--domain", "domain.yml",
         "--data", "data", "--out", str(ROOT / "models"), "--fixed-model-name", name],
        cwd=project, env=_base_env(), check=True, stdout=subprocess.DEVNULL,
    )
    return cached


def start_bare(model: Path, workdir: Path) -> Server:
    port = free_port()
    project = workdir / "bare-run"
    project.mkdir(exist_ok=True)
    (project / "credentials.yml").write_text("rest:\n")
    (project / "endpoints.yml").write_text("{}\n")
    server = Server("bare_rasa", f"http://127.0.0.1:{port}", BARE_MESSAGES)
    spawned = time.monotonic()
    server.processes["rasa"] = _spawn(
        [str(VENV_BIN / "rasa"), "run", "--model", str(model), "--enable-api", "--auth-token", TOKEN,
         "--interface", "127.0.0.1", "--port", str(port), "--credentials", "credentials.yml",
         "--endpoints", "endpoints.yml"], _base_env(), workdir / "bare-rasa.log", cwd=project)
    _cold_start(server, spawned)
    return server


ERROR_KINDS: dict[str, int] = {}


async def send(session: aiohttp.ClientSession, url: str, sender: str, text: str, language: str) -> tuple[bool, float]:
    """One message; an error is a non-200, a timeout, or an answer without any text."""
    body = {"sender": sender, "message": text, "metadata": {"language": language}}
    started = time.monotonic()
    kind = None
    try:
        async with session.post(f"{url}/webhooks/rest/webhook", json=body,
                                timeout=aiohttp.ClientTimeout(total=60)) as reply:
            replies = await reply.json() if reply.status == 200 else None
            kind = None if reply.status == 200 else f"http {reply.status}"
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        replies, kind = None, type(error).__name__
    ok = bool(replies) and any(m.get("text") for m in replies)
    if not ok:
        kind = kind or "no text"
        ERROR_KINDS[kind] = ERROR_KINDS.get(kind, 0) + 1
    return ok, time.monotonic() - started


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(latencies: list[float], errors: int, seconds: float) -> dict[str, Any]:
    ms = [x * 1000 for x in latencies]
    return {"answered": len(ms), "errors": errors, "msgs_per_s": round(len(ms) / seconds, 2),
            "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
            "p99_ms": round(percentile(ms, 99), 1)}


async def closed_loop(server: Server, people: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    end = time.monotonic() + seconds

    async def person(index: int, session: aiohttp.ClientSession) -> None:
        nonlocal errors
        sender = f"sat-{uuid.uuid4().hex[:8]}"
        for language, text in itertools.cycle(server.messages[index % 3:] + server.messages[:index % 3]):
            if time.monotonic() >= end:
                return
            ok, latency = await send(session, server.url, sender, text, language)
            if ok:
                latencies.append(latency)
            else:
                errors += 1

    started = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(person(i, session) for i in range(people)))
    return summary(latencies, errors, time.monotonic() - started)


async def open_loop(server: Server, rate: float, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    count = int(rate * seconds)
    pool = [f"open-{uuid.uuid4().hex[:8]}" for _ in range(max(20, int(rate * 4)))]
    turns = dict.fromkeys(pool, 0)

    async def one(index: int, session: aiohttp.ClientSession) -> None:
        nonlocal errors
        sender = pool[index % len(pool)]
        language, text = server.messages[turns[sender] % len(server.messages)]
        turns[sender] += 1
        ok, latency = await send(session, server.url, sender, text, language)
        if ok:
            latencies.append(latency)
        else:
            errors += 1

    started = time.monotonic()
    tasks = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for index in range(count):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, session)))
        await asyncio.gather(*tasks)
    result = summary(latencies, errors, seconds)
    result["offered_msgs_per_s"] = rate
    return result


async def tracker_length(server: Server, events: int, turns: int) -> dict[str, Any]:
    """Latency of `turns` messages for a person whose current session holds `events` events."""
    sender = f"len{events}-{uuid.uuid4().hex[:8]}"
    async with aiohttp.ClientSession() as session:
        await send(session, server.url, sender, *reversed(server.messages[0]))
        triplet = [
            {"event": "user", "text": "hola", "parse_data": {"intent": {"name": "greet", "confidence": 1.0},
                                                              "entities": []}},
            {"event": "bot", "text": "hola"},
            {"event": "action", "name": "action_listen"},
        ]
        filler = [dict(e, timestamp=time.time()) for _ in range(max(0, events - 5) // 3) for e in triplet]
        async with session.post(f"{server.url}/conversations/{sender}/tracker/events?token={TOKEN}",
                                json=filler) as reply:
            reply.raise_for_status()
        latencies = []
        for index in range(turns):
            language, text = server.messages[1 + index % (len(server.messages) - 1)]
            ok, latency = await send(session, server.url, sender, text, language)
            if ok:
                latencies.append(latency * 1000)
        async with session.get(f"{server.url}/conversations/{sender}/tracker?token={TOKEN}") as reply:
            stored = len((await reply.json())["events"])
    return {"events_before": events, "events_after": stored, "answered": len(latencies),
            "p50_ms": round(statistics.median(latencies), 1) if latencies else None}


def measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    print(f"bench: {server.name}: cold start {server.cold_start_s}s; measuring ...", flush=True)
    result: dict[str, Any] = {"cold_start_s": server.cold_start_s}
    asyncio.run(closed_loop(server, 4, 5))  # warm-up
    result["saturation"] = asyncio.run(closed_loop(server, args.people, args.seconds))
    result["open_loop"] = [asyncio.run(open_loop(server, rate, args.seconds)) for rate in args.rates]
    result["tracker_length"] = [asyncio.run(tracker_length(server, n, args.turns)) for n in (10, 500)]
    result["rasa_peak_rss_mb"] = server.peak_rss_mb("rasa")
    result["actions_peak_rss_mb"] = server.peak_rss_mb("actions")
    print(f"bench: {server.name}: {json.dumps(result['saturation'])}", flush=True)
    return result


def headline(ours: dict[str, Any], bare: dict[str, Any] | None) -> dict[str, Any]:
    at_10 = next((r for r in ours["open_loop"] if r["offered_msgs_per_s"] == 10), None)
    short, long = (r["p50_ms"] for r in ours["tracker_length"])
    errors = ours["saturation"]["errors"] + sum(r["errors"] for r in ours["open_loop"])
    return {
        "saturation_msgs_per_s": ours["saturation"]["msgs_per_s"],
        "bare_rasa_saturation_msgs_per_s": bare["saturation"]["msgs_per_s"] if bare else None,
        "p95_ms_at_10_msgs_per_s": at_10["p95_ms"] if at_10 else None,
        "latency_ratio_500_vs_10_events": round(long / short, 2) if short and long else None,
        "rasa_peak_rss_mb": ours["rasa_peak_rss_mb"],
        "actions_peak_rss_mb": ours["actions_peak_rss_mb"],
        "cold_start_s": ours["cold_start_s"],
        "errors": errors,
    }


TARGETS = {
    "saturation_msgs_per_s": ">= 40 and >= 3x bare Rasa",
    "p95_ms_at_10_msgs_per_s": "<= 150, zero errors",
    "latency_ratio_500_vs_10_events": "<= 1.2",
    "rasa_peak_rss_mb": "<= 1000",
    "actions_peak_rss_mb": "<= 200",
    "cold_start_s": "<= 30",
    "errors": "0",
}


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Serving benchmark", "",
             f"Run {report['run']['date']} with `make bench-serving` on {report['run']['cpus']} CPUs "
             f"(load average at start {report['run']['loadavg']}); REST channel, one Rasa server each. "
             "Ours: production profile (PostgreSQL tracker store, Redis lock store, action server with "
             "PostgreSQL). Bare Rasa: `rasa init` project, default config, in-memory tracker store, no actions.",
             "", "| figure | ours | bare Rasa | target |", "|---|---|---|---|"]
    bare = report.get("bare_rasa") or {}
    bare_head = headline(bare, None) if bare else {}
    for key, target in TARGETS.items():
        lines.append(f"| {key} | {report[key]} | {bare_head.get(key, '')} | {target} |")
    lines += ["", "## Open loop", "", "| system | offered msg/s | answered msg/s | p50 ms | p95 ms | p99 ms | errors |",
              "|---|---|---|---|---|---|---|"]
    for name in ("ours", "bare_rasa"):
        for r in (report.get(name) or {}).get("open_loop", []):
            lines.append(f"| {name} | {r['offered_msgs_per_s']} | {r['msgs_per_s']} | {r['p50_ms']} | "
                         f"{r['p95_ms']} | {r['p99_ms']} | {r['errors']} |")
    lines += ["", "## Saturation (closed loop) and tracker length", "",
              "| system | msg/s | p50 ms | p95 ms | errors | p50 ms at 10 events | p50 ms at 500 events |",
              "|---|---|---|---|---|---|---|"]
    for name in ("ours", "bare_rasa"):
        result = report.get(name)
        if result:
            s, (short, long) = result["saturation"], result["tracker_length"]
            lines.append(f"| {name} | {s['msgs_per_s']} | {s['p50_ms']} | {s['p95_ms']} | {s['errors']} | "
                         f"{short['p50_ms']} | {long['p50_ms']} |")
    lines += ["", "![latency against load](bench.png)", ""]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name, colour in (("ours", "tab:blue"), ("bare_rasa", "tab:orange")):
        runs = (report.get(name) or {}).get("open_loop", [])
        if not runs:
            continue
        rates = [r["offered_msgs_per_s"] for r in runs]
        axis.plot(rates, [r["p50_ms"] for r in runs], "o-", color=colour, label=f"{name} p50")
        axis.plot(rates, [r["p95_ms"] for r in runs], "s--", color=colour, label=f"{name} p95")
    axis.set_xlabel("offered load (messages/s, open loop)")
    axis.set_ylabel("latency (ms)")
    axis.set_yscale("log")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    axis.set_title("Latency against load: ours vs bare Rasa")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="duration of each load run")
    parser.add_argument("--people", type=int, default=16, help="simulated people in the closed loop")
    parser.add_argument("--rates", type=float, nargs="+", default=[2, 5, 10, 20], help="open-loop rates")
    parser.add_argument("--turns", type=int, default=20, help="messages per tracker-length probe")
    parser.add_argument("--skip-bare", action="store_true", help="measure only ours")
    parser.add_argument("--keep", action="store_true", help="keep the logs in the temporary folder")
    args = parser.parse_args(argv)

    from devtools.train import ensure_model

    model = ensure_model(quiet=True)
    workdir = Path(tempfile.mkdtemp(prefix="oss-bench-"))
    report: dict[str, Any] = {"run": {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                      "cpus": os.cpu_count(), "loadavg": round(os.getloadavg()[0], 2),
                                      "seconds_per_run": args.seconds, "people": args.people}}
    pg, redis = PostgresServer(), RedisServer()
    pg.start()
    redis.start()
    try:
        ours = start_ours(model, workdir, pg, redis)
        try:
            report["ours"] = measure(ours, args)
        finally:
            ours.stop()
        if not args.skip_bare:
            bare = start_bare(bare_model(workdir), workdir)
            try:
                report["bare_rasa"] = measure(bare, args)
            finally:
                bare.stop()
    finally:
        pg.remove()
        redis.remove()
    report.update(headline(report["ours"], report.get("bare_rasa")))
    report["error_kinds"] = ERROR_KINDS
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    (REPORTS / "bench.md").write_text(markdown(report))
    plot(report, REPORTS / "bench.png")
    print(markdown(report))
    if args.keep:
        print(f"bench: logs in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
